"""The envs with third-party clients (issue 17): channels-last coin planes for RLlib's
CNNs and SuperSuit's frame stacking, RLlib's ParallelPettingZooEnv (skipped when RLlib is
not installed), and PettingZoo's api_test on NumPy Discrete observations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pettingzoo.test import api_test, parallel_api_test

import coin_game_env
from coin_game_env import chicken_v0, imp_v0, ipd_v0, matrix_game_v0, stag_hunt_v0

AGENTS = ("player_0", "player_1")
LAYOUT_OPTIONS = st.fixed_dictionaries(
    {
        "grid_size": st.integers(2, 9),  # 9: beyond the observation table (the scatter path)
        "num_coins": st.sampled_from([1, 2]),
        "stay_action": st.booleans(),
        "egocentric": st.booleans(),
        "max_cycles": st.integers(1, 12),
    }
)


def to_channels_last(planes: np.ndarray) -> np.ndarray:
    """[..., 4, H, W] -> [..., H, W, 4]."""
    return np.moveaxis(planes, -3, -1)


@given(options=LAYOUT_OPTIONS, seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None)
def test_channels_last_round_trips_against_the_planes_in_the_vector_form(options, seed):
    planes = coin_game_env.make_vec("coin_game_v0", 5, seed=seed, **options)
    hwc = coin_game_env.make_vec("coin_game_v0", 5, seed=seed, obs_type="planes_hwc", **options)
    g = options["grid_size"]
    assert hwc.observation_space.shape == (g, g, 4) and planes.observation_space.shape == (4, g, g)
    obs_planes, _ = planes.reset()
    obs_hwc, _ = hwc.reset()
    actions = np.random.default_rng(seed).integers(0, planes.action_space.n, (25, 5, 2))
    for step_actions in actions:
        assert obs_hwc.shape == (5, 2, g, g, 4) and obs_hwc.dtype == np.float32
        np.testing.assert_array_equal(obs_hwc, to_channels_last(obs_planes))
        np.testing.assert_array_equal(np.moveaxis(obs_hwc, -1, -3), obs_planes)  # and back
        *out_planes, info_planes = planes.step(step_actions)
        *out_hwc, info_hwc = hwc.step(step_actions)
        obs_planes, obs_hwc = out_planes[0], out_hwc[0]
        for a, b in zip(out_planes[1:], out_hwc[1:], strict=True):  # rules unchanged
            np.testing.assert_array_equal(a, b)
        if "final_obs" in info_planes:
            np.testing.assert_array_equal(info_hwc["final_obs"], to_channels_last(info_planes["final_obs"]))


@pytest.mark.parametrize("egocentric", [False, True])
def test_channels_last_parallel_env_round_trips_and_passes_the_api_test(egocentric):
    planes = coin_game_env.make("coin_game_v0", egocentric=egocentric)
    hwc = coin_game_env.make("coin_game_v0", egocentric=egocentric, obs_type="planes_hwc")
    obs_p, _ = planes.reset(seed=4)
    obs_h, _ = hwc.reset(seed=4)
    for red, blue in np.random.default_rng(4).integers(0, 4, (200, 2)):
        for agent in AGENTS:
            np.testing.assert_array_equal(obs_h[agent], to_channels_last(obs_p[agent]))
            assert hwc.observation_space(agent).contains(obs_h[agent])
        if not planes.agents:
            obs_p, _ = planes.reset()
            obs_h, _ = hwc.reset()
            continue
        obs_p, *_ = planes.step({"player_0": red, "player_1": blue})
        obs_h, *_ = hwc.step({"player_0": red, "player_1": blue})
    parallel_api_test(coin_game_env.make("coin_game_v0", obs_type="planes_hwc"), num_cycles=100)


def test_supersuit_frame_stack_stacks_on_the_channel_axis():
    ss = pytest.importorskip("supersuit")
    stacked = ss.frame_stack_v1(coin_game_env.make("coin_game_v0", obs_type="planes_hwc"), 3)
    plain = coin_game_env.make("coin_game_v0", obs_type="planes_hwc")
    assert stacked.observation_space("player_0").shape == (3, 3, 12)  # 3 frames x 4 planes
    history = [plain.reset(seed=1)[0]["player_0"]]
    obs = stacked.reset(seed=1)[0]["player_0"]
    for red, blue in [(0, 1), (2, 3), (1, 1), (3, 0)]:
        # The newest frame is last; missing older frames are zeros (SuperSuit's padding).
        frames = [np.zeros((3, 3, 4), np.float32)] * 3 + history
        np.testing.assert_array_equal(obs, np.concatenate(frames[-3:], axis=-1))
        obs = stacked.step({"player_0": red, "player_1": blue})[0]["player_0"]
        history.append(plain.step({"player_0": red, "player_1": blue})[0]["player_0"])
    # The channel-first planes would be stacked on the grid's width instead.
    assert ss.frame_stack_v1(coin_game_env.make("coin_game_v0"), 3).observation_space("player_0").shape == (4, 3, 9)


def test_rllib_parallel_pettingzoo_env_steps_the_coin_game():
    wrappers = pytest.importorskip("ray.rllib.env.wrappers.pettingzoo_env")
    env = wrappers.ParallelPettingZooEnv(coin_game_env.make("coin_game_v0", obs_type="planes_hwc", max_cycles=5))
    obs, infos = env.reset(seed=0)
    assert set(obs) == set(AGENTS) and obs["player_0"].shape == (3, 3, 4)
    assert env.observation_space["player_0"].shape == (3, 3, 4)
    for _ in range(5):
        obs, rewards, terminateds, truncateds, infos = env.step({agent: 0 for agent in AGENTS})
        assert set(rewards) == set(AGENTS) and obs["player_1"].shape == (3, 3, 4)
    assert truncateds["__all__"] and not terminateds["__all__"]


DISCRETE_MODULES = [ipd_v0, imp_v0, chicken_v0, stag_hunt_v0, matrix_game_v0]


@pytest.mark.parametrize("module", DISCRETE_MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_api_tests_see_numpy_discrete_observations(module):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        api_test(module.env(), num_cycles=300)
        parallel_api_test(module.parallel_env(), num_cycles=300)
    messages = {str(w.message) for w in caught}
    assert "Observation is not a NumPy array" not in messages
    # The only observation remark left is PettingZoo's blank-image heuristic, which fires
    # on the state CC = 0: an array holding 0 is "all zeros" whatever its form.
    assert {m for m in messages if m.startswith("Observation")} <= {"Observation numpy array is all zeros."}
    obs, _ = module.parallel_env().reset(seed=0)
    for value in obs.values():
        assert isinstance(value, np.ndarray) and value.shape == () and value.dtype == np.int64
        assert module.parallel_env().observation_space("player_0").contains(value)
