"""Clear errors for the environments' remaining bad inputs (issue 14, item 9), table-driven:
payoffs that float32 rewards would change, rendering before reset, impossible ``num_envs``
and bad seeds. Every error names the option and what is allowed."""

from __future__ import annotations

import re

import numpy as np
import pytest

import coin_game_env
from coin_game_env.coin_game import CoinGameCore
from coin_game_env.core import format_bytes, physical_memory_bytes
from coin_game_env.matrix_game import MatrixGameCore

PD = [[[-1.0, -1.0], [-3.0, 0.0]], [[0.0, -3.0], [-2.0, -2.0]]]


def payoffs_with(value: float) -> list:
    """The prisoner's dilemma with player_1's (C, D) payoff replaced by ``value``."""
    payoffs = [[list(cell) for cell in row] for row in PD]
    payoffs[0][1][1] = value
    return payoffs


# --- payoffs after the float32 cast ----------------------------------------------
PAYOFF_RANGE = r"each value 0 or of magnitude in \[1\.175e-38, 3\.403e\+38\]"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1e39, r"got 1e\+39 \(float32 makes it np\.float32\(inf\)\)"),  # overflows to inf
        (-1e39, r"got -1e\+39 \(float32 makes it np\.float32\(-inf\)\)"),
        (1e-50, r"got 1e-50 \(float32 makes it np\.float32\(0\.0\)\)"),  # underflows to 0
        (-1e-50, r"got -1e-50"),
        (1e-40, r"got 1e-40"),  # a float32 subnormal: most of its digits are lost
    ],
)
def test_payoffs_that_float32_rewards_would_change_are_refused(value, shown):
    for make in (coin_game_env.make, lambda env_id, **kw: coin_game_env.make_vec(env_id, 2, **kw)):
        with pytest.raises(ValueError, match=rf"payoffs must be finite after the cast to float32.*{PAYOFF_RANGE}.*{shown}"):
            make("matrix_game_v0", payoffs=payoffs_with(value))


