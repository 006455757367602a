"""Coin-game learners (lola_agents.coin_lola) and networks (lola_agents.coin_policies), at tiny scale."""

from __future__ import annotations

import pytest
import torch

import coin_game_env
from lola_agents.coin_lola import (
    PRESETS,
    CoinLOLAAgent,
    CoinLOLAConfig,
    CoinPreset,
    PolicyView,
    preset,
)
from lola_agents.coin_policies import CoinConvGRU, CoinMLP, canonical_obs
from lola_agents.estimators import dependency_decay_matrix, loaded_dice_objective
from lola_agents.fixed import GreedyCoinAgent
from lola_agents.learners.adalign import aligned_advantages
from lola_agents.rollout import collect

STEPS, GAMES = 6, 8


def tiny(network: str, method: str, **overrides) -> CoinLOLAConfig:
    """The fast preset's learner with plain SGD (so an update is lr x direction)."""
    return replace_fields(preset("fast").agent, network=network, method=method, optimizer="sgd",
                          lr=0.5, mlp_hidden=(16,), **overrides)


def replace_fields(config: CoinLOLAConfig, **changes) -> CoinLOLAConfig:
    from dataclasses import replace

    return replace(config, **changes)


def pair(config: CoinLOLAConfig) -> tuple[CoinLOLAAgent, CoinLOLAAgent]:
    a, b = CoinLOLAAgent(config, seed=1), CoinLOLAAgent(config, seed=2)
    a.set_opponent(b)
    b.set_opponent(a)
    return a, b


def play(agents, games: int = GAMES, steps: int = STEPS, seed: int = 0):
    venv = coin_game_env.make_vec("coin_game_v0", games, seed=seed, max_cycles=steps)
    return collect(venv, agents, steps)


def params(agent: CoinLOLAAgent) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in agent.policy.named_parameters()}


def changed(before: dict[str, torch.Tensor], agent: CoinLOLAAgent) -> float:
    return max(float((v.detach() - before[k]).abs().max()) for k, v in agent.policy.named_parameters())


@pytest.mark.parametrize("network", ["conv_gru", "mlp"])
@pytest.mark.parametrize("method", ["lola_dice", "lola_pg", "advantage_alignment"])
def test_lola_update_changes_both_agents(network: str, method: str) -> None:
    a, b = pair(tiny(network, method))
    batches = play([a, b])
    before = [params(a), params(b)]
    logs = [a.learn(batches[0], batches[1]), b.learn(batches[1], batches[0])]
    assert changed(before[0], a) > 1e-6 and changed(before[1], b) > 1e-6
    for log in logs:
        assert all(torch.isfinite(torch.tensor(v)) for v in log.values())
        assert 0.0 <= log["own_coin_rate"] <= 1.0


def test_shaping_term_moves_the_update() -> None:
    """LOLA's update differs from the naive one on the same batch (the second-order term is live)."""
    updates = {}
    for method in ("naive", "lola_dice"):
        a, b = pair(tiny("mlp", method, lookahead_lr=1.0))
        batches = play([a, b])
        before = params(a)
        a.learn(batches[0], batches[1])
        updates[method] = {k: v.detach() - before[k] for k, v in a.policy.named_parameters()}
    gap = max(float((updates["naive"][k] - updates["lola_dice"][k]).abs().max()) for k in updates["naive"])
    assert gap > 1e-6


