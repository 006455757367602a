"""Sampled estimators against the exact gradients (lola_agents.exact), the opponent model,
and the sampled learners as either player against other agents of the rollout interface."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import coin_game_env
from lola_agents.dice import LOLADiCEAgent, LOLADiCEConfig
from lola_agents.estimators import dice_objective, episode_cumsum, episode_discounts, returns_to_go
from lola_agents.exact import GradientBundle, iterated_game_values, make_game
from lola_agents.fixed import AlwaysDefect, TitForTat
from lola_agents.opponent_model import LOLAOMAgent
from lola_agents.pg import (
    FixedTabularAgent,
    LOLAPGAgent,
    LOLAPGConfig,
    NaivePGAgent,
    sampled_lola_terms,
)
from lola_agents.policies import memory1_log_prob
from lola_agents.rollout import collect
from lola_agents.trainer import train

GAMMA = 0.96
# Two generic memory-1 policies (order [CC, CD, DC, DD, start]); gradients of every term are sizeable.
THETA = torch.tensor([[1.0, -0.5, 0.5, -1.0, 0.8], [0.5, -1.0, 1.0, 0.0, 1.2]])


def _sample(num_envs: int, seed: int, theta: torch.Tensor = THETA, steps: int = 150):
    env = coin_game_env.make_vec("ipd_v0", num_envs, seed=seed, max_cycles=steps)
    rng = np.random.default_rng(seed)
    return collect(env, [FixedTabularAgent(theta[0], rng), FixedTabularAgent(theta[1], rng)], steps)


def _exact_terms() -> dict[str, torch.Tensor]:
    grads = GradientBundle(make_game("ipd"), THETA[0:1].double(), THETA[1:2].double(), eta=1.0)
    # exact.py minimises L = -V: flip signs to gradients of V; the shaping term's two signs cancel.
    return {
        "naive": -grads.naive(0)[0].detach(),
        "own_value_wrt_opponent": -grads.gradient(0, 1)[0].detach(),
        "shaping": grads.shaping(0)[0].detach(),
    }


def _relative_error(estimate: torch.Tensor, exact: torch.Tensor) -> float:
    return float((estimate.double() - exact).norm() / exact.norm())


# --------------------------------------------------------------------------- helpers
def test_within_episode_sums_discounts_and_returns():
    starts = torch.tensor([[True], [False], [True], [False], [False]])
    values = torch.tensor([[1.0], [2.0], [3.0], [4.0], [5.0]])
    assert episode_cumsum(values, starts).flatten().tolist() == [1, 3, 3, 7, 12]
    assert torch.allclose(
        episode_discounts(starts, 0.5).flatten(), torch.tensor([1, 0.5, 1, 0.5, 0.25])
    )
    dones = torch.tensor([[False], [True], [False], [False], [True]])
    assert returns_to_go(values, dones, 0.5).flatten().tolist() == [2.0, 2.0, 6.25, 6.5, 5.0]


def test_log_prob_layout_matches_exact_module():
    # P(action 0 | obs) = sigmoid(logits[obs]) with obs CC=0, CD=1, DC=2, DD=3, start=4.
    logits = torch.tensor([0.0, 1.0, -1.0, 2.0, -2.0])
    obs = torch.arange(5)
    p0 = memory1_log_prob(logits, obs, torch.zeros(5, dtype=torch.int64)).exp()
    assert torch.allclose(p0, torch.sigmoid(logits))
    # TFT (cooperate at start, copy the opponent) vs AllD is worth -2.04 per step to TFT.
    tft = torch.tensor([[20.0, -20.0, 20.0, -20.0, 20.0]]).double()
    alld = torch.full((1, 5), -20.0).double()
    value, _ = iterated_game_values(tft, alld, "prisoners_dilemma", GAMMA)
    assert float(value) * (1 - GAMMA) == pytest.approx(-2.04, abs=1e-3)


# --------------------------------------------------------------------------- LOLA-PG vs exact
def _mean_errors(num_envs: int, seeds: list[int]) -> dict[str, float]:
    exact = _exact_terms()
    errors: dict[str, list[float]] = {key: [] for key in exact}
    for seed in seeds:
        batch_0, batch_1 = _sample(num_envs, seed)
        returns = returns_to_go(batch_0.rewards, batch_0.dones, GAMMA)
        baseline = returns.mean(dim=1, keepdim=True).expand_as(returns)  # per-step batch mean
        terms = sampled_lola_terms(THETA[0], THETA[1], batch_0, batch_1, GAMMA, baseline)
        for key in exact:
            errors[key].append(_relative_error(getattr(terms, key), exact[key]))
    return {key: float(np.mean(v)) for key, v in errors.items()}


def test_lola_pg_terms_converge_to_the_exact_gradient_and_lola_term():
    small = _mean_errors(256, seeds=list(range(8)))
    large = _mean_errors(4096, seeds=[100, 101])
    tolerance = {"naive": 0.10, "own_value_wrt_opponent": 0.05, "shaping": 0.15}
    for key, tol in tolerance.items():
        assert large[key] < 0.6 * small[key], (key, small[key], large[key])
        assert large[key] < tol, (key, large[key])


def test_naive_agent_direction_is_the_first_order_term():
    batch_0, batch_1 = _sample(512, seed=3)
    agent = NaivePGAgent(seed=0)
    with torch.no_grad():
        agent.policy.logits.copy_(THETA[0])
    agent._acting_logits = THETA[0].clone()
    baseline = torch.zeros_like(batch_0.rewards)
    direction, _ = agent.policy_direction(batch_0, batch_1, baseline)
    terms = sampled_lola_terms(THETA[0], THETA[1], batch_0, batch_1, GAMMA, baseline)
    assert torch.allclose(direction, terms.naive, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- DiCE vs exact
def _exact_lookahead_gradient(inner_lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact grad_1 V_1(theta_1, theta_2 + inner_lr grad_2 V_2) and plain grad_1 V_1."""
    theta_0 = THETA[0:1].double().requires_grad_(True)
    theta_1 = THETA[1:2].double().requires_grad_(True)
    _, value_1 = iterated_game_values(theta_0, theta_1, "prisoners_dilemma", GAMMA)
    (step,) = torch.autograd.grad(value_1.sum(), theta_1, create_graph=True)
    value_0_after, _ = iterated_game_values(
        theta_0, theta_1 + inner_lr * step, "prisoners_dilemma", GAMMA
    )
    (lookahead,) = torch.autograd.grad(value_0_after.sum(), theta_0)
    value_0, _ = iterated_game_values(theta_0, theta_1, "prisoners_dilemma", GAMMA)
    (naive,) = torch.autograd.grad(value_0.sum(), theta_0)
    return lookahead[0], naive[0]


