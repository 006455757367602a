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
    fit_opponent_model,
    opponent_model_loss,
)
from lola_agents.learners.pg import FixedTabularAgent
from lola_agents.policies.tabular import TabularPolicy, matrix_states
from lola_agents.rollout import collect
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
