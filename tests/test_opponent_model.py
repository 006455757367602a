"""The opponent model of LOLA-OM: its loss, its fit, its diagnostics."""

from __future__ import annotations

import numpy as np
import torch

import coin_game_env
from lola_agents.fixed import RandomMatrixAgent, TitForTat
from lola_agents.learners.opponent_model import (
    LOLAOMAgent,
    OpponentModel,
    OpponentModelSchedule,
    bernoulli_log_pi,
    fit_opponent_model,
    opponent_model_loss,
    shaping_agreement,
    visited_kl,
)
from lola_agents.learners.pg import FixedTabularAgent
from lola_agents.policies.tabular import TabularPolicy, matrix_states
from lola_agents.rollout import BaseAgent, collect
from lola_agents.trainer import train

# lr 0.1 on the log-likelihood of whole 150-step trajectories (the earlier loss) is lr 15 on
# the per-action mean: the same SGD steps, so the checks below keep their old strength.
TRAJECTORY_SUM_LR_AT_150 = 0.1 * 150


def _tft_batch(num_envs: int = 256, steps: int = 150):
    env = coin_game_env.make_vec("ipd_v0", num_envs, seed=0, max_cycles=steps)
    _, tft_batch = collect(env, [RandomMatrixAgent(seed=1), TitForTat(seed=2)], steps)
    return tft_batch


def test_opponent_model_recovers_tit_for_tat_from_its_actions():
    tft_batch = _tft_batch()
    model = TabularPolicy(logits=torch.zeros(5))
    optimizer = torch.optim.SGD(model.parameters(), lr=TRAJECTORY_SUM_LR_AT_150)
    nll = fit_opponent_model(model, optimizer, tft_batch.obs, tft_batch.actions, steps=300)
    tft_table = TitForTat().p_action0_by_obs  # [CC, CD, DC, DD, start] = [1, 0, 1, 0, 1]
    assert np.abs(model.prob_action0() - tft_table).max() < 0.05
    assert nll < 0.05


def test_lola_om_fits_its_model_against_tft_at_the_trajectory_sum_step():
    agent = LOLAOMAgent(seed=0, om_lr=TRAJECTORY_SUM_LR_AT_150)
    train("ipd_v0", agent, TitForTat(seed=1), updates=1, num_envs=256, seed=0, progress=False)
    assert agent.model_fits == 1
    # 50 SGD steps on the first batch: the visited states already read as TFT.
    table = agent.opponent_model.prob_action0()
    assert table[0] > 0.9 and table[1] < 0.1 and table[3] < 0.1


def test_the_loss_scale_does_not_depend_on_the_episode_length():
    """The same policy's actions in 50- and 150-step episodes: the loss and its gradient at
    any model are the same statistic (equal up to sampling noise), and the trajectory sum
    would be 3x apart."""
    true_logits = torch.tensor([1.5, -1.0, 0.5, -0.5, 0.8])
    model_logits = torch.tensor([0.3, 0.2, -0.4, 0.1, 0.0], requires_grad=True)
    losses, grads = [], []
    for steps, games in ((50, 3000), (150, 1000)):  # the same number of actions
        env = coin_game_env.make_vec("ipd_v0", games, seed=3, max_cycles=steps)
        rng = np.random.default_rng(4)
        _, batch = collect(env, [FixedTabularAgent(true_logits * 0, rng), FixedTabularAgent(true_logits, rng)],
                           steps)
        loss = opponent_model_loss(TabularPolicy(logits=torch.zeros(5)).log_prob(
            matrix_states(batch.obs), batch.actions, logits=model_logits))
        (grad,) = torch.autograd.grad(loss, model_logits)
        losses.append(float(loss.detach()))
        grads.append(grad)
    assert abs(losses[0] - losses[1]) < 0.01 * losses[1]
    # the start state holds 3x more of the actions in the shorter episodes; every other
    # state's share of the actions is about the same, and so is its gradient
    assert torch.allclose(grads[0][:4], grads[1][:4], atol=0.004)
    # the sum over the trajectory (the earlier loss) is T times the per-action mean
    assert 150 * losses[1] > 2.9 * 50 * losses[0]


def test_the_schedule_takes_first_steps_then_steps_and_can_refit_from_scratch():
    batch = _tft_batch(64)
    states = matrix_states(batch.obs)
    for warm, expected_second in ((True, 1), (False, 5)):
        module = TabularPolicy(logits=torch.zeros(5))
        model = OpponentModel(module, OpponentModelSchedule(lr=1.0, first_steps=5, steps=1, warm_start=warm))
        assert model.schedule.steps_at(0) == 5 and model.schedule.steps_at(1) == expected_second
        model.fit(lambda m=module: m.log_prob(states, batch.actions))
        first = module.logits.detach().clone()
        model.fit(lambda m=module: m.log_prob(states, batch.actions))
        if warm:
            assert not torch.equal(module.logits.detach(), first)
        else:  # refit from uniform on the same data: the same result
            assert torch.equal(module.logits.detach(), first)


# --------------------------------------------------------------------------- recovery and diagnostics
# Two generic memory-1 policies (order [CC, CD, DC, DD, start]), as in tests/test_pg.py.
THETA = torch.tensor([[1.0, -0.5, 0.5, -1.0, 0.8], [0.5, -1.0, 1.0, 0.0, 1.2]])


