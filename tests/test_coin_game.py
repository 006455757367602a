"""Coin game: PettingZoo API, every rule on hand-built boards, properties over
random play, determinism, vector/ParallelEnv agreement and input errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test

from coin_game_env import coin_game_v0, make, make_vec
from coin_game_env.coin_game import (
    BLUE,
    OBS_TYPES,
    RED,
    CoinGameCore,
    free_cell,
    free_cell_one_game,
)

RIGHT, LEFT, DOWN, UP, STAY = range(5)
AGENTS = ("player_0", "player_1")

# The default (the paper's rules) and each variant option on its own, plus a mix.
VARIANTS = [
    {},
    {"grid_size": 4},
    {"grid_size": 8},
    {"max_cycles": 50},
    {"num_coins": 2},
    {"stay_action": True},
    {"egocentric": True},
    {"obs_type": "flat"},
    {"grid_size": 5, "num_coins": 2, "stay_action": True, "egocentric": True, "obs_type": "flat"},
]
VARIANT_IDS = [",".join(f"{k}={v}" for k, v in opts.items()) or "paper" for opts in VARIANTS]


def cell(grid_size: int, row: int, col: int) -> int:
    return row * grid_size + col


def board(
    agents: list[tuple[int, int]],
    coins: list[tuple[int, int]],
    colours: list[int],
    grid_size: int = 3,
    num_envs: int = 1,
    **options,
) -> CoinGameCore:
    """A core whose every game is set to the given board."""
    core = CoinGameCore(num_envs, grid_size=grid_size, num_coins=len(coins), **options)
    core.reset(np.random.default_rng(0))
    core.agent_cells[:] = [cell(grid_size, *rc) for rc in agents]
    core.coin_cells[:] = [cell(grid_size, *rc) for rc in coins]
    core.coin_colours[:] = colours
    return core


def step(core: CoinGameCore, red_action: int, blue_action: int, seed: int = 0):
    actions = np.tile(np.array([[red_action, blue_action]], dtype=np.int64), (core.num_envs, 1))
    return core.step(actions, np.random.default_rng(seed))


def play(env_factory, seed: int, actions: np.ndarray) -> list:
    """Every output of a ParallelEnv over ``actions`` [steps, 2], resetting at episode ends."""
    env = env_factory()
    record = [env.reset(seed=seed)]
    for red, blue in actions:
        if not env.agents:
            record.append(env.reset())
        record.append(env.step({"player_0": int(red), "player_1": int(blue)}))
    return record


def assert_same(a, b) -> None:
    """Recursive exact equality of nested dicts/tuples/lists of arrays and scalars."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, tuple | list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    else:
        assert type(a) is type(b) and np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------- PettingZoo API
@pytest.mark.parametrize("options", VARIANTS, ids=VARIANT_IDS)
def test_pettingzoo_api_seed_and_aec(options):
    parallel_api_test(make("coin_game_v0", **options), num_cycles=200)
    parallel_seed_test(lambda: coin_game_v0.parallel_env(**options), num_cycles=200)
    api_test(coin_game_v0.env(**options), num_cycles=200)


@pytest.mark.parametrize("options", VARIANTS, ids=VARIANT_IDS)
def test_full_episode_determinism(options):
    env = make("coin_game_v0", **options)
    steps = 2 * env.core.max_cycles + 3  # two whole episodes and the start of a third
    actions = np.random.default_rng(1).integers(0, env.core.num_actions, (steps, 2))
    factory = lambda: make("coin_game_v0", **options)  # noqa: E731
    first = play(factory, 7, actions)
    assert_same(first, play(factory, 7, actions))
    # The check can fail: another seed gives another trajectory.
    other = play(factory, 8, actions)
    with pytest.raises(AssertionError):
        assert_same(first, other)


