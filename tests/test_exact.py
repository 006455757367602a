"""Exact values, gradients and update rules of lola_agents.exact."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import coin_game_env
from lola_agents import metrics
from lola_agents.exact import (
    RULE_NAMES,
    DifferentiableGame,
    ExactSettings,
    GradientBundle,
    iterated_game,
    iterated_game_values,
    make_game,
    make_rule,
    one_shot_game_values,
    train,
    train_games,
    train_pairs,
)

SURE = 40.0  # logit of a (numerically) deterministic choice


def policy(cc: int, cd: int, dc: int, dd: int, start: int) -> torch.Tensor:
    """Deterministic memory-1 policy ``[1, 5]``; 1 = cooperate, 0 = defect (own perspective)."""
    return (torch.tensor([[cc, cd, dc, dd, start]], dtype=torch.float64) * 2 - 1) * SURE


TFT = policy(1, 0, 1, 0, 1)
ALL_D = policy(0, 0, 0, 0, 0)
ALL_C = policy(1, 1, 1, 1, 1)


def rewards_per_step(theta_0, theta_1, game="prisoners_dilemma", gamma=0.96):
    v0, v1 = iterated_game_values(theta_0, theta_1, game, gamma)
    return (1 - gamma) * v0, (1 - gamma) * v1


# --------------------------------------------------------------------------- exact value
@pytest.mark.parametrize(
    "theta_0, theta_1, expected",
    [
        (TFT, TFT, (-1.0, -1.0)),
        (ALL_C, ALL_C, (-1.0, -1.0)),
        (ALL_D, ALL_D, (-2.0, -2.0)),
        (ALL_C, ALL_D, (-3.0, 0.0)),
        # TFT loses once (-3), then both defect: (1-g)(-3) + g(-2) = -2.04; AllD: g * -2 = -1.92.
        (TFT, ALL_D, (-2.04, -1.92)),
        (ALL_D, TFT, (-1.92, -2.04)),
    ],
)
def test_ipd_anchor_values(theta_0, theta_1, expected):
    r0, r1 = rewards_per_step(theta_0, theta_1)
    assert r0.item() == pytest.approx(expected[0], abs=1e-9)
    assert r1.item() == pytest.approx(expected[1], abs=1e-9)


def test_values_are_batched_and_match_one_at_a_time():
    gen = torch.Generator().manual_seed(3)
    theta = torch.randn(2, 7, 5, generator=gen, dtype=torch.float64) * 2
    v0, v1 = iterated_game_values(theta[0], theta[1], "prisoners_dilemma", 0.96)
    assert v0.shape == v1.shape == (7,) and v0.dtype == torch.float64
    for k in range(7):
        w0, w1 = iterated_game_values(
            theta[0, k : k + 1], theta[1, k : k + 1], "prisoners_dilemma", 0.96
        )
        assert torch.allclose(w0[0], v0[k], atol=1e-12) and torch.allclose(w1[0], v1[k], atol=1e-12)


def test_symmetric_game_swapping_seats_swaps_values():
    # Catches a missing CD <-> DC swap of player_1's perspective.
    gen = torch.Generator().manual_seed(4)
    a, b = torch.randn(2, 6, 5, generator=gen, dtype=torch.float64)
    va0, va1 = iterated_game_values(a, b, "prisoners_dilemma", 0.96)
    vb0, vb1 = iterated_game_values(b, a, "prisoners_dilemma", 0.96)
    assert torch.allclose(va0, vb1, atol=1e-10) and torch.allclose(va1, vb0, atol=1e-10)


def test_matching_pennies_is_zero_sum_with_value_zero_at_nash():
    gen = torch.Generator().manual_seed(5)
    a, b = torch.randn(2, 6, 5, generator=gen, dtype=torch.float64)
    v0, v1 = iterated_game_values(a, b, "matching_pennies", 0.9)
    assert torch.allclose(v0, -v1, atol=1e-12)
    nash = torch.zeros(1, 5, dtype=torch.float64)
    assert iterated_game_values(nash, a[:1], "matching_pennies", 0.9)[0].item() == pytest.approx(
        0, abs=1e-12
    )
    # one-shot: matcher plays heads for sure, the other tails for sure -> -1 / +1
    u0, u1 = one_shot_game_values(
        torch.tensor([[SURE]]).double(), torch.tensor([[-SURE]]).double(), "matching_pennies"
    )
    assert (u0.item(), u1.item()) == pytest.approx((-1.0, 1.0))


def monte_carlo_returns(env_id, theta_0, theta_1, gamma, episodes, seed):
    """Discounted returns of tabular policies sampled in the batched environment.

    ``theta_i`` ``[pairs, 5]``; each pair plays ``episodes`` games. Returns
    ``[pairs, episodes, 2]``.
    """
    steps = math.ceil(math.log(1e-6) / math.log(gamma))  # gamma^T < 1e-6: tail negligible
    pairs = theta_0.shape[0]
    venv = coin_game_env.make_vec(env_id, num_envs=pairs * episodes, seed=seed, max_cycles=steps)
    obs, _ = venv.reset()
    probs = torch.sigmoid(torch.stack([theta_0, theta_1], dim=1)).numpy()  # [pairs, 2, 5]
    probs = np.repeat(probs, episodes, axis=0)  # [pairs * episodes, 2, 5]
    rng = np.random.default_rng(seed + 1)
    returns = np.zeros((pairs * episodes, 2))
    discount = 1.0
    for _ in range(steps):
        p_action_0 = np.take_along_axis(probs, obs[:, :, None], axis=2)[:, :, 0]
        actions = (rng.random(p_action_0.shape) >= p_action_0).astype(np.int64)
        obs, rewards, _, _, _ = venv.step(actions)
        returns += discount * rewards
        discount *= gamma
    return returns.reshape(pairs, episodes, 2)


@pytest.mark.parametrize(
    "env_id, preset", [("ipd_v0", "prisoners_dilemma"), ("imp_v0", "matching_pennies")]
)
def test_exact_values_match_monte_carlo_rollouts_in_the_environment(env_id, preset):
    gamma = coin_game_env.PRESETS[preset].gamma
    gen = torch.Generator().manual_seed(11)
    # Random policies, plus one whose CD and DC entries differ a lot (perspective matters).
    theta = torch.randn(2, 3, 5, generator=gen, dtype=torch.float64) * 1.5
    theta[1, 0] = torch.tensor([2.0, -2.5, 1.5, -1.0, 0.5])
    returns = monte_carlo_returns(env_id, theta[0], theta[1], gamma, episodes=3000, seed=7)
    v0, v1 = iterated_game_values(theta[0], theta[1], preset, gamma)
    exact = torch.stack([v0, v1], -1).numpy()
    mean = returns.mean(1)
    stderr = returns.std(1, ddof=1) / math.sqrt(returns.shape[1])
    assert np.all(np.abs(mean - exact) < 4 * stderr + 1e-3), (mean, exact, stderr)
    # The comparison has power: forgetting player_1's perspective swap is detected.
    wrong_theta_1 = theta[1][:, [0, 2, 1, 3, 4]]
    w0, _ = iterated_game_values(theta[0], wrong_theta_1, preset, gamma)
    assert abs(w0[0].item() - mean[0, 0]) > 6 * stderr[0, 0]


# --------------------------------------------------------------------------- gradients
def finite_difference_gradient(f, x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Central differences of a per-run function f: [runs, d] -> [runs]."""
    grad = torch.zeros_like(x)
    for k in range(x.shape[1]):
        step = torch.zeros_like(x)
        step[:, k] = eps
        grad[:, k] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