def _dice_errors(
    num_envs: int, seeds: list[int], inner_lr: float, baseline: str
) -> tuple[float, float]:
    exact_lookahead, exact_naive = _exact_lookahead_gradient(inner_lr)
    lookahead_errors, naive_errors = [], []
    for seed in seeds:
        batch_0, batch_1 = _sample(num_envs, seed)
        config = LOLADiCEConfig(lookahead=1, inner_lr=inner_lr, seed=seed, baseline=baseline)
        agent = LOLADiCEAgent(config)
        with torch.no_grad():
            agent.policy.logits.copy_(THETA[0])
            # Baselines: each state's mean return-to-go in this batch (what the critics fit).
            for critic, batch in ((agent.critic, batch_0), (agent.opponent_critic, batch_1)):
                returns = returns_to_go(batch.rewards, batch.dones, GAMMA).flatten()
                states = batch.obs.flatten()
                totals = torch.zeros(5).index_add_(0, states, returns)
                critic.values.copy_(totals / torch.bincount(states, minlength=5).clamp(min=1))
        gradient = agent.lookahead_gradient(batch_0, batch_1, THETA[1])
        lookahead_errors.append(_relative_error(gradient, exact_lookahead))
        own = THETA[0].clone().requires_grad_(True)
        discounts = episode_discounts(batch_0.episode_starts, GAMMA)
        returns = returns_to_go(batch_0.rewards, batch_0.dones, GAMMA)
        objective = dice_objective(
            memory1_log_prob(own, batch_0.obs, batch_0.actions),
            memory1_log_prob(THETA[1], batch_1.obs, batch_1.actions),
            batch_0.rewards,
            discounts,
            batch_0.episode_starts,
            baseline=returns.mean(dim=1, keepdim=True).expand_as(returns),
        )
        # MagicBox is 1 in the forward pass: the objective is the sampled discounted return.
        sampled_return = float((discounts * batch_0.rewards).sum(0).mean())
        assert float(objective.detach()) == pytest.approx(sampled_return, rel=1e-5)
        (naive,) = torch.autograd.grad(objective, own)
        naive_errors.append(_relative_error(naive, exact_naive))
    return float(np.mean(lookahead_errors)), float(np.mean(naive_errors))