@pytest.mark.parametrize("options", VARIANTS, ids=VARIANT_IDS)
def test_vector_env_matches_parallel_env(options):
    vec = make_vec("coin_game_v0", num_envs=1, seed=3, **options)
    env = make("coin_game_v0", **options)
    steps = env.core.max_cycles + 20  # crosses an episode end (auto-reset in the vector env)
    actions = np.random.default_rng(2).integers(0, env.core.num_actions, (steps, 2))
    vec_obs, _ = vec.reset()
    obs, _ = env.reset(seed=3)
    for red, blue in actions:
        for i, agent in enumerate(AGENTS):
            np.testing.assert_array_equal(vec_obs[0, i], obs[agent])
        vec_obs, vec_rew, vec_term, vec_trunc, vec_info = vec.step(np.array([[red, blue]]))
        obs, rew, term, trunc, info = env.step({"player_0": red, "player_1": blue})
        for i, agent in enumerate(AGENTS):
            assert vec_rew[0, i] == rew[agent]
            assert vec_term[0] == term[agent] and vec_trunc[0] == trunc[agent]
            for key in ("own_coins", "other_coins"):
                assert vec_info[key][0, i] == info[agent][key]
        if vec_trunc[0]:
            for i, agent in enumerate(AGENTS):
                np.testing.assert_array_equal(vec_info["final_obs"][0, i], obs[agent])
            obs, _ = env.reset()  # same generator, no new seed: the same draws as the auto-reset
    assert env.core.t[0] == 20


# --------------------------------------------------------------- rules by hand
def test_own_pickup_scores_one_and_respawns_the_other_colour():
    core = board([(0, 0), (2, 2)], [(0, 1)], [RED])
    out = step(core, RIGHT, LEFT)  # red onto its coin; blue to (2, 1)
    np.testing.assert_array_equal(out.rewards, [[1.0, 0.0]])
    np.testing.assert_array_equal(out.info["own_coins"], [[1, 0]])
    np.testing.assert_array_equal(out.info["other_coins"], [[0, 0]])
    assert out.rewards.dtype == np.float32 and out.info["own_coins"].dtype == np.int32
    assert core.coin_colours[0, 0] == BLUE
    assert core.coin_cells[0, 0] not in (cell(3, 0, 1), cell(3, 2, 1))


@pytest.mark.parametrize("coin_colour, picker", [(RED, BLUE), (BLUE, RED)])
def test_picking_the_other_colour_costs_its_owner_two(coin_colour, picker):
    # The picker starts left of the coin, the owner far away.
    start = {picker: (0, 0), 1 - picker: (2, 2)}
    core = board([start[RED], start[BLUE]], [(0, 1)], [coin_colour])
    moves = {picker: RIGHT, 1 - picker: UP}
    out = step(core, moves[RED], moves[BLUE])
    expected = np.zeros((1, 2), dtype=np.float32)
    expected[0, picker], expected[0, coin_colour] = 1.0, -2.0
    np.testing.assert_array_equal(out.rewards, expected)
    np.testing.assert_array_equal(out.info["own_coins"], [[0, 0]])
    other = np.zeros((1, 2), dtype=np.int32)
    other[0, picker] = 1
    np.testing.assert_array_equal(out.info["other_coins"], other)


@pytest.mark.parametrize("coin_colour, rewards", [(RED, [-1.0, 1.0]), (BLUE, [1.0, -1.0])])
def test_tie_both_agents_pick_up_the_coin(coin_colour, rewards):
    core = board([(0, 0), (0, 2)], [(0, 1)], [coin_colour])
    out = step(core, RIGHT, LEFT)  # both onto (0, 1)
    np.testing.assert_array_equal(out.rewards, [rewards])
    own = [[1, 0]] if coin_colour == RED else [[0, 1]]
    other = [[0, 1]] if coin_colour == RED else [[1, 0]]
    np.testing.assert_array_equal(out.info["own_coins"], own)
    np.testing.assert_array_equal(out.info["other_coins"], other)
    assert core.coin_cells[0, 0] != cell(3, 0, 1)
    assert core.coin_colours[0, 0] == 1 - coin_colour


def test_two_coins_tie_on_one_coin_and_the_other_stays():
    core = board([(0, 0), (0, 2)], [(0, 1), (2, 2)], [RED, BLUE])
    out = step(core, RIGHT, LEFT)
    np.testing.assert_array_equal(out.rewards, [[-1.0, 1.0]])
    assert core.coin_cells[0, 1] == cell(3, 2, 2)  # blue coin untouched
    assert core.coin_cells[0, 0] not in (cell(3, 0, 1), cell(3, 2, 2))
    np.testing.assert_array_equal(core.coin_colours, [[RED, BLUE]])  # colours never change