@pytest.fixture(params=["ipd", "imp"])
def game_and_point(request):
    game = make_game(request.param)
    gen = torch.Generator().manual_seed(21)
    theta_0, theta_1 = torch.randn(2, 4, 5, generator=gen, dtype=torch.float64)
    return game, theta_0, theta_1


def test_value_gradients_match_finite_differences(game_and_point):
    game, theta_0, theta_1 = game_and_point
    grads = GradientBundle(game, theta_0, theta_1, eta=1.0)
    theta = (theta_0, theta_1)
    for i in range(2):
        for k in range(2):

            def loss(x, i=i, k=k):
                args = list(theta)
                args[k] = x
                return game.loss_pair(*args)[:, i]

            expected = finite_difference_gradient(loss, theta[k])
            assert torch.allclose(grads.gradient(i, k), expected, rtol=1e-6, atol=1e-7)


def test_lola_terms_match_finite_differences(game_and_point):
    game, theta_0, theta_1 = game_and_point
    eta = 0.7
    grads = GradientBundle(game, theta_0, theta_1, eta)
    theta = (theta_0, theta_1)

    def grad_of(i, k, t0, t1):
        """grad_k L_i at (t0, t1) by finite differences."""

        def loss(x):
            args = [t0, t1]
            args[k] = x
            return game.loss_pair(*args)[:, i]

        # Nested central differences: steps of 1e-4 (inner) and 1e-3 (outer) balance truncation
        # (eps^2) against float64 rounding of the exact values (~1e-13 here, amplified by
        # 1 / (eps_inner * eps_outer)); 1e-5 / 1e-4 left errors of 1e-4 on some BLAS builds.
        return finite_difference_gradient(loss, (t0, t1)[k], eps=1e-4)

    for i in range(2):
        j = 1 - i

        def at(x, i=i):
            return (x, theta[1]) if i == 0 else (theta[0], x)

        frozen_weights = grad_of(i, j, *theta)  # stop(grad_j L_i)

        def shaping_objective(x, i=i, j=j, w=frozen_weights):
            return (w * grad_of(j, j, *at(x))).sum(-1)

        def full_taylor_objective(x, i=i, j=j):
            t = at(x)
            return game.loss_pair(*t)[:, i] - eta * (grad_of(i, j, *t) * grad_of(j, j, *t)).sum(-1)

        shaping = finite_difference_gradient(shaping_objective, theta[i], eps=1e-3)
        assert torch.allclose(grads.shaping(i), shaping, rtol=1e-4, atol=1e-5)
        lola = make_rule("LOLA").direction(grads, i)
        assert torch.allclose(lola, grads.naive(i) - eta * shaping, rtol=1e-4, atol=1e-5)
        full = finite_difference_gradient(full_taylor_objective, theta[i], eps=1e-3)
        assert torch.allclose(
            make_rule("LOLA-full").direction(grads, i), full, rtol=1e-4, atol=1e-5
        )
        lookahead = make_rule("LA").direction(grads, i)
        assert torch.allclose(lookahead, full + eta * shaping, rtol=1e-4, atol=1e-5)


