"""LOQA (lola_agents.learners.loqa): the shaping term against hand-computed cases, the agent's
update, checkpoints, and a resumed self-play run against past selves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import coin_game_env
from lola_agents.agents import load_agent, make_agent
from lola_agents.learners.loqa import (
    PRESETS,
    LOQAAgent,
    LOQAConfig,
    LOQAPolicy,
    loqa_players,
    loqa_shaping_objective,
    parse_overrides,
    preset,
    train_loqa,
)
from lola_agents.rollout import collect

TINY = {"actor_hidden": 8, "critic_hidden": 8}
GAMES, STEPS = 8, 6


def _policy_log_probs(theta: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """A tabular policy with its own logits per step: ``theta [T, N, A]`` -> ``log pi(a_t)`` ``[T, N]``."""
    return torch.log_softmax(theta, -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)


@pytest.mark.parametrize("my_advantage_0", [0.8, -0.8])
def test_loqa_term_of_a_two_step_game_matches_the_hand_computed_gradient(my_advantage_0: float) -> None:
    """Two steps, one game, two actions. Only Q^_0 = r2_0 + gamma G^_1 depends on my policy,
    through my action at step 1: dJ/dtheta_1 = (A_0 / 2) (1 - pi~(b_0)) / tau * gamma (r2_1 - V_1)
    * (onehot(a_1) - pi_1). After the opponent helped me (A_0 > 0) LOQA makes my later action
    that paid the opponent more than expected more likely (reciprocity); after it hurt me
    (A_0 < 0), less likely (retaliation)."""
    gamma, decay, tau = 0.9, 0.5, 0.7
    theta = torch.tensor([[[0.3, -0.2]], [[0.1, 0.4]]], requires_grad=True)  # [T=2, N=1, A=2]
    my_actions = torch.tensor([[1], [0]])
    their_actions = torch.tensor([[0], [1]])
    their_q = torch.tensor([[[0.5, 0.2]], [[0.4, -0.3]]])
    their_rewards = torch.tensor([[1.0], [0.6]])
    advantages = torch.tensor([[my_advantage_0], [-0.3]])
    objective = loqa_shaping_objective(_policy_log_probs(theta, my_actions), advantages, their_q, their_actions,
                                       their_rewards, gamma, decay, tau)
    (grad,) = torch.autograd.grad(objective, theta)

    # By hand (floats, not the function's code path).
    q_hat_0 = 1.0 + gamma * 0.6  # value of Q^_0 = G2_0
    q0 = [q_hat_0, 0.2]  # the taken action b_0 = 0 gets the Monte-Carlo return
    pi_tilde_b0 = np.exp(q0[0] / tau) / (np.exp(q0[0] / tau) + np.exp(q0[1] / tau))
    p1 = np.exp(np.array([0.4, -0.3]) / tau)
    p1 /= p1.sum()
    v1 = float(p1 @ np.array([0.4, -0.3]))  # baseline V_2(h_1)
    pi_1 = np.exp([0.1, 0.4]) / np.exp([0.1, 0.4]).sum()
    scale = (my_advantage_0 / 2) * (1 - pi_tilde_b0) / tau * gamma * (0.6 - v1)
    expected_step_1 = scale * (np.array([1.0, 0.0]) - pi_1)
    np.testing.assert_allclose(grad[1, 0].numpy(), expected_step_1, rtol=1e-5)
    np.testing.assert_allclose(grad[0].numpy(), 0.0, atol=1e-7)  # my step-0 action is simultaneous with b_0
    # The opponent earned more than expected after my action a_1 = 0 (0.6 > V_1):
    assert 0.6 > v1
    assert np.sign(grad[1, 0, 0].item()) == np.sign(my_advantage_0)


def test_loqa_term_gradient_matches_finite_differences_of_an_independent_formula() -> None:
    """The surrogate's gradient equals the derivative of the function it linearises,
    J(theta) = mean_t A_t log softmax(q~_t(theta) / tau)[b_t] with
    Q^_t(theta) = r2_t + gamma [G_{t+1} + sum_{k>t} (gamma lambda)^(k-t-1) (G_k - V_k)(l_k(theta) - l_k(theta_0))],
    written here as plain float64 loops and differentiated by central differences."""
    rng = np.random.default_rng(0)
    steps, games, actions = 4, 2, 3
    gamma, decay, tau = 0.96, 0.9, 1.3
    theta0 = rng.normal(size=(steps, games, actions))
    my_actions = rng.integers(actions, size=(steps, games))
    their_actions = rng.integers(actions, size=(steps, games))
    their_q = rng.normal(size=(steps, games, actions))
    their_rewards = rng.normal(size=(steps, games))
    advantages = rng.normal(size=(steps, games))

    def log_pi(theta: np.ndarray, t: int, n: int) -> float:
        z = theta[t, n]
        return float(z[my_actions[t, n]] - np.log(np.exp(z).sum()))

    def linearised(theta: np.ndarray) -> float:
        total = 0.0
        for n in range(games):
            returns = np.zeros(steps)
            running = 0.0
            for t in reversed(range(steps)):
                running = their_rewards[t, n] + gamma * running
                returns[t] = running
            q = their_q[:, n] / tau
            baseline = [float((np.exp(q[t]) / np.exp(q[t]).sum()) @ their_q[t, n]) for t in range(steps)]
            for t in range(steps):
                q_hat = their_rewards[t, n]
                if t + 1 < steps:
                    dependency = sum((gamma * decay) ** (k - t - 1) * (returns[k] - baseline[k])
                                     * (log_pi(theta, k, n) - log_pi(theta0, k, n)) for k in range(t + 1, steps))
                    q_hat += gamma * (returns[t + 1] + dependency)
                row = their_q[t, n].copy()
                row[their_actions[t, n]] = q_hat
                row = row / tau
                total += advantages[t, n] * (row[their_actions[t, n]] - np.log(np.exp(row).sum()))
        return total / (steps * games)

    numeric = np.zeros_like(theta0)
    eps = 1e-6
    for index in np.ndindex(theta0.shape):
        up, down = theta0.copy(), theta0.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = (linearised(up) - linearised(down)) / (2 * eps)

    theta = torch.tensor(theta0, requires_grad=True)
    objective = loqa_shaping_objective(
        _policy_log_probs(theta, torch.as_tensor(my_actions)), torch.as_tensor(advantages),
        torch.as_tensor(their_q), torch.as_tensor(their_actions), torch.as_tensor(their_rewards), gamma, decay, tau)
    (grad,) = torch.autograd.grad(objective, theta)
    np.testing.assert_allclose(grad.numpy(), numeric, rtol=1e-5, atol=1e-8)
    assert np.abs(numeric).max() > 1e-3  # not trivially zero
    # The objective's value is the opponent's log-likelihood under the modelled policy at theta_0.
    assert float(objective.detach()) == pytest.approx(linearised(theta0), rel=1e-9)


def _coin_batches(agents: list, seed: int = 0) -> list:
    venv = coin_game_env.make_vec("coin_game_v0", GAMES, seed=seed, max_cycles=STEPS)
    return collect(venv, agents, STEPS)


def _policy_gradients(cfg: LOQAConfig, batches: list, weights: tuple[float, ...]) -> dict[float, list]:
    """The descent direction (``.grad``) of one update's policy weights at each shaping weight."""
    grads = {}
    for weight in weights:
        agent = LOQAAgent(cfg, shaping_weight=weight)
        agent.learn(batches[0], batches[1])
        grads[weight] = [p.grad.clone() for p in agent.policy.parameters()]
    return grads