def _fit(batch, lr: float = 5.0, steps: int = 300) -> torch.Tensor:
    """Fit a fresh memory-1 model to ``batch``'s actions; its logits ``[5]``."""
    module = TabularPolicy(logits=torch.zeros(5))
    states = matrix_states(batch.obs)
    OpponentModel(module, OpponentModelSchedule(lr=lr, first_steps=steps)).fit(
        lambda: module.log_prob(states, batch.actions))
    return module.logits.detach()


def _kl_on_visits(true_logits: torch.Tensor, model_logits: torch.Tensor, batch) -> float:
    states = matrix_states(batch.obs)
    return visited_kl(bernoulli_log_pi(true_logits[states]), bernoulli_log_pi(model_logits[states]))


def test_fitted_model_recovers_tit_for_tat_and_a_random_table_to_a_stated_kl():
    """Against a uniformly random player every state is visited. Stated bounds, nats per
    visited step: TFT (deterministic) < 0.02; a random table < 0.002 (256 games: the
    sampling error of each state's frequency is what is left)."""
    tft = TitForTat()
    tft_logits = torch.logit(torch.as_tensor(tft.p_action0_by_obs).clamp(1e-9, 1 - 1e-9)).float()
    batch = _tft_batch(256)
    assert _kl_on_visits(tft_logits, torch.zeros(5), batch) > 0.5  # the uniform start is far off
    assert _kl_on_visits(tft_logits, _fit(batch), batch) < 0.02

    table = torch.randn(5, generator=torch.Generator().manual_seed(7))
    env = coin_game_env.make_vec("ipd_v0", 256, seed=1)
    _, batch = collect(env, [RandomMatrixAgent(seed=2), FixedTabularAgent(table, seed=3)], 150)
    assert _kl_on_visits(table, torch.zeros(5), batch) > 0.05
    assert _kl_on_visits(table, _fit(batch), batch) < 0.002


def test_model_based_shaping_term_converges_to_the_true_parameter_term():
    """LOLA-PG's shaping term computed with a model fitted to the batch vs with the
    opponent's true logits, on the same batch: the gap shrinks as the batch grows."""
    from lola_agents.learners.pg import lola_bundle

    def gap(num_envs: int, seed: int) -> tuple[float, dict[str, float]]:
        env = coin_game_env.make_vec("ipd_v0", num_envs, seed=seed)
        rng = np.random.default_rng(seed)
        mine, theirs = collect(env, [FixedTabularAgent(THETA[0], rng), FixedTabularAgent(THETA[1], rng)], 150)
        model = _fit(theirs)
        terms = [lola_bundle(THETA[0], opponent, mine, theirs, 0.96).shaping(0)["logits"]
                 for opponent in (model, THETA[1])]
        return float((terms[0] - terms[1]).norm() / terms[1].norm()), shaping_agreement(*terms)

    small = np.mean([gap(64, seed)[0] for seed in range(3)])
    large, agreement = gap(2048, 10)
    assert large < 0.5 * small, (small, large)
    assert large < 0.1 and agreement["shaping_cosine"] > 0.99
    assert abs(agreement["shaping_norm_ratio"] - 1) < 0.1


def test_both_lola_om_learners_log_diagnostics_and_never_use_the_truth_to_update():
    from lola_agents.learners.lola import LOLAAgent
    from lola_agents.learners.pg import LOLAPGAgent

    runs = []
    for diagnostics in (True, False):
        om = LOLAOMAgent(seed=0, om_lr=TRAJECTORY_SUM_LR_AT_150)
        om.log_model_diagnostics = diagnostics
        result = train("ipd_v0", om, LOLAPGAgent(seed=1), updates=2, num_envs=128, seed=0, progress=False)
        runs.append((om.policy.logits.detach().clone(), result.history[-1]))
    assert torch.equal(runs[0][0], runs[1][0])  # the same update with or without the truth read
    logs = runs[0][1]
    assert 0 <= logs["agent0/model_kl"] < 1 and -1 <= logs["agent0/shaping_cosine"] <= 1
    assert logs["agent0/shaping_norm_ratio"] > 0 and "agent0/model_kl" not in runs[1][1]

    finals = []
    for diagnostics in (True, False):
        om = LOLAAgent(network="tabular", num_actions=2, opponent_model=True, lr=1.0, seed=0)
        om.log_model_diagnostics = diagnostics
        result = train("ipd_v0", om, LOLAAgent(network="tabular", num_actions=2, lr=1.0, seed=1),
                       updates=2, num_envs=128, seed=0, progress=False)
        finals.append(om.policy.logits.detach().clone())
        if diagnostics:
            logs = result.history[-1]
            assert logs["agent0/model_kl"] >= 0 and np.isfinite(logs["agent0/shaping_cosine"])
    assert torch.equal(finals[0], finals[1])
    # against an opponent without readable parameters: no diagnostics, the update still runs
    class Opaque(BaseAgent):  # plays at random; exposes no parameters
        def __init__(self) -> None:
            self.random = RandomMatrixAgent(seed=1)

        def act(self, obs, state, episode_starts):
            return self.random.act(obs, state, episode_starts)

    result = train("ipd_v0", LOLAOMAgent(seed=0), Opaque(), updates=1, num_envs=64, seed=0, progress=False)
    assert "agent0/model_kl" not in result.history[-1] and "agent0/model_nll" in result.history[-1]