def test_first_order_hola_is_lola_and_second_order_matches_tandem_closed_form():
    game = make_game("tandem")
    gen = torch.Generator().manual_seed(2)
    theta_0, theta_1 = torch.randn(2, 5, 1, generator=gen, dtype=torch.float64)
    eta = 0.3
    grads = GradientBundle(game, theta_0, theta_1, eta)
    s = theta_0 + theta_1
    for player in range(2):
        assert torch.allclose(
            make_rule("HOLA-1").direction(grads, player), make_rule("LOLA").direction(grads, player)
        )
        # Tandem by hand (s = x + y): LOLA 2s - 2 - 4 eta s; LOLA-full adds -4 eta (s - 1);
        # HOLA-2 models a LOLA opponent whose step 2s - 2 - 4 eta s depends on me: (2 - 4eta + 8eta^2) s - 2.
        assert torch.allclose(make_rule("LOLA").direction(grads, player), 2 * s - 2 - 4 * eta * s)
        assert torch.allclose(
            make_rule("LOLA-full").direction(grads, player), 2 * s - 2 - 4 * eta * (2 * s - 1)
        )
        hola2 = (2 - 4 * eta + 8 * eta**2) * s - 2
        assert torch.allclose(make_rule("HOLA-2").direction(grads, player), hola2)


def test_sos_interpolates_between_lookahead_and_lola_full():
    game = make_game("ipd")
    gen = torch.Generator().manual_seed(8)
    theta_0, theta_1 = torch.randn(2, 256, 5, generator=gen, dtype=torch.float64)
    grads = GradientBundle(game, theta_0, theta_1, eta=1.0)
    for i in range(2):
        la = make_rule("LA").direction(grads, i)
        full = make_rule("LOLA-full").direction(grads, i)
        sos = make_rule("SOS").direction(grads, i)
        # sos = la + p * (full - la) with one p in [0, 1] per run
        diff = full - la
        p = (sos - la).mul(diff).sum(-1) / diff.pow(2).sum(-1)
        assert torch.allclose(sos, la + p[:, None] * diff, atol=1e-10)
        assert (p >= -1e-12).all() and (p <= 1 + 1e-12).all()
        # far from a fixed point (|xi| >= b) and shaping aligned with LA: p = 1
        xi_big = grads.naive(i).norm(dim=-1) >= 0.1
        aligned = (diff * la).sum(-1) >= 0  # <-eta chi, LA> >= 0
        assert (xi_big & aligned).sum() >= 5 and (xi_big & ~aligned).sum() >= 3
        assert torch.allclose(p[xi_big & aligned], torch.ones_like(p[xi_big & aligned]))
        # opposed: p = min(1, -a |LA|^2 / <-eta chi, LA>) with a = 0.5
        opposed = xi_big & ~aligned
        expected = (-0.5 * la.pow(2).sum(-1) / (diff * la).sum(-1)).clamp(max=1.0)
        assert torch.allclose(p[opposed], expected[opposed], atol=1e-9)