@pytest.mark.parametrize("method", ["lola_pg", "lola_dice", "naive"])
def test_game_sliced_backprop_equals_full_batch(method: str) -> None:
    """The recurrent net's update with slices of 3 games equals the update on all 8 at once."""
    results = []
    for chunk in (0, 3):
        a, b = pair(tiny("conv_gru", method, chunk_games=chunk, lookahead_lr=1.0))
        batches = play([a, b])
        before = params(a)
        a.learn(batches[0], batches[1])
        results.append({k: v.detach() - before[k] for k, v in a.policy.named_parameters()})
    full, sliced = results
    for k in full:
        assert full[k].abs().max() > 0
        torch.testing.assert_close(sliced[k], full[k], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(("network", "history"), [("conv_gru", 1), ("mlp", 1), ("mlp", 3)])
@pytest.mark.parametrize("seat", [0, 1])
def test_learning_recomputes_the_acting_log_probs(network: str, history: int, seat: int) -> None:
    """Sequence forward (learning) and step-by-step forward (acting) give the same policy,
    across episode ends (3 episodes of 4 steps)."""
    agent = CoinLOLAAgent(tiny(network, "naive", mlp_history=history), seed=3)
    agents = [agent, GreedyCoinAgent(seed=0)] if seat == 0 else [GreedyCoinAgent(seed=0), agent]
    venv = coin_game_env.make_vec("coin_game_v0", GAMES, seed=0, max_cycles=4)
    batch = collect(venv, agents, 12)[seat]
    assert int(batch.episode_starts.sum()) == 3 * GAMES
    obs = agent._canonical(batch.obs, seat)
    view = PolicyView(agent.policy, agent.acting_params())
    encoded = agent.policy.encode(obs, batch.episode_starts)
    log_probs = view.log_probs(view.params, encoded, batch.episode_starts, batch.actions)
    torch.testing.assert_close(log_probs, batch.log_probs, rtol=1e-4, atol=1e-5)


def test_mlp_history_features_by_hand() -> None:
    """history=2: the features hold the last two observations and both agents' moves between
    them (equal to the actions actually played), zero before the episode began."""
    net = CoinMLP(history=2)
    venv = coin_game_env.make_vec("coin_game_v0", GAMES, seed=1, max_cycles=4)
    batches = collect(venv, [GreedyCoinAgent(seed=0), GreedyCoinAgent(seed=1)], 8)
    obs, starts = batches[0].obs, batches[0].episode_starts
    features = net.encode(obs, starts)
    assert features.shape == (8, GAMES, 3 * 36 + 2 * 8)
    frame = lambda k: features[..., 36 * k: 36 * (k + 1)]  # noqa: E731
    moves = lambda k: features[..., 108 + 8 * (k - 1): 108 + 8 * k]  # noqa: E731
    for t in range(8):
        age = t % 4  # episodes of 4 steps from t = 0
        torch.testing.assert_close(frame(0)[t], obs[t].flatten(1))
        for k in (1, 2):
            if age >= k:
                torch.testing.assert_close(frame(k)[t], obs[t - k].flatten(1))
                played = torch.stack([batches[0].actions[t - k], batches[1].actions[t - k]], dim=1)
                expected = torch.nn.functional.one_hot(played, 4).float().flatten(1)
                torch.testing.assert_close(moves(k)[t], expected)
            else:
                assert not frame(k)[t].any() and not moves(k)[t].any()
    with pytest.raises(ValueError, match="history"):
        CoinMLP(history=0)


def test_canonical_obs_swaps_seats() -> None:
    obs = torch.arange(4.0).view(4, 1, 1).expand(4, 3, 3)
    assert canonical_obs(obs, 0).equal(obs)
    assert canonical_obs(obs, 1)[:, 0, 0].tolist() == [1.0, 0.0, 3.0, 2.0]
    assert canonical_obs(obs, 1, egocentric_env=True).equal(obs)


def test_loaded_dice_first_derivative_is_the_policy_gradient() -> None:
    torch.manual_seed(0)
    log_probs = torch.randn(5, 3, requires_grad=True)
    advantages, discounts = torch.randn(5, 3), torch.rand(5, 3)
    objective = loaded_dice_objective(log_probs, advantages, discounts, dependency_decay_matrix(5, 0.9))
    (grad,) = torch.autograd.grad(objective, log_probs)
    torch.testing.assert_close(grad, discounts * advantages / 3)
    assert float(objective.detach()) == pytest.approx(0.0, abs=1e-6)  # box(w) - box(w - l) = 1 - 1


def test_paper_network_sizes() -> None:
    net = CoinConvGRU()
    assert [m.weight.shape[0] for m in net.conv if hasattr(m, "weight")] == [20, 20]
    assert net.core.hidden_size == 32 and net.head.out_features == 4
    out = net(torch.zeros(7, 2, 4, 3, 3), torch.zeros(7, 2, dtype=torch.bool))
    assert out.shape == (7, 2, 4)
    assert CoinMLP().encode(torch.zeros(7, 2, 4, 3, 3), torch.ones(7, 2, dtype=torch.bool)).shape == (7, 2, 80)


def test_presets_load_and_validate() -> None:
    paper = PRESETS["paper"]
    assert (paper.num_envs, paper.max_cycles) == (4000, 150)
    assert paper.agent.network == "conv_gru" and paper.agent.method == "lola_pg"
    assert (paper.agent.lr, paper.agent.critic_lr, paper.agent.gamma, paper.agent.lookahead_lr) == (0.005, 1.0, 0.96, 1.0)
    assert (paper.agent.conv_channels, paper.agent.gru_hidden) == (20, 32)
    fast = preset("fast", seed=4)
    assert fast.agent.seed == 4 and PRESETS["fast"].agent.seed == 0  # a copy
    assert fast.agent.network == "mlp" and fast.max_cycles == 50
    for name, method in (("adalign", "advantage_alignment"), ("lola_policy", "lola_dice")):
        variant = preset(name)
        assert variant.agent.method == method and variant.agent.network == "mlp"
        assert (variant.num_envs, variant.max_cycles, variant.updates) == (fast.num_envs, 50, fast.updates)
    assert preset("lola_policy").agent.lookahead_space == "policy"
    with pytest.raises(ValueError, match="lookahead_space"):
        CoinLOLAConfig(lookahead_space="weights")
    with pytest.raises(KeyError, match="known"):
        preset("huge")
    with pytest.raises(TypeError, match="no field"):
        preset("fast", learning_rate=1.0)
    with pytest.raises(ValueError, match="method"):
        CoinLOLAConfig(method="lola_exact")
    with pytest.raises(ValueError, match="lr"):
        CoinLOLAConfig(lr=-1.0)
    with pytest.raises(ValueError, match="gamma"):
        CoinLOLAConfig(gamma=1.0)
    with pytest.raises(ValueError, match="entropy_coef_decay"):
        CoinLOLAConfig(entropy_coef_decay=1.5)
    with pytest.raises(ValueError, match="grid_size"):
        CoinPreset(num_envs=8, max_cycles=10, updates=1, agent=CoinLOLAConfig(), env_options={"grid_size": 4})
    with pytest.raises(ValueError, match="stay_action"):
        CoinPreset(num_envs=8, max_cycles=10, updates=1, agent=CoinLOLAConfig(), env_options={"stay_action": True})


def test_lola_om_plays_any_opponent_and_exact_lola_refuses_a_fixed_one() -> None:
    om = CoinLOLAAgent(tiny("mlp", "lola_dice", opponent_model=True, om_first_steps=3), seed=5)
    greedy = GreedyCoinAgent(seed=1)
    batches = play([om, greedy])
    before = params(om)
    logs = om.learn(batches[0], batches[1])
    assert changed(before, om) > 1e-6 and "model_nll" in logs
    exact = CoinLOLAAgent(tiny("mlp", "lola_dice"), seed=6)
    exact.set_opponent(greedy)
    with pytest.raises(TypeError, match="LOLA-OM"):
        exact.learn(*play([exact, greedy]))


def test_batch_must_hold_whole_episodes() -> None:
    a, b = pair(tiny("mlp", "lola_dice"))
    venv = coin_game_env.make_vec("coin_game_v0", GAMES, seed=0, max_cycles=20)
    batches = collect(venv, [a, b], STEPS)  # episodes cut by the batch end
    with pytest.raises(ValueError, match="whole episodes"):
        a.learn(batches[0], batches[1])


def test_save_load_round_trip(tmp_path) -> None:
    a, b = pair(tiny("conv_gru", "lola_pg"))
    batches = play([a, b])
    a.learn(batches[0], batches[1])
    a.save(tmp_path / "a")
    restored = CoinLOLAAgent.load(tmp_path / "a")
    assert restored.cfg == a.cfg
    obs = batches[0].obs[0].numpy()
    starts = batches[0].episode_starts[0].numpy()
    out_a = a.act(obs, a.initial_state(GAMES), starts)
    out_r = restored.act(obs, restored.initial_state(GAMES), starts)
    assert (out_a[0] == out_r[0]).all() and (out_a[1] == out_r[1]).all()


@pytest.mark.parametrize("grid_size", [2, 3, 4])
def test_circular_conv_equals_conv2d_with_circular_padding(grid_size: int) -> None:
    from lola_agents.coin_policies import CircularConv3x3

    conv = CircularConv3x3(4, 5, grid_size)
    x = torch.randn(6, 4, grid_size, grid_size)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="circular")
    torch.testing.assert_close(conv(x), torch.nn.functional.conv2d(padded, conv.weight, conv.bias))