def test_agent_update_ascends_its_objective_plus_the_loqa_term_of_the_opponents_view() -> None:
    """The agent's policy gradient is the actor-critic gradient plus shaping_weight times the
    LOQA term computed from the opponent's own (seat-swapped) view and its critic."""
    cfg = LOQAConfig(**TINY, max_grad_norm=0.0, seed=3)
    agents = [LOQAAgent(cfg), LOQAAgent(cfg, seed=4)]
    batches = _coin_batches(agents)
    grads = _policy_gradients(cfg, batches, (0.0, 2.0))
    # The LOQA term on the same inputs, rebuilt here from the public pieces.
    agent = LOQAAgent(cfg)
    starts = torch.cat([batches[0].episode_starts, torch.zeros(1, GAMES, dtype=torch.bool)])
    seq = agent._sequence(batches[0])
    their_seq = agent._sequence(batches[1])
    logits = agent.policy(agent.policy.encode(seq, starts), starts)
    with torch.no_grad():
        my_q = agent.q_critic(agent.q_critic.encode(seq, starts), starts)
        values = (torch.softmax(logits, -1) * my_q).sum(-1)
        advantages = batches[0].rewards + cfg.gamma * torch.cat([values[1:-1], values[-1:]]) - values[:-1]
        their_q = agent.opponent_q_critic(agent.opponent_q_critic.encode(their_seq, starts), starts)[:-1]
    log_probs = torch.log_softmax(logits[:-1], -1).gather(-1, batches[0].actions.unsqueeze(-1)).squeeze(-1)
    term = loqa_shaping_objective(log_probs, advantages, their_q, batches[1].actions, batches[1].rewards,
                                  cfg.gamma, cfg.dice_decay, cfg.opponent_temperature)
    shaping = torch.autograd.grad(term, list(agent.policy.parameters()), allow_unused=True)
    for with_term, without, s in zip(grads[2.0], grads[0.0], shaping, strict=True):
        expected = torch.zeros_like(with_term) if s is None else -2.0 * s  # .grad is the descent direction
        torch.testing.assert_close(with_term - without, expected, rtol=1e-4, atol=1e-6)
    assert any(s is not None and float(s.abs().max()) > 0 for s in shaping)