# --------------------------------------------------------------------------- learning
def test_lola_reaches_tit_for_tat_and_naive_learning_defects_in_the_ipd():
    settings = ExactSettings(runs=10, seed=1)
    lola = train("ipd", "LOLA", "LOLA", settings)
    naive = train("ipd", "NL", "NL", settings)
    lola_probs = metrics.action_0_probabilities(lola.final_params)
    naive_probs = metrics.action_0_probabilities(naive.final_params)
    assert metrics.reward_per_step(-lola.losses[-1], 0.96).mean() > -1.15
    # The average profile is TFT; single agents may still cooperate after CD, a state
    # two TFT agents never visit (50-seed share in the benchmark: about half).
    assert metrics.is_tit_for_tat(lola_probs.mean((0, 1)))
    assert metrics.share_of_agents(metrics.is_tit_for_tat(lola_probs)) >= 30
    assert metrics.reward_per_step(-naive.losses[-1], 0.96).mean() < -1.9
    assert naive_probs[..., 0:4].mean() < 0.1  # defects after every history
    assert metrics.share_of_agents(metrics.is_tit_for_tat(naive_probs)) <= 10


def test_lola_reaches_nash_in_imp_and_naive_learning_does_not():
    settings = ExactSettings(runs=10, seed=1)
    lola = metrics.action_0_probabilities(train("imp", "LOLA", "LOLA", settings).final_params)
    naive = metrics.action_0_probabilities(train("imp", "NL", "NL", settings).final_params)
    assert np.abs(lola - 0.5).mean() < 0.05
    assert metrics.share_of_runs(metrics.is_run_at_nash(lola)) >= 80
    assert metrics.share_of_runs(metrics.is_run_at_nash(naive)) <= 20


def test_one_shot_matching_pennies_lola_converges_naive_does_not():
    settings = ExactSettings(runs=8, seed=0, updates=500)  # LOLA spirals in slowly here
    lola = metrics.action_0_probabilities(
        train("matching_pennies", "LOLA", "LOLA", settings).final_params
    )
    naive = metrics.action_0_probabilities(
        train("matching_pennies", "NL", "NL", settings).final_params
    )
    assert np.abs(lola - 0.5).max() < 0.01
    assert np.abs(naive - 0.5).mean() > 0.1


@pytest.mark.parametrize(
    "rule, target", [("LOLA-full", 4 / 3), ("LA", 1.0), ("SOS", 1.0), ("NL", 1.0)]
)
def test_tandem_fixed_points(rule, target):
    history = train("tandem", rule, rule, ExactSettings(lr=0.1, eta=0.1, runs=8, updates=300))
    assert np.abs(metrics.tandem_sum(history.final_params) - target).max() < 1e-3


def test_pairs_trained_together_equal_pairs_trained_alone():
    settings = ExactSettings(runs=4, updates=30, seed=3)
    pairs = [(a, "SOS") for a in RULE_NAMES] + [("HOLA-2", "NL")]
    together = train_pairs("ipd", pairs, settings)
    for pair, history in zip(pairs, together, strict=True):
        alone = train("ipd", *pair, settings)
        assert history.rules == pair
        # Batched solves round differently; mixing runs up would differ at O(1).
        np.testing.assert_allclose(history.params, alone.params, rtol=0, atol=1e-7)


def test_games_stacked_in_one_batch_equal_games_trained_alone():
    settings = ExactSettings(runs=3, updates=20, seed=4)
    pairs = [("LOLA", "NL"), ("SOS", "HOLA-2")]
    together = train_games(["ipd", "imp"], pairs, settings)
    for game in ("ipd", "imp"):
        alone = train_pairs(game, pairs, settings)
        for a, b in zip(together[game], alone, strict=True):
            assert a.game == game and a.gamma == b.gamma
            np.testing.assert_allclose(a.params, b.params, rtol=0, atol=1e-7)