@pytest.mark.parametrize(
    "env_options",
    [{"grid_size": 4}, {"stay_action": True}, {"num_coins": 2}, {"egocentric": True}],
)
def test_variants_of_the_coin_game(env_options: dict) -> None:
    """A LOLA-DiCE update on each coin-game variant (options checked against the learner by CoinPreset)."""
    agent_fields = {"grid_size": env_options.get("grid_size", 3),
                    "num_actions": 5 if env_options.get("stay_action") else 4,
                    "egocentric_env": env_options.get("egocentric", False)}
    config = tiny("mlp", "lola_dice", **agent_fields)
    CoinPreset(num_envs=GAMES, max_cycles=STEPS, updates=1, agent=config, env_options=env_options)
    a, b = pair(config)
    venv = coin_game_env.make_vec("coin_game_v0", GAMES, seed=0, max_cycles=STEPS, **env_options)
    batches = collect(venv, [a, b], STEPS)
    before = params(b)
    b.learn(batches[1], batches[0])
    assert changed(before, b) > 1e-6


def test_aligned_advantages_by_hand() -> None:
    """``A_1,t + beta (sum_{k<t} gamma^(t-k) A_1,k) A_2,t``, the sum restarting at episode starts."""
    own = torch.tensor([[1.0, 2.0], [-1.0, 1.0], [0.5, 3.0], [2.0, -1.0]])  # [T=4, N=2]
    theirs = torch.tensor([[4.0, 1.0], [2.0, -1.0], [1.0, 2.0], [-1.0, 1.0]])
    starts = torch.tensor([[True, True], [False, False], [False, True], [False, False]])
    gamma, beta = 0.5, 0.3
    # game 0: past = 0, 0.5*1, 0.5*(0.5 + -1), 0.5*(-0.25 + 0.5); game 1 restarts at t=2: 0, 0.5*2, 0, 0.5*3
    past = torch.tensor([[0.0, 0.0], [0.5, 1.0], [-0.25, 0.0], [0.125, 1.5]])
    expected = own + beta * past * theirs
    torch.testing.assert_close(aligned_advantages(own, theirs, starts, gamma, beta), expected)