def test_two_coins_each_agent_picks_the_others_colour():
    core = board([(0, 0), (2, 0)], [(1, 2), (0, 1)], [RED, BLUE])
    out = step(core, RIGHT, RIGHT)  # red onto the blue coin, blue onto (2, 1): nothing
    np.testing.assert_array_equal(out.rewards, [[1.0, -2.0]])
    core = board([(0, 0), (1, 1)], [(0, 1), (1, 0)], [RED, BLUE])
    out = step(core, RIGHT, LEFT)  # red onto the red coin, blue onto the blue coin
    np.testing.assert_array_equal(out.rewards, [[1.0, 1.0]])
    np.testing.assert_array_equal(out.info["own_coins"], [[1, 1]])
    core = board([(0, 0), (1, 1)], [(1, 0), (0, 1)], [RED, BLUE])
    out = step(core, RIGHT, LEFT)  # each onto the other's coin: +1 - 2 each
    np.testing.assert_array_equal(out.rewards, [[-1.0, -1.0]])
    np.testing.assert_array_equal(out.info["other_coins"], [[1, 1]])
    assert len(set(core.coin_cells[0]) | set(core.agent_cells[0])) == 4


@pytest.mark.parametrize("grid_size", [3, 5])
@pytest.mark.parametrize(
    "start, action, end",
    [
        ((1, -1), RIGHT, (1, 0)),
        ((1, 0), LEFT, (1, -1)),
        ((-1, 1), DOWN, (0, 1)),
        ((0, 1), UP, (-1, 1)),
    ],
    ids=["right-edge", "left-edge", "bottom-edge", "top-edge"],
)
def test_moves_wrap_around_each_edge(grid_size, start, action, end):
    g = grid_size
    start, end = (start[0] % g, start[1] % g), (end[0] % g, end[1] % g)
    for mover in (RED, BLUE):  # the other agent stays clear in the opposite corner region
        agents = [start, (g // 2 + 1, g // 2 + 1)] if mover == RED else [(g // 2 + 1, g // 2 + 1), start]
        core = board(agents, [(g - 1, g - 1)], [RED], grid_size=g, stay_action=True)
        actions = [STAY, STAY]
        actions[mover] = action
        out = step(core, *actions)
        assert core.agent_cells[0, mover] == cell(g, *end)
        plane = out.obs[0, 0, mover]  # agent planes: 0 red, 1 blue
        assert plane[end] == 1.0 and plane.sum() == 1.0


def test_actions_move_as_documented_and_stay_stays():
    for action, (dr, dc) in enumerate([(0, 1), (0, -1), (1, 0), (-1, 0), (0, 0)]):
        core = board([(2, 2), (0, 0)], [(4, 4)], [BLUE], grid_size=5, stay_action=True)
        step(core, action, STAY)
        assert core.agent_cells[0, 0] == cell(5, 2 + dr, 2 + dc)
        assert core.agent_cells[0, 1] == cell(5, 0, 0)


@pytest.mark.parametrize("tie", [False, True])
def test_respawn_is_uniform_over_cells_free_of_agents(tie):
    games = 9000
    # red steps onto the coin at (0, 1); blue lands on (0, 2), or on (0, 1) too.
    blue = (0, 2) if tie else (2, 2)
    core = board([(0, 0), blue], [(0, 1)], [RED], num_envs=games)
    step(core, RIGHT, LEFT if tie else DOWN, seed=5)
    occupied = {cell(3, 0, 1)} if tie else {cell(3, 0, 1), cell(3, 0, 2)}
    counts = np.bincount(core.coin_cells[:, 0], minlength=9)
    assert all(counts[c] == 0 for c in occupied)
    free = [c for c in range(9) if c not in occupied]
    expected = games / len(free)
    # 6 standard deviations: fails on a biased or incomplete draw, not by chance.
    assert np.all(np.abs(counts[free] - expected) < 6 * np.sqrt(expected))


def test_two_coin_respawn_avoids_agents_and_the_other_coin():
    games = 4000
    core = board([(0, 0), (2, 2)], [(0, 1), (1, 1)], [RED, BLUE], num_envs=games)
    step(core, RIGHT, UP, seed=6)  # red onto the red coin; blue to (1, 2)
    taken = {cell(3, 0, 1), cell(3, 1, 2), cell(3, 1, 1)}
    counts = np.bincount(core.coin_cells[:, 0], minlength=9)
    assert all(counts[c] == 0 for c in taken)
    assert np.all(counts[[c for c in range(9) if c not in taken]] > 0)
    assert np.all(core.coin_cells[:, 1] == cell(3, 1, 1))


@given(
    occupied=st.lists(st.integers(0, 15), min_size=1, max_size=3),
)
@settings(max_examples=60, deadline=None)
def test_free_cell_maps_draws_onto_exactly_the_free_cells(occupied):
    free = sorted(set(range(16)) - set(occupied))
    u = (np.arange(len(free)) + 0.5) / len(free)  # one draw in each slot of [0, 1)
    columns = [np.full(len(free), c, dtype=np.int64) for c in occupied]
    np.testing.assert_array_equal(free_cell(u, columns, 16), free)


def test_coin_colour_alternates_after_each_pickup_only():
    core = board([(0, 0), (2, 2)], [(0, 1)], [RED], stay_action=True)
    colours = []
    for _ in range(4):
        core.agent_cells[0] = [cell(3, 0, 0), cell(3, 2, 2)]
        core.coin_cells[0, 0] = cell(3, 0, 1)
        step(core, STAY, STAY)  # no pickup: colour unchanged
        colours.append(int(core.coin_colours[0, 0]))
        step(core, RIGHT, STAY)  # pickup
        colours.append(int(core.coin_colours[0, 0]))
    assert colours == [RED, BLUE, BLUE, RED, RED, BLUE, BLUE, RED]


def test_reset_places_agents_apart_and_the_coin_on_a_free_cell():
    core = CoinGameCore(num_envs=20000)
    obs = core.reset(np.random.default_rng(0))
    red, blue = core.agent_cells[:, 0], core.agent_cells[:, 1]
    coin = core.coin_cells[:, 0]
    assert np.all(red != blue) and np.all(coin != red) and np.all(coin != blue)
    assert 0.48 < core.coin_colours.mean() < 0.52  # random colour
    assert np.all(np.bincount(red, minlength=9) > 2000)  # every cell used
    np.testing.assert_array_equal(obs.sum(axis=(2, 3, 4)), np.full((20000, 2), 3.0))
    # A masked reset leaves the other games alone.
    before = core.agent_cells.copy()
    mask = np.zeros(20000, dtype=bool)
    mask[:10] = True
    core.reset(np.random.default_rng(1), mask)
    np.testing.assert_array_equal(core.agent_cells[10:], before[10:])
    assert not np.array_equal(core.agent_cells[:10], before[:10])


@pytest.mark.parametrize("max_cycles", [150, 7])
def test_episode_ends_by_truncation_at_max_cycles(max_cycles):
    options = {} if max_cycles == 150 else {"max_cycles": max_cycles}
    env = make("coin_game_v0", **options)
    env.reset(seed=0)
    for t in range(1, max_cycles + 1):
        _, _, terminations, truncations, _ = env.step({"player_0": 0, "player_1": 1})
        assert not any(terminations.values())
        assert all(truncations.values()) == (t == max_cycles)
        assert env.agents == ([] if t == max_cycles else list(AGENTS))
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step({"player_0": 0, "player_1": 1})
    vec = make_vec("coin_game_v0", num_envs=4, seed=0, **options)
    vec.reset()
    for t in range(1, max_cycles + 1):
        _, _, terminated, truncated, info = vec.step(np.zeros((4, 2), dtype=np.int64))
        assert not terminated.any() and truncated.all() == (t == max_cycles)
    assert "final_obs" in info and np.all(vec.core.t == 0)


def test_observation_planes_default_egocentric_and_flat():
    agents, coins = [(0, 0), (1, 2)], [(2, 1)]
    expected = np.zeros((4, 3, 3), dtype=np.float32)
    expected[0, 0, 0] = expected[1, 1, 2] = expected[3, 2, 1] = 1.0  # blue coin
    stay = (STAY, STAY)
    out = step(board(agents, coins, [BLUE], stay_action=True), *stay)
    np.testing.assert_array_equal(out.obs[0, 0], expected)
    np.testing.assert_array_equal(out.obs[0, 1], expected)  # both see the same tensor
    ego = step(board(agents, coins, [BLUE], stay_action=True, egocentric=True), *stay)
    np.testing.assert_array_equal(ego.obs[0, 0], expected)  # red: [me=red, blue, red coin, blue coin]
    np.testing.assert_array_equal(ego.obs[0, 1], expected[[1, 0, 3, 2]])  # blue: [me=blue, red, blue coin, red coin]
    flat = step(board(agents, coins, [BLUE], stay_action=True, obs_type="flat"), *stay)
    assert flat.obs.shape == (1, 2, 36)
    np.testing.assert_array_equal(flat.obs[0, 0], expected.reshape(-1))


@pytest.mark.parametrize("options", [{}, {"num_coins": 2}, {"egocentric": True, "num_coins": 2}])
def test_observation_table_equals_direct_construction(options):
    core = CoinGameCore(num_envs=500, **options)
    assert core._obs_table is not None  # small boards use the precomputed table
    rng = np.random.default_rng(4)
    core.reset(rng)
    for _ in range(20):
        out = core.step(rng.integers(0, 4, (500, 2)), rng)
        direct = core._scatter_obs(core.agent_cells, core.coin_cells, core.coin_colours)
        np.testing.assert_array_equal(out.obs, direct)


def test_returned_observations_are_never_written_again():
    vec = make_vec("coin_game_v0", num_envs=8, seed=0, max_cycles=5)
    obs, _ = vec.reset()
    kept = [(obs, obs.copy())]
    for _ in range(12):  # crosses two auto-resets
        obs, *_ = vec.step(np.ones((8, 2), dtype=np.int64))
        kept.append((obs, obs.copy()))
    for returned, snapshot in kept:
        np.testing.assert_array_equal(returned, snapshot)


# -------------------------------------------------------------- properties
OPTIONS = st.fixed_dictionaries(
    {
        "grid_size": st.integers(2, 6),
        "max_cycles": st.integers(1, 30),
        "num_coins": st.sampled_from([1, 2]),
        "stay_action": st.booleans(),
        "egocentric": st.booleans(),
        "obs_type": st.sampled_from(OBS_TYPES),
    }
)


def decode(obs: np.ndarray, grid_size: int, obs_type: str = "planes") -> np.ndarray:
    """Per game and view: the 4 planes as [num_envs, 2, 4, cells]."""
    if obs_type == "planes_hwc":  # [n, 2, H, W, 4]: channels last
        obs = np.moveaxis(obs, -1, 2)
    return obs.reshape(obs.shape[0], 2, 4, grid_size * grid_size)


@given(options=OPTIONS, seed=st.integers(0, 2**32 - 1), data=st.data())
@settings(max_examples=40, deadline=None)
def test_invariants_over_random_play(options, seed, data):
    num_envs = 3
    vec = make_vec("coin_game_v0", num_envs=num_envs, seed=seed, **options)
    core, g = vec.core, options["grid_size"]
    cells, coins = g * g, options["num_coins"]
    n_actions = 5 if options["stay_action"] else 4
    steps = data.draw(st.integers(1, 40))
    actions = data.draw(
        st.lists(
            st.lists(st.integers(0, n_actions - 1), min_size=2 * num_envs, max_size=2 * num_envs),
            min_size=steps,
            max_size=steps,
        )
    )
    obs, _ = vec.reset()
    for flat_actions in actions:
        colours_before, coins_before = core.coin_colours.copy(), core.coin_cells.copy()
        obs, rewards, terminated, truncated, info = vec.step(np.reshape(flat_actions, (num_envs, 2)))
        own, other = info["own_coins"], info["other_coins"]
        # Rewards only from the allowed set and exactly what the pickups imply.
        assert set(np.unique(rewards)) <= {-2.0, -1.0, 0.0, 1.0}
        np.testing.assert_array_equal(rewards, own + other - 2 * other[:, ::-1])
        assert np.all((own >= 0) & (other >= 0) & (own + other <= 1))
        # Agents on the grid; coins on the grid, off the agents and apart.
        assert np.all((core.agent_cells >= 0) & (core.agent_cells < cells))
        assert np.all((core.coin_cells >= 0) & (core.coin_cells < cells))
        for k in range(coins):
            assert np.all(core.coin_cells[:, k, None] != core.agent_cells)
        if coins == 2:
            assert np.all(core.coin_cells[:, 0] != core.coin_cells[:, 1])
            assert np.all(core.coin_colours == [RED, BLUE])
        ended = terminated | truncated
        picked = (own + other).sum(axis=1) > 0
        if coins == 1:  # colour alternates exactly on a pickup; the coin stays put otherwise
            live = ~ended
            np.testing.assert_array_equal(
                core.coin_colours[live, 0], colours_before[live, 0] ^ picked[live]
            )
            stayed = live & ~picked
            np.testing.assert_array_equal(core.coin_cells[stayed], coins_before[stayed])
        # Observation planes agree with the state: one agent per agent plane, one coin
        # (or one per colour) on the coin planes, both views consistent.
        planes = decode(obs, g, options["obs_type"])
        assert obs.dtype == np.float32 and set(np.unique(obs)) <= {0.0, 1.0}
        games = np.arange(num_envs)
        assert np.all(planes[games, 0, 0, core.agent_cells[:, 0]] == 1.0)
        assert np.all(planes[games, 0, 1, core.agent_cells[:, 1]] == 1.0)
        np.testing.assert_array_equal(planes[:, :, :2].sum(axis=3), np.ones((num_envs, 2, 2)))
        coin_planes = planes[:, 0, 2:].sum(axis=2)
        if coins == 1:
            assert np.all(coin_planes.sum(axis=1) == 1.0)
        else:
            assert np.all(coin_planes == 1.0)
        blue_view = planes[:, 0, [1, 0, 3, 2]] if options["egocentric"] else planes[:, 0]
        np.testing.assert_array_equal(planes[:, 1], blue_view)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "options, message",
    [
        ({"grid_size": 1}, r"grid_size=1 gives 1 cell\(s\), but 2 agents and 1 coin\(s\) need 3"),
        ({"grid_size": 0}, r"grid_size must be an integer in \[1, 64\], got 0"),
        ({"grid_size": 3.5}, r"grid_size must be an integer in \[1, 64\], got 3.5"),
        ({"grid_size": 65}, r"grid_size must be an integer in \[1, 64\], got 65"),
        ({"num_coins": 3}, r"num_coins must be an integer in \[1, 2\], got 3"),
        ({"max_cycles": 0}, r"max_cycles must be an integer >= 1, got 0"),
        ({"stay_action": "yes"}, r"stay_action must be True or False, got 'yes'"),
        ({"egocentric": 1}, r"egocentric must be True or False, got 1"),
        ({"obs_type": "rgb"}, r"obs_type must be one of \('planes', 'flat', 'planes_hwc'\), got 'rgb'"),
    ],
)
def test_bad_options_name_the_value_and_what_is_allowed(options, message):
    with pytest.raises(ValueError, match=message):
        make("coin_game_v0", **options)
    with pytest.raises(ValueError, match=message):
        make_vec("coin_game_v0", num_envs=2, **options)


def test_unknown_option_lists_the_allowed_ones():
    with pytest.raises(TypeError, match=r"no option\(s\) \['grid'\]; allowed: .*'grid_size'"):
        make("coin_game_v0", grid=3)


def test_bad_actions_are_refused_not_clipped():
    env = make("coin_game_v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action 4 of player_0 is outside the allowed range \[0, 3\]"):
        env.step({"player_0": 4, "player_1": 0})  # no stay action by default
    with pytest.raises(ValueError, match=r"action of player_1 must be an integer in \[0, 3\], got 1.5"):
        env.step({"player_0": 0, "player_1": 1.5})
    with pytest.raises(ValueError, match=r"missing \['player_1'\]"):
        env.step({"player_0": 0})
    vec = make_vec("coin_game_v0", num_envs=3, seed=0, stay_action=True)
    vec.reset()
    with pytest.raises(ValueError, match=r"shape \(3, 2\) \(num_envs, num_agents\), got \(2, 3\)"):
        vec.step(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"action 5 is outside the allowed range \[0, 4\]"):
        vec.step(np.array([[0, 1], [2, 5], [4, 3]]))
    with pytest.raises(ValueError, match=r"action -1 is outside"):
        vec.step(np.array([[0, 1], [2, -1], [4, 3]]))


def twin_one_game_cores(options: dict, seed: int):
    """Two one-game cores reset alike: one on the fast path, one on the batched step."""
    fast = CoinGameCore(1, **options)
    batched = CoinGameCore(1, **options)
    batched.fast_one_game_path = False
    rngs = np.random.default_rng(seed), np.random.default_rng(seed)
    np.testing.assert_array_equal(fast.reset(rngs[0]), batched.reset(rngs[1]))
    return fast, batched, rngs


@given(options=OPTIONS, seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None)
def test_one_game_fast_path_equals_the_batched_step(options, seed):
    fast, batched, rngs = twin_one_game_cores(options, seed)
    actions = np.random.default_rng(seed + 1).integers(0, fast.num_actions, (80, 1, 2))
    for action in actions:
        a, b = fast.step(action, rngs[0]), batched.step(action, rngs[1])
        for field in ("obs", "rewards", "terminated", "truncated"):
            assert_same(getattr(a, field), getattr(b, field))
        assert_same(a.info, b.info)
        for state in ("agent_cells", "coin_cells", "coin_colours", "t"):
            assert_same(getattr(fast, state), getattr(batched, state))
        if a.truncated[0]:
            fast.reset(rngs[0])
            batched.reset(rngs[1])


def test_changing_returned_arrays_does_not_change_the_rules():
    for core in (CoinGameCore(1), CoinGameCore(5)):
        rng = np.random.default_rng(0)
        core.reset(rng)
        tables = [t.copy() for t in (core._rewards_by_code, core._own_by_code, core._obs_table)]
        for _ in range(30):
            out = core.step(rng.integers(0, 4, (core.num_envs, 2)), rng)
            out.rewards += 100
            out.info["own_coins"] += 5
            out.obs[:] = 7
        for before, after in zip(tables, (core._rewards_by_code, core._own_by_code, core._obs_table), strict=True):
            np.testing.assert_array_equal(before, after)


@given(
    occupied=st.lists(st.integers(0, 24), min_size=1, max_size=3),
    u=st.floats(0.0, 1.0, exclude_max=True),
)
@settings(max_examples=60, deadline=None)
def test_one_game_free_cell_equals_the_batched_one(occupied, u):
    columns = [np.array([c], dtype=np.int64) for c in occupied]
    assert free_cell_one_game(u, occupied, 25) == free_cell(np.array([u]), columns, 25)[0]


@given(options=OPTIONS, seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None)
def test_step_one_game_equals_the_generic_batched_path(options, seed):
    """The ParallelEnv's path (Python ints) gives what the batched step gives, value and type."""
    fast, generic, rngs = twin_one_game_cores(options, seed)
    actions = np.random.default_rng(seed + 1).integers(0, fast.num_actions, (80, 2)).tolist()
    for action in actions:
        a, b = fast.step_one_game(action, rngs[0]), generic.step_one_game(action, rngs[1])
        assert_same(a, b)
        assert all(type(r) is float for r in a[1]) and type(a[3]) is bool
        for state in ("agent_cells", "coin_cells", "coin_colours", "t"):
            assert_same(getattr(fast, state), getattr(generic, state))
        if a[3]:
            fast.reset(rngs[0])
            generic.reset(rngs[1])