def test_per_run_payoffs_and_discounts():
    gen = torch.Generator().manual_seed(6)
    a, b = torch.randn(2, 4, 5, generator=gen, dtype=torch.float64)
    ipd = coin_game_env.PRESETS["prisoners_dilemma"].payoff_array()
    imp = coin_game_env.PRESETS["matching_pennies"].payoff_array()
    v0, v1 = iterated_game_values(a, b, np.stack([ipd, ipd, imp, imp]), [0.96, 0.96, 0.9, 0.9])
    w0, _ = iterated_game_values(a[:2], b[:2], "prisoners_dilemma", 0.96)
    u0, _ = iterated_game_values(a[2:], b[2:], "matching_pennies", 0.9)
    assert torch.allclose(v0, torch.cat([w0, u0]), atol=1e-12)
    with pytest.raises(ValueError, match="gamma"):
        iterated_game_values(a, b, "prisoners_dilemma", [0.9, 0.9, 1.2, 0.9])
    with pytest.raises(ValueError, match=r"\[runs\] = \[4\]"):
        iterated_game_values(a, b, "prisoners_dilemma", [0.9, 0.9])
    with pytest.raises(ValueError, match=r"\[4, 2, 2, 2\]"):
        iterated_game_values(a, b, np.stack([ipd, imp]), 0.9)


def test_same_seed_same_runs_and_other_seed_other_runs():
    settings = ExactSettings(runs=3, updates=5, seed=9)
    a, b = train("imp", "SOS", "LOLA", settings), train("imp", "SOS", "LOLA", settings)
    c = train("imp", "SOS", "LOLA", ExactSettings(runs=3, updates=5, seed=10))
    assert np.array_equal(a.params, b.params) and not np.allclose(a.params, c.params)
    assert a.params.shape == (6, 3, 2, 5) and a.losses.shape == (6, 3, 2)


def test_diverging_runs_are_detected_frozen_and_reported():
    # L_i = theta_i^4 / 4: with lr 1, theta <- theta - theta^3 converges for |theta| < 1
    # and blows up (to inf, then nan) for |theta| > sqrt(2).
    game = DifferentiableGame("quartic", 1, lambda a, b: (a[:, 0] ** 4 / 4, b[:, 0] ** 4 / 4))
    init = torch.tensor([[0.5], [3.0], [0.2]], dtype=torch.float64)
    history = train(game, "NL", "NL", ExactSettings(updates=40), init=(init, init.clone()))
    assert history.diverged.tolist() == [False, True, False]
    t = history.diverged_at[1]
    assert 0 < t < 40
    assert np.isnan(history.params[t:, 1]).all() and np.isfinite(history.params[:t, 1]).all()
    assert np.isfinite(history.params[:, [0, 2]]).all()
    assert np.abs(history.final_params[[0, 2]]).max() < 0.2
    flags = np.ones((3, 2), dtype=bool)
    assert metrics.share_of_agents(flags, ~history.diverged) == 100.0
    assert metrics.mean_and_std(history.losses[-1], ~history.diverged)[0] < 1e-3


# --------------------------------------------------------------------------- bad settings
@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": -1.0},
        {"lr": float("nan")},
        {"lr": float("inf")},
        {"eta": -0.1},
        {"eta": float("nan")},
        {"lr": "1"},
        {"updates": -1},
        {"updates": 2.5},
        {"runs": 0},
        {"init_std": -1.0},
        {"sos_a": 2.0},
    ],
)
def test_bad_settings_raise_naming_the_setting(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        ExactSettings(**kwargs)


def test_unknown_names_and_wrong_shapes_raise():
    with pytest.raises(ValueError, match="unknown learner 'FOO'.*LOLA"):
        make_rule("FOO")
    with pytest.raises(ValueError, match="unknown learner"):
        make_rule("HOLA-0")
    with pytest.raises(ValueError, match="unknown game 'chess'.*ipd"):
        make_game("chess")
    with pytest.raises(ValueError, match="unknown payoff preset"):
        iterated_game_values(TFT, TFT, "poker", 0.9)
    with pytest.raises(ValueError, match=r"theta_0 must have shape \[runs, 5\]"):
        iterated_game_values(
            torch.zeros(3, 4, dtype=torch.float64),
            torch.zeros(3, 5, dtype=torch.float64),
            "prisoners_dilemma",
            0.96,
        )
    with pytest.raises(ValueError, match="same shape"):
        iterated_game_values(
            torch.zeros(3, 5, dtype=torch.float64),
            torch.zeros(2, 5, dtype=torch.float64),
            "prisoners_dilemma",
            0.96,
        )
    with pytest.raises(ValueError, match="gamma"):
        iterated_game_values(TFT, TFT, "prisoners_dilemma", 1.0)
    with pytest.raises(ValueError, match="gamma"):
        iterated_game("prisoners_dilemma", gamma=1.5)
    with pytest.raises(ValueError, match="gamma is required"):
        iterated_game(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"theta_1 must have shape \[runs, 5\]"):
        train(
            "ipd",
            "LOLA",
            "NL",
            ExactSettings(runs=2, updates=1),
            init=(torch.zeros(2, 5), torch.zeros(5)),
        )