@pytest.mark.parametrize("baseline", ["critic", "batch_mean"])
def test_dice_gradients_converge_to_the_exact_lookahead_gradient(baseline):
    # A large inner step makes the look-ahead part clearly visible in the exact gradient.
    inner_lr = 0.3
    exact_lookahead, exact_naive = _exact_lookahead_gradient(inner_lr)
    assert _relative_error(exact_lookahead, exact_naive) > 0.5
    small = _dice_errors(256, seeds=list(range(6)), inner_lr=inner_lr, baseline=baseline)
    large = _dice_errors(4096, seeds=[200, 201], inner_lr=inner_lr, baseline=baseline)
    for name, s, l, tol in (("lookahead", small[0], large[0], 0.25), ("naive", small[1], large[1], 0.10)):
        assert l < 0.6 * s, (name, s, l)
        assert l < tol, (name, l)


# (opponent-model tests: tests/test_opponent_model.py)


# --------------------------------------------------------------------------- pairing
@pytest.mark.parametrize("seat", [0, 1])
def test_learners_play_either_seat_against_fixed_strategies(seat):
    learners = [
        LOLAPGAgent(seed=1),  # reads TFT's fixed table as its opponent's parameters
        LOLAOMAgent(seed=2),
        LOLADiCEAgent(seed=3, lookahead=1, opponent_model=True, sim_envs=32),
    ]
    for learner in learners:
        opponent = TitForTat(seed=5)
        pair = [learner, opponent] if seat == 0 else [opponent, learner]
        before = learner.policy.logits.detach().clone()
        result = train("ipd_v0", *pair, updates=2, num_envs=64, seed=0, progress=False)
        assert not torch.equal(learner.policy.logits.detach(), before)
        assert np.isfinite(result.history[-1][f"reward_{seat}"])


def test_learners_against_an_exact_learners_policy_and_ippo():
    from lola_agents import exact
    from lola_agents.ppo import PPOAgent

    history = exact.train("ipd", "LOLA", "LOLA", exact.ExactSettings(runs=1, updates=5))
    exact_policy = FixedTabularAgent(history.final_params[0, 0], seed=0)
    lola = LOLAPGAgent(seed=0)
    result = train("ipd_v0", exact_policy, lola, updates=2, num_envs=64, seed=0, progress=False)
    assert torch.equal(lola.opponent.params(), exact_policy.acting_params())  # reads the table
    assert np.isfinite(result.history[-1]["reward_1"])
    ippo = PPOAgent.for_env("ipd_v0", 64)
    om = LOLAOMAgent(seed=0)
    result = train("ipd_v0", ippo, om, updates=1, num_envs=64, seed=0, progress=False)
    assert om.model_fits == 1 and np.isfinite(result.history[-1]["agent1/model_nll"])


def test_lola_pg_refuses_an_opponent_whose_parameters_it_cannot_read():
    class Opaque:
        pass

    with pytest.raises(TypeError, match="use LOLA-OM"):
        LOLAPGAgent().set_opponent(Opaque())


def test_lola_dice_against_always_defect_learns_to_defect():
    learner = LOLADiCEAgent(seed=0, lookahead=1, opponent_model=True, sim_envs=32, outer_lr=0.5)
    result = train(
        "ipd_v0", AlwaysDefect(seed=0), learner, updates=15, num_envs=64, seed=0, progress=False
    )
    # Against AllD every cooperation costs 2 per step: the learner (player_1) stops cooperating.
    assert result.history[0]["reward_1"] < -2.3
    assert result.history[-1]["reward_1"] > -2.1


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        LOLAPGConfig(lr=-1.0)
    with pytest.raises(ValueError, match="lookahead must be an integer >= 0"):
        LOLADiCEConfig(lookahead=-1)
    with pytest.raises(ValueError, match="baseline must be one of"):
        LOLADiCEConfig(baseline="median")
    with pytest.raises(KeyError, match="unknown env id"):
        LOLADiCEConfig(game="nope")


def test_save_load_round_trip(tmp_path):
    for agent in (LOLAPGAgent(seed=4), LOLAOMAgent(seed=5), LOLADiCEAgent(seed=6)):
        train("ipd_v0", agent, TitForTat(seed=0), updates=1, num_envs=32, seed=0, progress=False)
        path = tmp_path / type(agent).__name__
        agent.save(path)
        loaded = type(agent).load(path)
        assert torch.equal(loaded.policy.logits, agent.policy.logits)
        assert loaded.cfg == agent.cfg
        assert loaded.rng.bit_generator.state == agent.rng.bit_generator.state