def test_advantage_alignment_adds_my_discounted_past_advantages_times_the_opponents_advantage() -> None:
    """With ``shaping="advantage_alignment"`` the policy gradient is the actor-critic gradient plus
    beta times ``grad mean_{t,n} (sum_{k<t} gamma^(t-k) A_1,k) A_2,t log pi_1(a_t)``, with both TD(0)
    advantages from the two Q-value critics (the sum written out here as a double loop)."""
    cfg = LOQAConfig(**TINY, max_grad_norm=0.0, seed=3, shaping="advantage_alignment")
    batches = _coin_batches([LOQAAgent(cfg), LOQAAgent(cfg, seed=4)])
    grads = _policy_gradients(cfg, batches, (0.0, 2.0))
    agent = LOQAAgent(cfg)
    assert agent.name == "AdAlign-Q" and LOQAAgent(cfg, shaping_weight=0.0).name == "NL-AC"
    starts = torch.cat([batches[0].episode_starts, torch.zeros(1, GAMES, dtype=torch.bool)])
    seq, their_seq = agent._sequence(batches[0]), agent._sequence(batches[1])
    logits = agent.policy(agent.policy.encode(seq, starts), starts)
    with torch.no_grad():
        def td_advantages(q: torch.Tensor, probs: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
            values = (probs * q).sum(-1)  # the last step is cut by the time limit: bootstrap
            return rewards + cfg.gamma * values[1:] - values[:-1]

        mine = td_advantages(agent.q_critic(agent.q_critic.encode(seq, starts), starts),
                             torch.softmax(logits, -1), batches[0].rewards)
        their_q = agent.opponent_q_critic(agent.opponent_q_critic.encode(their_seq, starts), starts)
        theirs = td_advantages(their_q, torch.softmax(their_q, -1), batches[1].rewards)
        past = torch.zeros_like(mine)
        for t in range(STEPS):
            for k in range(t):
                past[t] += cfg.gamma ** (t - k) * mine[k]
    log_probs = torch.log_softmax(logits[:-1], -1).gather(-1, batches[0].actions.unsqueeze(-1)).squeeze(-1)
    term = (past * theirs * log_probs).mean()
    alignment = torch.autograd.grad(term, list(agent.policy.parameters()), allow_unused=True)
    for with_term, without, a in zip(grads[2.0], grads[0.0], alignment, strict=True):
        expected = torch.zeros_like(with_term) if a is None else -2.0 * a
        torch.testing.assert_close(with_term - without, expected, rtol=1e-4, atol=1e-6)
    assert any(a is not None and float(a.abs().max()) > 0 for a in alignment)
    with pytest.raises(ValueError, match="shaping must be one of"):
        LOQAConfig(shaping="lola")


def test_lola_policy_space_lookahead_on_the_q_model_matches_the_hand_derived_dice_term() -> None:
    """``shaping="lola_policy"``: the opponent, modelled as ``softmax(Q_2)``, takes the step
    ``eta A_2,t (e_b - pi_2,t)`` on its logits at every visited step; my direction adds
    ``-eta T N grad_1 S`` with S the mixed derivative of loaded DiCE written out by hand:
    ``S = -1/(NT) sum_{n,s} v_s.(e_b - pi_2)_s sum_{t>=s} A_2,t lambda^(t-s) D_{s,t}``, where
    ``D_{s,t} = log pi_1(a_t)`` for s < t and ``sum_{s'<=t} lambda^(t-s') log pi_1(a_s')`` for s = t,
    and ``v_s = -1/(NT) A_1,s (e_b - pi_2'(s))`` is my loss's gradient after the look-ahead."""
    eta = 0.7
    cfg = LOQAConfig(**TINY, max_grad_norm=0.0, seed=3, shaping="lola_policy")
    batches = _coin_batches([LOQAAgent(cfg), LOQAAgent(cfg, seed=4)])
    grads = _policy_gradients(cfg, batches, (0.0, eta))
    agent = LOQAAgent(cfg)
    assert agent.name == "LOLA-PS-Q"
    starts = torch.cat([batches[0].episode_starts, torch.zeros(1, GAMES, dtype=torch.bool)])
    seq, their_seq = agent._sequence(batches[0]), agent._sequence(batches[1])
    logits = agent.policy(agent.policy.encode(seq, starts), starts)
    with torch.no_grad():
        my_q = agent.q_critic(agent.q_critic.encode(seq, starts), starts)
        values = (torch.softmax(logits, -1) * my_q).sum(-1)
        mine = batches[0].rewards + cfg.gamma * values[1:] - values[:-1]
        their_q = agent.opponent_q_critic(agent.opponent_q_critic.encode(their_seq, starts), starts)
        their_values = (torch.softmax(their_q, -1) * their_q).sum(-1)
        theirs = batches[1].rewards + cfg.gamma * their_values[1:] - their_values[:-1]
        pi_2 = torch.softmax(their_q[:-1], -1)
        e_b = torch.nn.functional.one_hot(batches[1].actions, 4).float()
        pi_2_ahead = torch.softmax(their_q[:-1] + eta * theirs.unsqueeze(-1) * (e_b - pi_2), -1)
        v = -mine.unsqueeze(-1) * (e_b - pi_2_ahead) / (GAMES * STEPS)
        weight_s = (v * (e_b - pi_2)).sum(-1)  # [T, N]
    log_probs = torch.log_softmax(logits[:-1], -1).gather(-1, batches[0].actions.unsqueeze(-1)).squeeze(-1)
    lam = cfg.dice_decay
    total = torch.zeros(())
    for s in range(STEPS):
        for t in range(s, STEPS):
            if t > s:
                inner = log_probs[t]
            else:
                inner = sum(lam ** (t - k) * log_probs[k] for k in range(t + 1))
            total = total + (weight_s[s] * theirs[t] * lam ** (t - s) * inner).sum()
    surrogate = -total / (GAMES * STEPS)
    chi = torch.autograd.grad(surrogate, list(agent.policy.parameters()), allow_unused=True)
    for with_term, without, c in zip(grads[eta], grads[0.0], chi, strict=True):
        expected = torch.zeros_like(with_term) if c is None else -eta * STEPS * GAMES * c
        torch.testing.assert_close(with_term - without, expected, rtol=1e-4, atol=1e-7)
    assert any(c is not None and float(c.abs().max()) > 0 for c in chi)


@pytest.mark.parametrize("shaping", ["loqa", "advantage_alignment", "lola_policy"])
def test_shaping_starts_after_shaping_start_naive_updates(shaping: str) -> None:
    cfg = LOQAConfig(**TINY, seed=3, shaping=shaping)
    batches = _coin_batches([LOQAAgent(cfg), LOQAAgent(cfg, seed=4)])
    late, naive, shaped = (LOQAAgent(cfg, shaping_start=1), LOQAAgent(cfg, shaping_weight=0.0), LOQAAgent(cfg))
    steps = {}
    for name, agent in (("late", late), ("naive", naive), ("shaped", shaped)):
        agent.learn(batches[0], batches[1])
        steps[name] = [p.grad.clone() for p in agent.policy.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(steps["late"], steps["naive"], strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(steps["late"], steps["shaped"], strict=True))
    late.learn(batches[0], batches[1])  # update 2: the term is on (it differs from a naive second step)
    naive.learn(batches[0], batches[1])
    assert not all(torch.equal(p.grad, q.grad) for p, q in zip(late.policy.parameters(), naive.policy.parameters(),
                                                               strict=True))


def test_opponent_view_is_seat_swapped() -> None:
    agent = LOQAAgent(**TINY)
    batches = _coin_batches([agent, LOQAAgent(**TINY, seed=1)])
    mine, theirs = agent._sequence(batches[0]), agent._sequence(batches[1])
    # The opponent's canonical planes put the opponent first: my plane 0 is its plane 1.
    torch.testing.assert_close(mine[:, :, 0], theirs[:, :, 1])
    torch.testing.assert_close(mine[:, :, 2], theirs[:, :, 3])


def test_update_changes_weights_and_refuses_partial_episodes() -> None:
    agent = LOQAAgent(**TINY)
    before = {k: v.clone() for k, v in agent.state_dict()["policy"].items()}
    critic_before = {k: v.clone() for k, v in agent.q_target.state_dict().items()}
    batches = _coin_batches([agent, LOQAAgent(**TINY, seed=1)])
    logs = agent.learn(batches[0], batches[1])
    assert all(np.isfinite(v) for v in logs.values()) and 0 <= logs["own_coin_rate"] <= 1
    assert any(not torch.equal(v, agent.policy.state_dict()[k]) for k, v in before.items())
    assert any(not torch.equal(v, agent.q_target.state_dict()[k]) for k, v in critic_before.items())
    venv = coin_game_env.make_vec("coin_game_v0", GAMES, seed=0, max_cycles=STEPS)
    partial = collect(venv, [agent, LOQAAgent(**TINY, seed=1)], STEPS - 1)
    with pytest.raises(ValueError, match="whole episodes"):
        agent.learn(partial[0], partial[1])


def test_config_rejects_bad_values() -> None:
    for bad in ({"gamma": 1.0}, {"target_ema": -0.1}, {"shaping_start": -1}, {"num_actions": 3}, {"actor_layers_before_gru": 3},
                {"lr": 0.0}, {"dice_decay": 1.5}, {"opponent_temperature": 0.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            LOQAConfig(**bad)
    with pytest.raises(KeyError, match="unknown LOQA preset"):
        preset("nope")
    with pytest.raises(TypeError, match="no field"):
        preset("paper", lr_actor=1.0)


def test_command_line_overrides_parse_json_and_name_the_allowed_fields() -> None:
    assert parse_overrides(["shaping=advantage_alignment", "shaping_weight=0.5", 'shaping="loqa"']) == {
        "shaping": "loqa", "shaping_weight": 0.5}
    with pytest.raises(SystemExit, match="shaping_weight"):
        parse_overrides(["beta=1"])


def test_paper_preset_carries_the_published_settings() -> None:
    paper = PRESETS["paper"]
    cfg = paper.agent
    assert (paper.num_envs, paper.max_cycles, paper.updates) == (512, 50, 6000)
    assert (paper.past_self_share, paper.past_self_every, paper.past_self_size, paper.past_self_draws) == (
        1.0, 10, 10_000, None)
    assert (cfg.lr, cfg.critic_lr, cfg.entropy_coef, cfg.max_grad_norm, cfg.gamma) == (1e-3, 1e-2, 0.1, 1.0, 0.96)
    assert (cfg.actor_hidden, cfg.actor_layers_before_gru, cfg.critic_hidden, cfg.critic_layers_before_gru) == (
        128, 2, 64, 2)
    assert (cfg.target_ema, cfg.dice_decay, cfg.opponent_temperature, cfg.shaping_weight) == (0.99, 0.9, 1.0, 1.0)


def test_checkpoint_round_trip_through_load_agent(tmp_path) -> None:
    agent = make_agent("LOQA", "coin_game_v0", seed=2, **TINY)
    batches = _coin_batches([agent, LOQAAgent(**TINY, seed=1)])
    agent.learn(batches[0], batches[1])
    agent.save(tmp_path / "loqa")
    loaded = load_agent(str(tmp_path / "loqa"))
    assert type(loaded) is LOQAAgent and loaded.cfg == agent.cfg and loaded.updates == 1
    for key, value in agent.state_dict().items():
        if isinstance(value, dict) and key.endswith(("critic", "target", "policy")):
            for name, tensor in value.items():
                assert torch.equal(tensor, loaded.state_dict()[key][name]), (key, name)
    obs = coin_game_env.make_vec("coin_game_v0", 4, seed=0).reset()[0][:, 0]
    starts = np.ones(4, dtype=bool)
    a = agent.act(obs, None, starts)
    b = loaded.act(obs, None, starts)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])



def test_frozen_policy_acts_as_its_learner_keeps_only_the_actor_and_refuses_to_learn(tmp_path) -> None:
    agent = make_agent("LOQA", "coin_game_v0", seed=2, **TINY)
    batches = _coin_batches([agent, LOQAAgent(**TINY, seed=1)])
    agent.learn(batches[0], batches[1])
    agent.assign_seat(1)
    LOQAPolicy.of(agent).save(tmp_path / "frozen")
    agent.save(tmp_path / "learner")
    frozen = load_agent(str(tmp_path / "frozen"))
    assert type(frozen) is LOQAPolicy and frozen.cfg == agent.cfg and (frozen.updates, frozen.seat) == (1, 1)
    assert set(frozen.state_dict()) == {"policy", "generator", "updates", "seat"}
    size = (tmp_path / "frozen" / "state.pt").stat().st_size
    assert size < 0.5 * (tmp_path / "learner" / "state.pt").stat().st_size
    obs = coin_game_env.make_vec("coin_game_v0", 4, seed=0).reset()[0][:, 1]
    starts = np.ones(4, dtype=bool)
    state_a = state_b = None
    for _ in range(3):  # the recurrent state too: several steps
        a, logp_a, state_a = agent.act(obs, state_a, starts)
        b, logp_b, state_b = frozen.act(obs, state_b, starts)
        assert np.array_equal(a, b) and np.array_equal(logp_a, logp_b)
        starts = np.zeros(4, dtype=bool)
    with pytest.raises(TypeError, match="frozen actor"):
        frozen.learn(batches[0], batches[1])

def test_self_play_against_past_selves_resumes_bit_identically(tmp_path) -> None:
    setting = preset("paper", **TINY)
    setting = type(setting)(num_envs=GAMES, max_cycles=STEPS, updates=4, agent=setting.agent, past_self_share=0.5,
                            past_self_every=1, past_self_size=3, past_self_draws=2)
    straight = train_loqa(setting, seed=7, progress=False)
    train_loqa(setting, seed=7, updates=2, progress=False, log_dir=tmp_path, checkpoint_every=1)
    resumed = train_loqa(setting, seed=7, progress=False, log_dir=tmp_path, checkpoint_every=1, resume=True)
    assert resumed.resumed_from == 2
    assert straight.history == resumed.history
    for a, b in zip(straight.agents, resumed.agents, strict=True):
        sa, sb = a.state_dict(), b.state_dict()
        assert _equal_states(sa, sb)
    assert len(resumed.agents[1].past.pool) == 3


def _equal_states(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal_states(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_equal_states(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


def test_players_of_a_run_are_seeded_by_the_run_seed() -> None:
    setting = type(PRESETS["paper"])(num_envs=4, max_cycles=STEPS, updates=1, agent=LOQAConfig(**TINY))
    first, again, other = loqa_players(setting, 0), loqa_players(setting, 0), loqa_players(setting, 1)
    weights = [next(iter(p[0].policy.parameters())) for p in (first, again, other)]
    assert torch.equal(weights[0], weights[1]) and not torch.equal(weights[0], weights[2])


def test_gru_network_is_torch_gru_cell_and_acting_steps_match_the_sequence() -> None:
    from lola_agents.policies.gru import CoinGRU, steps_since_start

    torch.manual_seed(0)
    net = CoinGRU(3, 4, 4, hidden=6, layers_before_gru=2, time_input=True)
    x, h = torch.randn(5, 6), torch.randn(5, 6)
    torch.testing.assert_close(net._gru(x, h), net.core(x, h))
    starts = torch.zeros(7, 3, dtype=torch.bool)
    starts[0] = True
    starts[4, 1] = True  # a new episode in game 1
    assert steps_since_start(starts)[:, 1].tolist() == [0, 1, 2, 3, 0, 1, 2]
    obs = torch.rand(7, 3, 4, 3, 3)
    sequence = net(net.encode(obs, starts), starts)
    state = net.initial_state(3)
    for t in range(7):
        out, state = net.step(obs[t], state, starts[t])
        torch.testing.assert_close(out, sequence[t])


# --------------------------------------------------------------------------- evaluation of a trained run
def _tiny_run(tmp_path, updates: int = 2):
    from lola_agents.learners.loqa import LOQAPreset

    setting = LOQAPreset(num_envs=4, max_cycles=STEPS, updates=updates, agent=LOQAConfig(**TINY),
                         past_self_every=1, past_self_size=3, past_self_draws=2)
    result = train_loqa(setting, seed=3, progress=False, log_dir=tmp_path / "run", checkpoint_every=1)
    return setting, result


def test_evaluation_loads_the_learner_of_seat_0_and_plays_the_league_protocol(tmp_path) -> None:
    from lola_agents.learners.loqa_eval import (
        evaluate_loqa,
        load_learner,
        loqa_markdown,
        thinned_curve,
    )

    setting, trained = _tiny_run(tmp_path)
    learner, info = load_learner(tmp_path / "run", setting)
    assert info == {"updates": 2, "seed": 3, "preset": "custom", "env_options": setting.env_kwargs()}
    assert learner.updates == 2
    for name, tensor in trained.agents[0].policy.state_dict().items():
        assert torch.equal(tensor, learner.policy.state_dict()[name]), name

    result = evaluate_loqa([tmp_path / "run"], episodes=9, blocks=3, seed=5, max_cycles=8,
                           export_to=tmp_path / "agents", setting=setting)
    assert result["protocol"]["env_options"] == {"max_cycles": 8, "grid_size": 3, "stay_action": False}
    assert (tmp_path / "agents" / "seed0" / "player_1" / "config.json").exists()
    (sp,) = result["self_play"]
    assert sp["games"] == 3 and sp["episodes"] == 9
    for seat in ("seat_0", "seat_1"):
        stats = sp[seat]["reward_per_step"]
        assert stats["n"] == 3 and stats["ci95"][0] <= stats["mean"] <= stats["ci95"][1]
    ad = result["vs_always_defect"]
    (mine,) = ad["per_instance"]
    assert mine["games_per_seat"] == 3 and ad["episodes_per_game"] == 3
    # A 2-update learner moves almost at random: always-defect takes its coins, so its side
    # loses in both seats while always-defect's side gains. A swapped seat would flip a sign.
    for seat in ("seat_0", "seat_1"):
        assert mine[seat]["reward_per_step"]["mean"] < 0, seat
    assert ad["cells"]["always-defect"]["LOQA"]["reward_per_step"]["mean"] > 0
    assert ad["cells"]["LOQA"]["always-defect"]["reward_per_step"]["mean"] < 0
    assert "| custom seed 3 | 2 |" in loqa_markdown(result)
    curve = thinned_curve(tmp_path / "run", every=1)
    assert curve["update"] == [1.0, 2.0] and curve["env_steps"] == [4.0 * STEPS, 8.0 * STEPS]
    assert curve["own_coin_rate"] == [round(r["agent0/own_coin_rate"], 4) for r in trained.history]
    assert thinned_curve(tmp_path / "run", every=50)["update"] == [2.0]

    again = evaluate_loqa([tmp_path / "run"], episodes=9, blocks=3, seed=5, max_cycles=8, setting=setting)
    other = evaluate_loqa([tmp_path / "run"], episodes=9, blocks=3, seed=6, max_cycles=8, setting=setting)
    assert again["self_play"] == result["self_play"] and again["vs_always_defect"] == result["vs_always_defect"]
    assert other["self_play"] != result["self_play"]


def test_a_run_is_evaluated_with_the_learner_configuration_saved_in_its_checkpoint(tmp_path) -> None:
    from dataclasses import replace

    from lola_agents.learners.loqa_eval import load_learner

    setting = preset("cpu", shaping="advantage_alignment", shaping_weight=0.5, actor_hidden=8, critic_hidden=8)
    train_loqa(setting, seed=1, updates=1, log_dir=tmp_path, checkpoint_every=1, progress=False)
    learner, info = load_learner(tmp_path)
    assert replace(learner.cfg, seed=0) == setting.agent and learner.name == "AdAlign-Q" and info["updates"] == 1


def test_evaluation_refuses_bad_arguments_by_name(tmp_path) -> None:
    from lola_agents.learners.loqa_eval import evaluate_loqa, load_learner

    setting, _ = _tiny_run(tmp_path, updates=1)
    with pytest.raises(ValueError, match="matches no preset"):
        load_learner(tmp_path / "run")
    with pytest.raises(ValueError, match="unknown LOQA preset 'big'"):
        load_learner(tmp_path / "run", "big")
    with pytest.raises(ValueError, match="blocks must be an integer >= 2"):
        evaluate_loqa([tmp_path / "run"], blocks=1, setting=setting)
    with pytest.raises(ValueError, match="at least one checkpoint"):
        evaluate_loqa([])


@pytest.mark.parametrize("experiment", ["coin-loqa-cpu", "coin-lolaq-1500"])
def test_the_bench_experiment_trains_and_evaluates_loqa_at_tiny_scale(tmp_path, monkeypatch, experiment: str) -> None:
    import json

    import lola_agents.learners.loqa as loqa_module
    from lola_agents.bench.cli import main

    trained = []
    monkeypatch.setattr(loqa_module, "train_loqa", lambda setting, *a, **k: trained.append(setting) or
                        train_loqa(setting, *a, **k))
    out = tmp_path / "bench"
    assert main(["--experiment", experiment, "--scale", "tiny", "--workers", "1", "--out", str(out)]) == 0
    (group,) = json.loads((out / "summary.json").read_text())["groups"]
    metrics = group["metrics"]
    assert metrics["updates"]["per_seed"] == [1]
    for key in ("own_coin_rate", "reward_per_step_0", "vs_always_defect_0", "vs_always_defect_1"):
        assert metrics[key]["per_seed"][0] is not None, key
    # tiny: 16 games x 50 steps, one update; the curve keeps the last update
    assert group["curves"]["env_steps"] == [[800]] and group["curves"]["update"] == [[1]]
    checkpoint = out / "checkpoints" / "loqa" / f"{experiment}-seed0" / "training" / "checkpoint.pt"
    assert checkpoint.exists()
    # the experiment's overrides reach the learner
    assert trained[0].agent.shaping == ("lola_policy" if experiment == "coin-lolaq-1500" else "loqa")


def test_evaluation_command_writes_the_curve_the_run_info_and_both_protocols(tmp_path, capsys) -> None:
    import json

    from lola_agents.learners.loqa_eval import main, thinned_curve

    _tiny_run(tmp_path)
    (tmp_path / "info.json").write_text('{"cpu_s_per_update": 0.7}')
    with pytest.raises(ValueError, match="matches no preset"):  # the tiny run is no preset's
        main([str(tmp_path / "run"), "--episodes", "4", "--blocks", "2"])
    # A run of the cpu preset's batch is found by its games and steps: write one at 1 update.
    train_loqa("cpu", seed=0, updates=1, progress=False, log_dir=tmp_path / "cpu", checkpoint_every=1)
    main([str(tmp_path / "cpu"), "--episodes", "4", "--blocks", "2", "--max-cycles", "6", "12",
          "--curve", str(tmp_path / "cpu"), "--run-info", str(tmp_path / "info.json"),
          "--json", str(tmp_path / "out.json")])
    record = json.loads((tmp_path / "out.json").read_text())
    assert record["run"] == {"cpu_s_per_update": 0.7}
    assert record["curve"] == thinned_curve(tmp_path / "cpu")
    assert sorted(record["evaluation"]) == ["12", "6"]
    assert record["evaluation"]["12"]["protocol"]["env_options"]["max_cycles"] == 12
    assert record["evaluation"]["6"]["runs"][0]["preset"] == "cpu"
    # compact: means and intervals only; the learner's row of the league cells
    assert "per_seed" not in (tmp_path / "out.json").read_text()
    assert list(record["evaluation"]["6"]["vs_always_defect"]["cells"]) == ["LOQA"]
    stats = record["evaluation"]["6"]["self_play"][0]["seat_0"]["reward_per_step"]
    assert set(stats) == {"mean", "ci95", "n"} and stats["n"] == 2
    assert "| cpu seed 0 | 1 |" in capsys.readouterr().out


def test_the_protocol_evaluates_pair_folders_of_any_learner(tmp_path, capsys):
    import json

    from lola_agents.bench.studies import train_coin_pair
    from lola_agents.learners.loqa_eval import main

    agents, _, env_options, _ = train_coin_pair(["aa", "aa"], 0, {"preset": "fast", "updates": 1, "num_envs": 8})
    for seat, agent in enumerate(agents):
        agent.save(tmp_path / f"player_{seat}")
    (tmp_path / "env_options.json").write_text(json.dumps(env_options))
    main(["--pairs", str(tmp_path), "--episodes", "8", "--blocks", "2", "--json", str(tmp_path / "r.json")])
    assert f"| {tmp_path} |" in capsys.readouterr().out
    record = json.loads((tmp_path / "r.json").read_text())["evaluation"]["50"]
    seat_0 = record["vs_always_defect"]["per_instance"][0]["seat_0"]
    assert seat_0["reward_per_step"]["n"] == 2 and record["self_play"][0]["games"] == 2
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--pairs", str(tmp_path)])


def test_several_seeds_add_cross_seed_play_of_enough_episodes_and_figures_over_seeds(tmp_path):
    from lola_agents.bench.studies import train_coin_pair
    from lola_agents.learners.loqa_eval import evaluate_pairs, loqa_markdown

    folders = []
    for seed in (0, 1):
        agents, _, env_options, _ = train_coin_pair(["aa", "aa"], seed, {"preset": "fast", "updates": 1, "num_envs": 8})
        for seat, agent in enumerate(agents):
            agent.save(tmp_path / f"seed{seed}" / f"player_{seat}")
        folders.append(tmp_path / f"seed{seed}")
    result = {"runs": [{"label": str(f), "seed": seed, "updates": 1} for seed, f in enumerate(folders)],
              **evaluate_pairs(folders, {**env_options, "max_cycles": 6}, episodes=8, blocks=4, seed=0)}
    ad = result["vs_always_defect"]
    # Against always-defect 4 games of 2 episodes per seat; cross-seed play against the one other
    # seed: a game holds all 8 episodes in each seat (not 8 / 4 blocks).
    assert ad["episodes_per_game"] == 2 and ad["cross_seed_episodes_per_game"] == 8
    summary = result["across_seeds"]
    assert summary["seeds"] == 2
    assert summary["self_play_own_coin_rate"]["per_seed"] == [p["own_coin_rate"]["mean"] for p in result["self_play"]]
    seat_1 = [i["seat_1"]["reward_per_step"]["mean"] for i in ad["per_instance"]]
    assert summary["vs_always_defect_reward_per_step_seat_1"]["mean"] == pytest.approx(sum(seat_1) / 2)
    cross = summary["cross_seed"]
    assert cross["games"] == 4 and cross["reward_per_step"]["n"] == 2  # (0 vs 1) and (1 vs 0), both seats
    # With two seeds the instances' rows hold the same games seen from either side: the mean
    # reward over seeds equals the mean reward of their opponents.
    assert cross["reward_per_step"]["mean"] == pytest.approx(cross["opponent_reward_per_step"]["mean"])
    text = loqa_markdown(result)
    assert "over the 2 seeds" in text and "Cross-seed play" in text
    # The recorded form (benchmarks/results/loqa/seeds.*) keeps what the tables show.
    from benchmarks.loqa_seeds_record import compact, seeds_markdown

    record = compact(result)
    assert [r["seed"] for r in record["per_seed"]] == [0, 1]
    assert record["cross_seed"]["reward_per_step"]["mean"] == round(cross["reward_per_step"]["mean"], 4)
    cost = {"seed": 0, "updates": 1, "cpu_s": 2, "wall_min": 0.1, "peak_mib": 300, "note": "tiny"}
    markdown = seeds_markdown({"1": result}, [cost])
    assert text.split("\n", 2)[2].strip() in markdown and "| 0 | 1 | 2 | 0.1 | 300 |" in markdown
    from benchmarks.loqa_shaping_record import compact_setting, shaping_markdown

    setting = compact_setting(result)
    rows = shaping_markdown({"costs": [{**cost, "label": "tiny AA"}],
                             "settings": [{"label": "tiny AA", "by_episode_steps": {"6": setting}}]})
    own = setting["per_seed"][1]["own_coin"]["mean"]
    assert f"| tiny AA | 1 | 1 | 6 | {own:.3f} [" in rows and "| tiny AA | over 2 seeds | | 6 |" in rows


def test_shipped_adalign_q_pair_cooperates_with_itself_and_retaliates_against_always_defect() -> None:
    """The shipped AdAlign-Q agent (LOQA's recipe, advantage alignment after 1000 naive updates):
    its recorded figures are own-coin 0.93 with itself and P(take the other's coin) 0.65 after
    a theft vs 0.03 otherwise against always-defect (benchmarks/results/loqa/shaping.md)."""
    from lola_agents.agents import load_agent
    from lola_agents.bench.suites import shipped_checkpoint_dir
    from lola_agents.evaluation import evaluate
    from lola_agents.fixed import AlwaysDefectCoinAgent

    folder = shipped_checkpoint_dir("adalign-q-start1000-4000")
    agents = [load_agent(str(folder / f"player_{seat}")) for seat in (0, 1)]
    assert all(a.cfg.shaping == "advantage_alignment" and a.cfg.shaping_start == 1000 for a in agents)
    self_play = evaluate("coin_game_v0", *agents, episodes=32, seed=0, max_cycles=50)
    assert self_play["own_coin_rate"] > 0.8 and min(self_play["reward_per_step"]) > 0.2
    exploited = evaluate("coin_game_v0", agents[0], AlwaysDefectCoinAgent(), episodes=32, seed=1, max_cycles=50)
    after, otherwise = (exploited["player_0"][k] for k in ("takes_other_coin_after_theft", "takes_other_coin_otherwise"))
    assert after > otherwise + 0.3 and exploited["reward_per_step"][0] > -0.1  # always-own-coin: -0.26
