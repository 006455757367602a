"""Iterated matrix games: rules by hand, PettingZoo's own tests, faces agree, bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test

import coin_game_env
from coin_game_env import chicken_v0, imp_v0, ipd_v0, matrix_game_v0, stag_hunt_v0

MODULES = [ipd_v0, imp_v0, chicken_v0, stag_hunt_v0, matrix_game_v0]
MATRIX_IDS = ["ipd_v0", "imp_v0", "chicken_v0", "stag_hunt_v0", "matrix_game_v0"]
C, D = 0, 1
P0, P1 = "player_0", "player_1"


def play(env_id: str, joint_actions: list[tuple[int, int]], **options):
    """Reset a ParallelEnv and play the joint actions; return the list of step outputs."""
    env = coin_game_env.make(env_id, **options)
    first_obs, _ = env.reset(seed=0)
    return first_obs, [env.step({P0: a0, P1: a1}) for a0, a1 in joint_actions]


# Payoffs typed in from the LOLA paper / the modules' spec tables, not from the code.
HAND_PAYOFFS = {
    "ipd_v0": {(C, C): (-1, -1), (C, D): (-3, 0), (D, C): (0, -3), (D, D): (-2, -2)},
    "imp_v0": {(0, 0): (1, -1), (0, 1): (-1, 1), (1, 0): (-1, 1), (1, 1): (1, -1)},
    "chicken_v0": {(0, 0): (0, 0), (0, 1): (-1, 1), (1, 0): (1, -1), (1, 1): (-10, -10)},
    "stag_hunt_v0": {(0, 0): (4, 4), (0, 1): (1, 3), (1, 0): (3, 1), (1, 1): (2, 2)},
}


@pytest.mark.parametrize("env_id", sorted(HAND_PAYOFFS))
@pytest.mark.parametrize("joint", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_every_payoff_cell(env_id, joint):
    _, [(_, rewards, _, _, _)] = play(env_id, [joint])
    assert (rewards[P0], rewards[P1]) == HAND_PAYOFFS[env_id][joint]


def test_custom_payoffs_and_presets_by_name():
    custom = [[[3, 3], [0, 5]], [[5, 0], [1, 1]]]
    _, steps = play("matrix_game_v0", [(0, 1), (1, 1)], payoffs=custom)
    assert [(s[1][P0], s[1][P1]) for s in steps] == [(0, 5), (1, 1)]
    _, steps = play("matrix_game_v0", [(1, 0)], payoffs="prisoners_dilemma")
    assert (steps[0][1][P0], steps[0][1][P1]) == (0, -3)


def test_own_perspective_observations():
    first, steps = play("ipd_v0", [(C, D), (D, D), (C, C), (D, C)])
    assert first == {P0: 4, P1: 4}
    seen = [(s[0][P0], s[0][P1]) for s in steps]
    # CD=1 from player_0's side is DC=2 from player_1's, and so on.
    assert seen == [(1, 2), (3, 3), (0, 0), (2, 1)]
    # Discrete observations are 0-d int64 numpy arrays (issue 17: PettingZoo expects arrays).
    for obs in [first] + [s[0] for s in steps]:
        assert all(isinstance(o, np.ndarray) and o.shape == () and o.dtype == np.int64 for o in obs.values())


def test_onehot_observations():
    env = coin_game_env.make("ipd_v0", obs_type="onehot")
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs[P0], [0, 0, 0, 0, 1])
    obs, *_ = env.step({P0: C, P1: D})
    np.testing.assert_array_equal(obs[P0], [0, 1, 0, 0, 0])
    np.testing.assert_array_equal(obs[P1], [0, 0, 1, 0, 0])
    assert obs[P0].dtype == np.float32 and env.observation_space(P0).contains(obs[P0])


def test_imp_is_zero_sum():
    payoffs = coin_game_env.make("imp_v0").core.payoffs
    np.testing.assert_array_equal(payoffs.sum(axis=-1), np.zeros((2, 2)))


def test_episode_truncates_at_max_cycles_and_refuses_more_steps():
    env = coin_game_env.make("ipd_v0")
    env.reset(seed=0)
    for t in range(150):
        _, _, terms, truncs, _ = env.step({P0: C, P1: C})
        assert truncs[P0] == truncs[P1] == (t == 149)
        assert not terms[P0]
    assert env.agents == []
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step({P0: C, P1: C})
    env.reset()
    assert env.agents == [P0, P1]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_pettingzoo_api_and_seed_tests(module):
    parallel_api_test(module.parallel_env(), num_cycles=300)
    parallel_seed_test(module.parallel_env)
    api_test(module.env(), num_cycles=300)
    parallel_api_test(module.parallel_env(obs_type="onehot", max_cycles=7), num_cycles=30)


def rollout_parallel(env_id: str, seed: int, actions: np.ndarray, **options):
    """Play ``actions`` [T, 2] in a ParallelEnv, resetting at episode ends; record everything."""
    env = coin_game_env.make(env_id, **options)
    obs, _ = env.reset(seed=seed)
    record = [("reset", obs[P0], obs[P1])]
    for a0, a1 in actions:
        obs, rew, term, trunc, _ = env.step({P0: a0, P1: a1})
        record.append((obs[P0], obs[P1], rew[P0], rew[P1], term[P0], trunc[P0]))
        if not env.agents:
            obs, _ = env.reset()
            record.append(("reset", obs[P0], obs[P1]))
    return record


@pytest.mark.parametrize("env_id", ["ipd_v0", "imp_v0"])
def test_full_episode_determinism(env_id):
    actions = np.random.default_rng(1).integers(0, 2, size=(2 * 150 + 10, 2))
    first = rollout_parallel(env_id, 7, actions)
    second = rollout_parallel(env_id, 7, actions)
    assert len(first) == len(actions) + 3  # three resets: start and two episode ends
    assert first == second


@pytest.mark.parametrize("obs_type", ["discrete", "onehot"])
def test_vector_form_matches_parallel_env(obs_type):
    num_envs, steps, max_cycles = 4, 13, 5
    actions = np.random.default_rng(3).integers(0, 2, size=(steps, num_envs, 2))
    venv = coin_game_env.make_vec("ipd_v0", num_envs, seed=0, max_cycles=max_cycles, obs_type=obs_type)
    vobs, _ = venv.reset()
    per_game = [coin_game_env.make("ipd_v0", max_cycles=max_cycles, obs_type=obs_type) for _ in range(num_envs)]
    pobs = [env.reset(seed=0)[0] for env in per_game]
    for t in range(steps):
        for i in range(num_envs):
            np.testing.assert_array_equal(vobs[i, 0], pobs[i][P0])
            np.testing.assert_array_equal(vobs[i, 1], pobs[i][P1])
        vobs, vrew, vterm, vtrunc, vinfo = venv.step(actions[t])
        for i, env in enumerate(per_game):
            obs, rew, term, trunc, _ = env.step({P0: actions[t, i, 0], P1: actions[t, i, 1]})
            assert (vrew[i, 0], vrew[i, 1]) == (rew[P0], rew[P1])
            assert (vterm[i], vtrunc[i]) == (term[P0], trunc[P0])
            if trunc[P0]:
                np.testing.assert_array_equal(vinfo["final_obs"][i, 0], obs[P0])
                obs, _ = env.reset()
            pobs[i] = obs
    assert vrew.dtype == np.float32 and vobs.shape[:2] == (num_envs, 2)


def test_vector_episode_return_reported_at_the_end():
    venv = coin_game_env.make_vec("ipd_v0", 2, seed=0, max_cycles=3)
    venv.reset()
    for _ in range(2):
        *_, info = venv.step(np.array([[C, D], [D, D]]))
        assert "episode_return" not in info
    *_, info = venv.step(np.array([[C, D], [D, D]]))
    np.testing.assert_array_equal(info["episode_return"], [[-9, 0], [-6, -6]])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=1, max_size=40))
def test_random_action_sequences_follow_the_rules(joint_actions):
    first, steps = play("ipd_v0", joint_actions, max_cycles=40)
    assert first == {P0: 4, P1: 4}
    for (a0, a1), (obs, rew, _, _, _) in zip(joint_actions, steps, strict=True):
        assert (obs[P0], obs[P1]) == (2 * a0 + a1, 2 * a1 + a0)
        assert (rew[P0], rew[P1]) == HAND_PAYOFFS["ipd_v0"][(a0, a1)]
    assert steps[-1][3][P0] == (len(joint_actions) == 40)


# --- bad input ---------------------------------------------------------------


def test_unknown_env_id_lists_known_ids():
    with pytest.raises(KeyError, match="known ids: .*ipd_v0"):
        coin_game_env.make("ipd_v9")
    with pytest.raises(KeyError, match="known ids"):
        coin_game_env.make_vec("nope", 4)


def test_unknown_option_lists_allowed_ones():
    with pytest.raises(TypeError, match="no option.*'max_steps'.*allowed.*max_cycles"):
        coin_game_env.make("ipd_v0", max_steps=10)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_cycles": 0}, "max_cycles must be an integer >= 1, got 0"),
        ({"max_cycles": 2.5}, "max_cycles must be an integer"),
        ({"obs_type": "image"}, "obs_type must be one of"),
        ({"payoffs": [[1, 2], [3, 4]]}, r"shape \(2, 2, 2\).*got shape \(2, 2\)"),
        ({"payoffs": "prisoner"}, "unknown payoff preset 'prisoner'; known"),
        ({"payoffs": [[[1, np.nan], [0, 0]], [[0, 0], [0, 0]]]}, "must be finite"),
    ],
)
def test_impossible_options(options, message):
    with pytest.raises(ValueError, match=message):
        coin_game_env.make("matrix_game_v0", **options)


def test_bad_actions_in_parallel_env():
    env = coin_game_env.make("ipd_v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action 2 of player_1 is outside the allowed range \[0, 1\]"):
        env.step({P0: 0, P1: 2})
    with pytest.raises(ValueError, match=r"action -1 of player_0 is outside the allowed range"):
        env.step({P0: -1, P1: 0})
    with pytest.raises(ValueError, match="missing \\['player_1'\\]"):
        env.step({P0: 0})
    with pytest.raises(ValueError, match="unexpected \\['player_2'\\]"):
        env.step({P0: 0, P1: 0, "player_2": 0})
    with pytest.raises(ValueError, match="must be an integer"):
        env.step({P0: 0.5, P1: 0})
    with pytest.raises(ValueError, match="must be an integer"):
        env.step({P0: True, P1: 0})
    with pytest.raises(KeyError, match="unknown agent 'player_7'"):
        env.action_space("player_7")
    # Nothing was consumed by the refused steps.
    _, rew, *_ = env.step({P0: 0, P1: 0})
    assert rew == {P0: -1.0, P1: -1.0}
    assert env.core.t[0] == 1


def test_bad_batches_in_vector_form():
    venv = coin_game_env.make_vec("ipd_v0", 3, seed=0)
    with pytest.raises(RuntimeError, match="before reset"):
        venv.step(np.zeros((3, 2), dtype=np.int64))
    venv.reset()
    with pytest.raises(ValueError, match=r"shape \(3, 2\).*got \(2, 3\)"):
        venv.step(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"action 5 is outside the allowed range \[0, 1\]"):
        venv.step(np.array([[0, 1], [5, 0], [0, 0]]))
    with pytest.raises(ValueError, match="must be integers"):
        venv.step(np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="got dtype bool"):
        venv.step(np.zeros((3, 2), dtype=bool))
    with pytest.raises(ValueError, match="num_envs must be an integer >= 1, got 0"):
        coin_game_env.make_vec("ipd_v0", 0)
    actions = np.array([[0, 1], [1, 1], [0, 0]])
    venv.step(actions)
    np.testing.assert_array_equal(actions, [[0, 1], [1, 1], [0, 0]])  # caller's array untouched


# --- rendering ---------------------------------------------------------------


def test_render_modes():
    env = coin_game_env.make("ipd_v0", render_mode="rgb_array")
    env.reset(seed=0)
    env.step({P0: C, P1: D})
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    # The highlighted cell is (row C, column D): its centre-left pixel is the highlight colour.
    from coin_game_env.rendering import HIGHLIGHT

    assert tuple(frame[60 + 10, 110 + 110 + 10]) == HIGHLIGHT
    assert tuple(frame[60 + 10, 110 + 10]) != HIGHLIGHT
    text = coin_game_env.make("ipd_v0", render_mode="ansi")
    text.reset(seed=0)
    text.step({P0: C, P1: D})
    assert "cooperate / defect" in text.render() and "player_0 -3.00" in text.render()
    human = coin_game_env.make("imp_v0", render_mode="human")
    human.reset(seed=0)
    human.step({P0: 0, P1: 1})
    human.close()
    with pytest.raises(ValueError, match="render_mode must be None or one of"):
        coin_game_env.make("ipd_v0", render_mode="video")


def test_check_number_bounds_and_messages() -> None:
    """The shared number check behind every learner config: bounds, types, the message."""
    from coin_game_env.core import check_number

    assert check_number("lr", 0) == 0.0 and check_number("lr", np.float32(0.5), high=1.0) == 0.5
    for value, kwargs, message in (
        (0, {"allow_low": False}, "lr must be a finite number > 0, got 0"),
        (-0.1, {}, "lr must be a finite number >= 0, got -0.1"),
        (1.5, {"high": 1.0}, "lr must be a finite number >= 0 and <= 1, got 1.5"),
        (float("nan"), {}, "lr must be a finite number >= 0, got nan"),
        (True, {}, "lr must be a finite number >= 0, got True"),
        ("0.1", {}, "lr must be a finite number >= 0, got '0.1'"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            check_number("lr", value, **kwargs)


@pytest.mark.parametrize("obs_type", ["discrete", "onehot"])
@pytest.mark.parametrize("payoffs", ["prisoners_dilemma", "matching_pennies", [[[3, 3], [0, 5]], [[5, 0], [1, 1]]]])
def test_one_game_path_equals_the_generic_batched_path(obs_type, payoffs):
    """The ParallelEnv's path (Python ints) gives what the batched step gives, value and type."""
    from coin_game_env.core import GameCore
    from coin_game_env.matrix_game import MatrixGameCore

    fast = MatrixGameCore(1, payoffs, max_cycles=7, obs_type=obs_type)
    generic = MatrixGameCore(1, payoffs, max_cycles=7, obs_type=obs_type)
    rng = np.random.default_rng(0)
    for t, action in enumerate(rng.integers(0, 2, (30, 2)).tolist()):
        if t % 7 == 0:
            fast.reset(rng)
            generic.reset(rng)
        obs, rewards, terminated, truncated, infos = fast.step_one_game(action, rng)
        obs_b, rewards_b, terminated_b, truncated_b, infos_b = GameCore.step_one_game(generic, action, rng)
        for mine, batched in zip(obs, obs_b, strict=True):
            assert type(mine) is type(batched) is np.ndarray and mine.dtype == batched.dtype
            np.testing.assert_array_equal(mine, batched)
        assert list(rewards) == rewards_b and all(type(r) is float for r in rewards)
        assert (terminated, truncated, infos) == (terminated_b, truncated_b, infos_b) == (False, t % 7 == 6, None)
        for state in ("state", "last_actions", "t"):
            np.testing.assert_array_equal(getattr(fast, state), getattr(generic, state))
        obs[0][...] = 3  # the caller owns the arrays it gets: the tables stay intact
    # After (C, D): player_0 sees CD = 1, whatever was written into earlier observations.
    first_view = fast.step_one_game([0, 1], rng)[0][0]
    np.testing.assert_array_equal(first_view, 1 if obs_type == "discrete" else np.eye(5)[1])


def test_matrix_game_text_render_names_the_game():
    def text(**options) -> str:
        env = coin_game_env.make("matrix_game_v0", render_mode="ansi", **options)
        env.reset(seed=0)
        env.step({P0: 0, P1: 1})
        return env.render()

    assert text().startswith("matrix_game_v0 (prisoners_dilemma) step 1/150")
    assert text(payoffs="stag_hunt").startswith("matrix_game_v0 (stag_hunt) step 1/150: last joint action stag / hare")
    custom = text(payoffs=[[[3, 3], [0, 5]], [[5, 0], [1, 1]]])
    assert custom.startswith("matrix_game_v0 (custom payoffs (0,0) 3/3, (0,1) 0/5, (1,0) 5/0, (1,1) 1/1) step 1/150")
    assert "prisoners_dilemma" not in custom and "player_1 +5.00" in custom
    ipd = coin_game_env.make("ipd_v0", render_mode="ansi")
    ipd.reset(seed=0)
    assert ipd.render().startswith("ipd_v0 (prisoners_dilemma) step 0/150: last joint action start")