def test_advantage_alignment_is_naive_at_beta_zero_and_plays_a_fixed_opponent() -> None:
    """beta = 0 gives the naive update exactly; beta > 0 changes it; only the opponent's rewards are needed."""
    updates = {}
    for name, method, beta in (("naive", "naive", 0.3), ("beta0", "advantage_alignment", 0.0),
                               ("beta", "advantage_alignment", 0.3)):
        agent = CoinLOLAAgent(tiny("mlp", method, alignment_beta=beta), seed=1)
        batches = play([agent, GreedyCoinAgent(seed=1)])  # no set_opponent: a fixed opponent
        before = params(agent)
        agent.learn(batches[0], batches[1])
        updates[name] = {k: v.detach() - before[k] for k, v in agent.policy.named_parameters()}
    for k in updates["naive"]:
        torch.testing.assert_close(updates["beta0"][k], updates["naive"][k])
    gap = max(float((updates["beta"][k] - updates["naive"][k]).abs().max()) for k in updates["naive"])
    assert gap > 1e-6


def test_entropy_bonus_matches_categorical_and_raises_the_entropy() -> None:
    """The entropy is torch's Categorical entropy; with the bonus, the same update leaves more of it."""

    def entropy(agent: CoinLOLAAgent, encoded: torch.Tensor, batch) -> torch.Tensor:
        view = PolicyView(agent.policy, dict(agent.policy.named_parameters()))
        with torch.no_grad():
            return view.log_probs_and_entropy(view.params, encoded, batch.episode_starts, batch.actions)[1]

    after = {}
    for coef in (0.0, 1.0):
        agent = CoinLOLAAgent(replace_fields(tiny("mlp", "naive", entropy_coef=coef), lr=0.05), seed=3)
        batches = play([agent, GreedyCoinAgent(seed=1)])
        encoded = agent.policy.encode(agent._canonical(batches[0].obs, 0), batches[0].episode_starts)
        logits = agent.policy(encoded, batches[0].episode_starts).detach()
        torch.testing.assert_close(entropy(agent, encoded, batches[0]),
                                   torch.distributions.Categorical(logits=logits).entropy())
        agent.learn(batches[0], batches[1])
        after[coef] = float(entropy(agent, encoded, batches[0]).mean())
    assert after[1.0] > after[0.0]