@pytest.mark.parametrize("value", [0.0, -0.0, 3.4e38, -3.4e38, 1.2e-38, 0.1, 1e30])
def test_payoffs_inside_the_float32_range_are_kept(value):
    env = coin_game_env.make("matrix_game_v0", payoffs=payoffs_with(value))
    env.reset(seed=0)
    _, rewards, *_ = env.step({"player_0": 0, "player_1": 1})
    assert rewards["player_1"] == float(np.float32(value))  # the float32 reward, not 0 or inf
    assert np.isfinite(rewards["player_1"]) and (rewards["player_1"] != 0) == (value != 0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_payoffs_are_refused(bad):
    with pytest.raises(ValueError, match="payoffs must be finite"):
        coin_game_env.make("matrix_game_v0", payoffs=payoffs_with(bad))


# --- render before reset -----------------------------------------------------------
@pytest.mark.parametrize("env_id", ["ipd_v0", "matrix_game_v0", "coin_game_v0"])
@pytest.mark.parametrize("render_mode", ["ansi", "rgb_array", "human"])
def test_render_before_reset_is_refused(env_id, render_mode):
    env = coin_game_env.make(env_id, render_mode=render_mode)
    with pytest.raises(RuntimeError, match=rf"{env_id}: render\(\) called before reset\(\).*call reset\(\) first"):
        env.render()
    env.reset(seed=0)
    assert (env.render() is None) == (render_mode == "human")  # after reset it draws
    env.close()


@pytest.mark.parametrize("render_mode", ["ansi", "rgb_array"])
def test_vector_render_before_reset_is_refused(render_mode):
    venv = coin_game_env.make_vec("coin_game_v0", 2, seed=0, render_mode=render_mode)
    with pytest.raises(RuntimeError, match=r"VecEnv\.render\(\) called before reset\(\)"):
        venv.render()
    venv.reset()
    assert venv.render() is not None


def test_render_after_the_episode_ended_shows_the_last_board():
    env = coin_game_env.make("ipd_v0", render_mode="ansi", max_cycles=1)
    env.reset(seed=0)
    env.step({"player_0": 0, "player_1": 1})
    assert env.agents == [] and "step 1/1" in env.render()


# --- impossible num_envs ------------------------------------------------------------
@pytest.mark.parametrize(
    ("env_id", "options", "bytes_per_game"),
    [
        ("ipd_v0", {}, 80),
        ("coin_game_v0", {}, 8 * 5 + 2 * 4 * 4 * 9),
        ("coin_game_v0", {"grid_size": 10, "num_coins": 2}, 8 * 7 + 2 * 4 * 4 * 100),
    ],
)
def test_impossible_num_envs_names_num_envs_and_the_memory(env_id, options, bytes_per_game):
    if physical_memory_bytes() is None:
        pytest.skip("the OS does not report its memory")
    num_envs = 2**40
    needed = format_bytes(num_envs * bytes_per_game)
    message = rf"num_envs={num_envs} needs at least {re.escape(needed)} \({bytes_per_game} bytes per game"
    with pytest.raises(ValueError, match=message + r".*of memory; use a smaller num_envs"):
        coin_game_env.make_vec(env_id, num_envs, **options)


def test_num_envs_that_fits_is_accepted_and_the_check_uses_the_machine_memory():
    memory = physical_memory_bytes()
    if memory is None:
        pytest.skip("the OS does not report its memory")
    per_game = 80  # MatrixGameCore's estimate
    MatrixGameCore(1000)  # fits
    with pytest.raises(ValueError, match="num_envs="):
        MatrixGameCore(memory // per_game + 1)
    with pytest.raises(ValueError, match="num_envs="):
        CoinGameCore(memory // 328 + 1)


def test_format_bytes():
    assert [format_bytes(b) for b in (5, 2048, 3 * 2**30, 2**40 * 80)] == ["5.0 B", "2.0 KiB", "3.0 GiB", "80.0 TiB"]


# --- bad seeds -------------------------------------------------------------------------
BAD_SEEDS = [
    (-1, r"got -1$"),
    (1.5, r"got 1\.5 \(type float\)"),
    (2.0, r"got 2\.0 \(type float\)"),
    (2**64, r"got 18446744073709551616$"),
    (10**30, r"got 10{30}$"),
    ("0", r"got '0' \(type str\)"),
    (True, r"got True \(type bool\)"),
    (np.float64(3.0), r"got np\.float64\(3\.0\) \(type float64\)"),
    ([1, 2], r"got \[1, 2\] \(type list\)"),
]
SEED_RULE = r"seed must be None or an integer in \[0, 2\*\*64 - 1\], "


@pytest.mark.parametrize(("seed", "shown"), BAD_SEEDS, ids=[repr(s) for s, _ in BAD_SEEDS])
@pytest.mark.parametrize("env_id", ["ipd_v0", "coin_game_v0"])
def test_bad_seeds_name_seed_and_what_is_allowed(env_id, seed, shown):
    env = coin_game_env.make(env_id)
    with pytest.raises(ValueError, match=SEED_RULE + shown):
        env.reset(seed=seed)
    with pytest.raises(ValueError, match=SEED_RULE + shown):
        coin_game_env.make_vec(env_id, 2, seed=seed)
    venv = coin_game_env.make_vec(env_id, 2, seed=0)
    with pytest.raises(ValueError, match=SEED_RULE + shown):
        venv.reset(seed=seed)


@pytest.mark.parametrize("seed", [0, 2**64 - 1, np.uint64(2**64 - 1), np.int32(7), 12345])
def test_every_allowed_seed_works_and_fixes_the_game(seed):
    first = coin_game_env.make("coin_game_v0")
    second = coin_game_env.make("coin_game_v0")
    np.testing.assert_array_equal(first.reset(seed=seed)[0]["player_0"], second.reset(seed=seed)[0]["player_0"])
    assert first.core.board(0) == second.core.board(0)
    venv = coin_game_env.make_vec("coin_game_v0", 3, seed=seed)
    assert venv.reset()[0].shape == (3, 2, 4, 3, 3)