@pytest.mark.parametrize("method", ["naive", "lola_dice", "advantage_alignment"])
def test_entropy_bonus_decays_per_update(method: str) -> None:
    """After k updates, coef c with decay d gives the same update as a constant coef c * d**k."""
    extra = {"lookahead_space": "policy"} if method == "lola_dice" else {}
    updates = {}
    for name, coef, decay in (("decayed", 0.5, 0.5), ("constant", 0.5 * 0.5**3, 1.0), ("start", 0.5, 1.0)):
        a, b = pair(tiny("mlp", method, entropy_coef=coef, entropy_coef_decay=decay, **extra))
        a.updates = 3  # as if three updates had passed, on the same weights
        batches = play([a, b])
        before = params(a)
        logs = a.learn(batches[0], batches[1])
        assert logs["entropy_coef"] == pytest.approx(coef * decay**3)
        updates[name] = {k: v.detach() - before[k] for k, v in a.policy.named_parameters()}
    for k in updates["constant"]:
        torch.testing.assert_close(updates["decayed"][k], updates["constant"][k])
    assert max(float((updates["start"][k] - updates["decayed"][k]).abs().max()) for k in updates["start"]) > 1e-6


def test_shaping_clip_bounds_the_lola_term() -> None:
    """A loose bound leaves LOLA's update as it is; a tight one leaves the naive update."""
    def update(method: str, **overrides) -> dict[str, torch.Tensor]:
        a, b = pair(tiny("mlp", method, lookahead_lr=1.0, **overrides))
        batches = play([a, b])
        before = params(a)
        logs = a.learn(batches[0], batches[1])
        if overrides.get("shaping_clip", 0) > 0:
            assert logs["shaping_ratio"] > 0
        return {k: v.detach() - before[k] for k, v in a.policy.named_parameters()}

    lola, naive = update("lola_dice"), update("naive")
    loose, tight = update("lola_dice", shaping_clip=1e9), update("lola_dice", shaping_clip=1e-9)
    for k in lola:
        torch.testing.assert_close(loose[k], lola[k], rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(tight[k], naive[k], rtol=1e-4, atol=1e-7)
    assert max(float((lola[k] - naive[k]).abs().max()) for k in lola) > 1e-6


@pytest.mark.parametrize(("folder", "method", "min_own_coin"),
                         [("adalign-fast-250", "advantage_alignment", 0.95), ("lola-dice-ps-250", "lola_dice", 0.7)])
def test_shipped_shaping_pairs_pick_their_own_colour(folder: str, method: str, min_own_coin: float) -> None:
    """The shipped AdAlign and LOLA-DiCE-PS checkpoints (lola_agents/checkpoints/coin) load and reciprocate."""
    from lola_agents.agents import load_agent
    from lola_agents.bench.suites import shipped_checkpoint_dir
    from lola_agents.evaluation import evaluate

    path = shipped_checkpoint_dir(folder)
    agents = [load_agent(str(path / f"player_{seat}")) for seat in (0, 1)]
    assert all(a.cfg.method == method for a in agents)
    result = evaluate("coin_game_v0", *agents, episodes=16, seed=0, max_cycles=50)
    assert result["own_coin_rate"] > min_own_coin and min(result["reward_per_step"]) > 0.1


@pytest.mark.parametrize("chunk", [0, 3])
def test_policy_space_lookahead_equals_differentiating_through_the_step(chunk: int) -> None:
    """LOLA-DiCE with the look-ahead on the opponent's logits: the update equals autograd
    through an unrolled look-ahead step (a different computation), sliced or not."""
    from torch.func import functional_call

    from lola_agents.estimators import episode_discounts, gae

    eta = 0.7
    a, b = pair(tiny("mlp", "lola_dice", lookahead_space="policy", lookahead_lr=eta, chunk_games=chunk))
    batches = play([a, b])
    cfg, starts = a.cfg, batches[0].episode_starts
    my_enc = a.policy.encode(a._canonical(batches[0].obs, 0), starts)
    their_enc = b.policy.encode(b._canonical(batches[1].obs, 1), starts)
    with torch.no_grad():
        values = a.critic(my_enc, starts)
        z = b.policy(their_enc, starts)
    my_adv, _ = gae(batches[0].rewards, values[..., 0], batches[0].dones, cfg.gamma, cfg.gae_lambda)
    their_adv, _ = gae(batches[1].rewards, values[..., 1], batches[0].dones, cfg.gamma, cfg.gae_lambda)
    discounts = episode_discounts(starts, cfg.gamma)
    decay = dependency_decay_matrix(STEPS, cfg.dice_decay)

    def chosen(logits, actions):
        return torch.log_softmax(logits, -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)

    theta = {k: v.detach().requires_grad_(True) for k, v in a.policy.named_parameters()}
    my_lp = chosen(functional_call(a.policy, theta, (my_enc, starts)), batches[0].actions)
    z_leaf = z.clone().requires_grad_(True)
    their_return = GAMES * loaded_dice_objective(my_lp + chosen(z_leaf, batches[1].actions), their_adv, discounts, decay)
    z_ahead = z + eta * torch.autograd.grad(their_return, z_leaf, create_graph=True)[0]
    my_value = ((discounts * my_adv * my_lp).sum(0).mean()
                + (discounts * my_adv * chosen(z_ahead, batches[1].actions)).sum(0).mean())
    naive = torch.autograd.grad((discounts * my_adv * my_lp).sum(0).mean(), list(theta.values()), retain_graph=True)
    expected = dict(zip(theta, torch.autograd.grad(my_value, list(theta.values())), strict=True))
    assert max(float((expected[k] - g).abs().max()) for k, g in zip(theta, naive, strict=True)) > 1e-6

    before = params(a)
    a.learn(batches[0], batches[1])
    for k, p in a.policy.named_parameters():
        step = (p.detach() - before[k]) / cfg.lr  # plain SGD: step = lr * direction
        torch.testing.assert_close(step, expected[k], rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="lookahead_space"):
        CoinLOLAConfig(method="naive", lookahead_space="policy")


def _update_with_mask(method: str, mask: torch.Tensor | None, games: torch.Tensor | None = None,
                      **extra) -> dict[str, torch.Tensor]:
    """Parameter change of agent a (SGD, so change = lr x direction) on the shared batch, restricted
    to ``games`` and with ``infos['opponent_learns']`` = ``mask`` if given."""
    a, b = pair(tiny("mlp", method, entropy_coef=0.01, **extra))
    batches = play([a, b], games=GAMES, seed=3)
    mine, theirs = batches
    if games is not None:
        mine, theirs = mine.select_games(games), theirs.select_games(games)
    if mask is not None:
        mine.infos["opponent_learns"] = mask.expand(mine.num_steps, -1)
    before = params(a)
    a.learn(mine, theirs)
    return {k: v.detach() - before[k] for k, v in a.policy.named_parameters()}


@pytest.mark.parametrize(("method", "extra"), [("advantage_alignment", {}),
                                               ("lola_dice", {"lookahead_space": "policy", "lookahead_lr": 1.0})])
def test_no_shaping_against_a_fixed_opponent(method: str, extra: dict) -> None:
    """Games marked as against a fixed opponent get the naive update; the rest keep the shaping term.

    Checked against independent runs: all games marked = the naive learner's update; no game
    marked = the unmarked update; a mixed mask = the share-weighted sum of the shaped update
    on the learning-opponent games and the naive update on the fixed-opponent games (the
    direction is a mean over games)."""
    all_fixed = _update_with_mask(method, torch.zeros(GAMES, dtype=torch.bool), **extra)
    naive = _update_with_mask("naive", None)
    for k in all_fixed:
        torch.testing.assert_close(all_fixed[k], naive[k])
    shaped = _update_with_mask(method, None, **extra)
    all_learn = _update_with_mask(method, torch.ones(GAMES, dtype=torch.bool), **extra)
    assert max(float((shaped[k] - all_fixed[k]).abs().max()) for k in shaped) > 1e-5  # the term is live
    for k in shaped:
        torch.testing.assert_close(all_learn[k], shaped[k])
    mask = torch.tensor([True, False, True, True, False, True, False, True])
    mixed = _update_with_mask(method, mask, **extra)
    learning, fixed = mask.nonzero().squeeze(1), (~mask).nonzero().squeeze(1)
    part_shaped = _update_with_mask(method, None, games=learning, **extra)
    part_naive = _update_with_mask("naive", None, games=fixed)
    share = len(learning) / GAMES
    for k in mixed:
        torch.testing.assert_close(mixed[k], share * part_shaped[k] + (1 - share) * part_naive[k])


def test_fixed_opponent_mask_is_checked() -> None:
    a, b = pair(tiny("mlp", "lola_dice"))  # look-ahead on the weights: cannot drop the term per game
    mine, theirs = play([a, b])
    mine.infos["opponent_learns"] = torch.tensor([True, False] * (GAMES // 2)).expand(STEPS, -1)
    with pytest.raises(ValueError, match="cannot drop its shaping term per game"):
        a.learn(mine, theirs)
    mine.infos["opponent_learns"] = torch.ones(STEPS, GAMES)
    with pytest.raises(ValueError, match="opponent_learns"):
        a.learn(mine, theirs)


def test_alignment_with_the_opponents_reward() -> None:
    """alignment_signal='reward' aligns my past advantages with the opponent's reward at each step:
    with the opponent's rewards zeroed it is the naive update; otherwise it moves the update,
    and differently from aligning with the opponent's advantage."""
    def update(method: str, zero_their_rewards: bool, **extra) -> dict[str, torch.Tensor]:
        a, b = pair(tiny("mlp", method, **extra))
        mine, theirs = play([a, b], seed=5)
        if zero_their_rewards:
            theirs.rewards = torch.zeros_like(theirs.rewards)
        before = params(a)
        a.learn(mine, theirs)
        return {k: v.detach() - before[k] for k, v in a.policy.named_parameters()}

    naive = update("naive", True)
    zeroed = update("advantage_alignment", True, alignment_signal="reward", alignment_beta=1.0)
    for k in naive:
        torch.testing.assert_close(zeroed[k], naive[k])
    by_reward = update("advantage_alignment", False, alignment_signal="reward", alignment_beta=1.0)
    by_advantage = update("advantage_alignment", False, alignment_beta=1.0)
    assert max(float((by_reward[k] - naive[k]).abs().max()) for k in naive) > 1e-5
    assert max(float((by_reward[k] - by_advantage[k]).abs().max()) for k in naive) > 1e-5
    with pytest.raises(ValueError, match="alignment_signal"):
        CoinLOLAConfig(alignment_signal="value")
