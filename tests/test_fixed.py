"""Fixed strategies and evaluate(): exact metrics where the play is deterministic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lola_agents.evaluation import evaluate
from lola_agents.fixed import (
    COIN_MOVES,
    AlwaysCooperate,
    AlwaysDefect,
    AlwaysDefectCoinAgent,
    GreedyCoinAgent,
    Memory1Agent,
    OwnCoinAgent,
    RandomCoinAgent,
    RandomMatrixAgent,
    TitForTat,
    TitForTatCoinAgent,
)


@pytest.mark.parametrize(
    ("agent_a", "agent_b", "expected"),
    [
        # TFT cooperates once (-3 / 0), then 149 steps of DD (-2 / -2).
        (TitForTat(), AlwaysDefect(), [(-3 - 2 * 149) / 150, (0 - 2 * 149) / 150]),
        (TitForTat(), TitForTat(), [-1.0, -1.0]),
        (AlwaysCooperate(), AlwaysDefect(), [-3.0, 0.0]),
        (AlwaysDefect(), AlwaysDefect(), [-2.0, -2.0]),
        (AlwaysCooperate(), AlwaysCooperate(), [-1.0, -1.0]),
    ],
)
def test_ipd_rewards_of_deterministic_pairs_are_exact(agent_a, agent_b, expected) -> None:
    result = evaluate("ipd_v0", agent_a, agent_b, episodes=4, seed=0)
    assert result["reward_per_step"] == pytest.approx(expected, abs=1e-12)
    assert result["player_0"]["reward_per_step"] == pytest.approx(expected[0], abs=1e-12)
    assert result["steps"] == 150 and result["episodes"] == 4


def test_tft_vs_alld_action_given_state_is_exact() -> None:
    result = evaluate("ipd_v0", TitForTat(), AlwaysDefect(), episodes=3, seed=0)
    tft, alld = result["player_0"], result["player_1"]
    assert tft["p_action0"] == {"CC": None, "CD": 0.0, "DC": None, "DD": 0.0, "start": 1.0}
    assert tft["visits"] == {"CC": 0, "CD": 3, "DC": 0, "DD": 3 * 148, "start": 3}
    assert alld["p_action0"] == {"CC": None, "CD": None, "DC": 0.0, "DD": 0.0, "start": 0.0}


def test_imp_matcher_wins_when_both_play_heads() -> None:
    result = evaluate("imp_v0", AlwaysCooperate(), AlwaysCooperate(), episodes=2, seed=0)
    assert result["reward_per_step"] == [1.0, -1.0]
    result = evaluate("imp_v0", AlwaysCooperate(), AlwaysDefect(), episodes=2, seed=0)
    assert result["reward_per_step"] == [-1.0, 1.0]


def test_memory1_table_is_in_observation_order() -> None:
    # [CC, CD, DC, DD, start] -> cooperate at start, CD and DD; defect at CC and DC.
    agent = Memory1Agent([0, 1, 0, 1, 1], seed=0)
    obs = np.array([4, 0, 1, 2, 3])  # observation indices: start, CC, CD, DC, DD
    actions, log_probs, state = agent.act(obs, None, np.zeros(5, dtype=bool))
    assert actions.tolist() == [0, 1, 0, 1, 0]
    assert log_probs.tolist() == [0.0] * 5 and state is None
    onehot = np.eye(5, dtype=np.float32)[obs]  # obs_type="onehot" works too
    assert agent.act(onehot, None, np.zeros(5, dtype=bool))[0].tolist() == [0, 1, 0, 1, 0]


def test_random_table_samples_with_its_probabilities() -> None:
    agent = Memory1Agent([0.2, 0.2, 0.2, 0.2, 0.2], seed=3)
    actions, log_probs, _ = agent.act(np.full(20_000, 4), None, np.zeros(20_000, dtype=bool))
    assert (actions == 0).mean() == pytest.approx(0.2, abs=0.01)
    expected = np.where(actions == 0, np.log(0.2), np.log(0.8))
    assert np.allclose(log_probs, expected)
    result = evaluate("ipd_v0", RandomMatrixAgent(), TitForTat(), episodes=50, seed=2)
    assert result["player_0"]["p_action0"]["CC"] == pytest.approx(0.5, abs=0.03)
    assert result["player_1"]["p_action0"] == {"CC": 1.0, "CD": 0.0, "DC": 1.0, "DD": 0.0, "start": 1.0}


def test_memory1_rejects_bad_tables() -> None:
    with pytest.raises(ValueError, match="5 probabilities"):
        Memory1Agent([0.5, 0.5])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        Memory1Agent([0.5, 0.5, 1.5, 0.5, 0.5])


def _planes(me: tuple[int, int], other: tuple[int, int], coin: tuple[int, int], red_coin: bool) -> np.ndarray:
    """One shared-view observation [1, 4, 3, 3] with player_0 (red) at ``me``."""
    obs = np.zeros((1, 4, 3, 3), dtype=np.float32)
    obs[0, 0][me] = 1
    obs[0, 1][other] = 1
    obs[0, 2 if red_coin else 3][coin] = 1
    return obs


def _moves(agent, obs: np.ndarray, draws: int = 200) -> set[int]:
    return {int(agent.act(obs, None, np.zeros(1, dtype=bool))[0][0]) for _ in range(draws)}


def test_greedy_takes_the_shortest_moves_on_the_torus() -> None:
    greedy = GreedyCoinAgent(player_index=0, seed=0)
    assert _moves(greedy, _planes((0, 0), (2, 2), (0, 1), red_coin=False)) == {0}  # right
    assert _moves(greedy, _planes((0, 0), (2, 2), (0, 2), red_coin=True)) == {1}  # left, wraps
    assert _moves(greedy, _planes((0, 0), (2, 2), (2, 0), red_coin=True)) == {3}  # up, wraps
    diagonal = _planes((1, 1), (0, 0), (2, 2), red_coin=False)
    assert _moves(greedy, diagonal) == {0, 2}  # right or down, each with prob 1/2
    assert greedy.act(diagonal, None, np.zeros(1, dtype=bool))[1][0] == pytest.approx(math.log(0.5))


def test_own_coin_agent_walks_to_its_coin_and_never_onto_the_others() -> None:
    own = OwnCoinAgent(player_index=0, seed=0)
    assert _moves(own, _planes((0, 0), (2, 2), (0, 1), red_coin=True)) == {0}
    assert _moves(own, _planes((0, 0), (2, 2), (0, 1), red_coin=False)) == {1, 2, 3}
    # seat 1 (blue): the same board, the blue coin is now its own
    blue = OwnCoinAgent(player_index=1, seed=0)
    obs = _planes((2, 2), (0, 0), (0, 1), red_coin=False)  # blue agent stands at (0, 0)
    assert _moves(blue, obs) == {0}


def test_coin_game_strategy_metrics() -> None:
    own = evaluate("coin_game_v0", OwnCoinAgent(), OwnCoinAgent(), episodes=16, seed=0)
    assert own["own_coin_rate"] == 1.0  # never touches the other's coins
    assert own["player_0"]["own_coin_rate"] == own["player_1"]["own_coin_rate"] == 1.0
    assert own["reward_per_step"][0] == pytest.approx(own["player_0"]["pickups_per_step"])
    greedy = evaluate("coin_game_v0", GreedyCoinAgent(), GreedyCoinAgent(), episodes=64, seed=0)
    assert greedy["own_coin_rate"] == pytest.approx(0.5, abs=0.03)  # colours alternate
    assert greedy["pickups_per_step"] > own["pickups_per_step"] > 0
    random = evaluate("coin_game_v0", RandomCoinAgent(), RandomCoinAgent(), episodes=16, seed=0)
    assert random["pickups_per_step"] < own["pickups_per_step"]
    # the greedy agent exploits the polite one
    mixed = evaluate("coin_game_v0", GreedyCoinAgent(), OwnCoinAgent(), episodes=32, seed=0)
    assert mixed["reward_per_step"][0] > 0 > mixed["reward_per_step"][1]


def test_coin_tit_for_tat_retaliates_after_a_theft_only() -> None:
    """Red sees blue step onto the red coin (a theft): for ``retaliation_steps`` steps it
    then takes blue's coin like greedy; without a theft it avoids blue's coin like own-coin."""
    before = _planes((0, 0), (1, 1), (1, 2), red_coin=True)  # red coin at (1, 2), blue next to it
    stolen = _planes((0, 0), (1, 2), (0, 1), red_coin=False)  # blue on (1, 2), blue coin at (0, 1)
    not_stolen = _planes((0, 0), (2, 1), (0, 1), red_coin=False)  # blue moved elsewhere
    no_start = np.zeros(1, dtype=bool)

    def moves_after(previous, current, retaliation_steps=2) -> set[int]:
        out = set()
        for seed in range(40):
            tft = TitForTatCoinAgent(retaliation_steps, player_index=0, seed=seed)
            _, _, state = tft.act(previous, None, np.ones(1, dtype=bool))
            out.add(int(tft.act(current, state, no_start)[0][0]))
        return out

    assert moves_after(before, stolen) == {0}  # right, onto blue's coin
    assert moves_after(before, not_stolen) == {1, 2, 3}  # anything but onto blue's coin
    # The grudge lasts retaliation_steps steps (the theft step included), then it cooperates.
    tft = TitForTatCoinAgent(2, player_index=0, seed=0)
    _, _, state = tft.act(before, None, np.ones(1, dtype=bool))
    for step, expected in enumerate([{0}, {0}, {1, 2, 3}]):
        seen = set()
        for _ in range(40):
            action, _, new_state = tft.act(stolen if step == 0 else not_stolen, state, no_start)
            seen.add(int(action[0]))
        assert seen == expected, step
        state = new_state
    # A new episode forgets the grudge; the theft must be seen within one episode.
    _, _, state = tft.act(before, None, np.ones(1, dtype=bool))
    assert {int(tft.act(stolen, state, np.ones(1, dtype=bool))[0][0]) for _ in range(40)} == {1, 2, 3}
    with pytest.raises(ValueError, match="retaliation_steps"):
        TitForTatCoinAgent(0)


def test_coin_tit_for_tat_cooperates_and_is_not_exploited_by_greedy() -> None:
    """Against itself or own-coin it never retaliates (own-coin rate 1, the own-coin score);
    against greedy it scores close to greedy vs greedy, where own-coin-only is exploited."""
    episodes = 64
    own_pair = evaluate("coin_game_v0", OwnCoinAgent(seed=0), OwnCoinAgent(seed=1), episodes=episodes, seed=0)
    for other in (TitForTatCoinAgent(seed=1), OwnCoinAgent(seed=1)):
        pair = evaluate("coin_game_v0", TitForTatCoinAgent(seed=0), other, episodes=episodes, seed=0)
        assert pair["own_coin_rate"] == 1.0
        assert pair["reward_per_step"] == pytest.approx(own_pair["reward_per_step"])
    greedy_pair = evaluate("coin_game_v0", GreedyCoinAgent(seed=0), GreedyCoinAgent(seed=1), episodes=episodes, seed=0)
    for seat in (0, 1):
        agents = [TitForTatCoinAgent(seed=0), GreedyCoinAgent(seed=1)]
        polite = [OwnCoinAgent(seed=0), GreedyCoinAgent(seed=1)]
        if seat == 1:
            agents.reverse()
            polite.reverse()
        tft = evaluate("coin_game_v0", *agents, episodes=episodes, seed=0)["reward_per_step"][seat]
        exploited = evaluate("coin_game_v0", *polite, episodes=episodes, seed=0)["reward_per_step"][seat]
        assert exploited < greedy_pair["reward_per_step"][seat] - 0.2
        assert tft > greedy_pair["reward_per_step"][seat] - 0.05


def test_egocentric_view_needs_no_seat() -> None:
    a = evaluate("coin_game_v0", OwnCoinAgent(egocentric=True), OwnCoinAgent(egocentric=True),
                 episodes=8, seed=1, egocentric=True)
    assert a["own_coin_rate"] == 1.0


def test_an_unseated_coin_agent_can_play_either_colour() -> None:
    own = OwnCoinAgent()
    first = evaluate("coin_game_v0", own, GreedyCoinAgent(), episodes=8, seed=0)
    second = evaluate("coin_game_v0", GreedyCoinAgent(), own, episodes=8, seed=0)
    assert first["player_0"]["own_coin_rate"] == 1.0
    assert second["player_1"]["own_coin_rate"] == 1.0


def test_seat_mismatch_and_missing_seat_raise() -> None:
    with pytest.raises(ValueError, match="built for seat 1"):
        evaluate("coin_game_v0", OwnCoinAgent(player_index=1), OwnCoinAgent(), episodes=1)
    with pytest.raises(RuntimeError, match="needs its seat"):
        GreedyCoinAgent().act(np.zeros((1, 4, 3, 3), np.float32), None, np.zeros(1, bool))
    assert COIN_MOVES.shape == (4, 2)


def test_evaluate_is_reproducible() -> None:
    a = evaluate("coin_game_v0", RandomCoinAgent(), GreedyCoinAgent(), episodes=8, seed=4)
    b = evaluate("coin_game_v0", RandomCoinAgent(), GreedyCoinAgent(), episodes=8, seed=4)
    c = evaluate("coin_game_v0", RandomCoinAgent(), GreedyCoinAgent(), episodes=8, seed=5)
    assert a == b and a != c


def test_fixed_agents_save_and_load(tmp_path) -> None:
    table = Memory1Agent([0.1, 0.2, 0.3, 0.4, 0.5], seed=7)
    table.save(tmp_path / "m1")
    loaded = Memory1Agent.load(tmp_path / "m1")
    assert loaded.p_action0.tolist() == [0.1, 0.2, 0.3, 0.4, 0.5] and loaded.seed == 7
    TitForTat(seed=1).save(tmp_path / "tft")
    assert isinstance(TitForTat.load(tmp_path / "tft"), TitForTat)
    OwnCoinAgent(player_index=1, egocentric=False, seed=2).save(tmp_path / "own")
    assert OwnCoinAgent.load(tmp_path / "own").player_index == 1
    with pytest.raises(ValueError, match="holds a TitForTat"):
        AlwaysDefect.load(tmp_path / "tft")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        TitForTat.load(tmp_path / "bad")
    with pytest.raises(FileNotFoundError, match="no agent checkpoint"):
        TitForTat.load(tmp_path / "missing")


def _coin_batch(agent_index: int, other_coin_out: list[bool], took_other: list[int], starts: list[bool]):
    import torch

    from lola_agents.rollout import Batch

    steps = len(other_coin_out)
    obs = torch.zeros(steps, 1, 4, 3, 3)
    for t, out in enumerate(other_coin_out):
        obs[t, 0, 3 - agent_index, 1, 1] = float(out)  # the other's coin (shared view)
    zeros = torch.zeros(steps, 1)
    return Batch(obs=obs, actions=zeros.long(), log_probs=zeros, rewards=zeros, terminated=zeros.bool(),
                 truncated=zeros.bool(), episode_starts=torch.tensor(starts).view(steps, 1), next_obs=obs,
                 infos={"own_coins": zeros.int(), "other_coins": torch.tensor(took_other, dtype=torch.int32).view(steps, 1)},
                 agent_index=agent_index)


def test_retaliation_rate_by_hand() -> None:
    """The opponent takes my coin at step 1; steps 2-4 count as after the theft (window 3), and
    only steps where the other's coin is on the board count; a new episode clears the window."""
    from lola_agents.evaluation import retaliation

    starts = [True, False, False, False, False, False, True, False]
    other_out = [True, False, True, True, False, True, True, True]
    mine = _coin_batch(0, other_out, [0, 0, 1, 0, 0, 1, 0, 0], starts)
    theirs = _coin_batch(1, [False] * 8, [0, 1, 0, 0, 0, 0, 0, 1], starts)
    rates = retaliation(mine, theirs, window=3)
    # after the theft with the other's coin out: steps 2, 3 (step 4: no coin); I took it at step 2
    assert rates["steps_after_theft"] == 2 and rates["after_theft"] == 0.5
    # otherwise, with the other's coin out: steps 0, 5, 6, 7 (7 is the theft step itself); taken at 5
    assert rates["steps_otherwise"] == 4 and rates["otherwise"] == 0.25
    with pytest.raises(ValueError, match="window"):
        retaliation(mine, theirs, window=0)


def test_retaliation_rate_tells_tit_for_tat_from_greedy() -> None:
    tft = evaluate("coin_game_v0", TitForTatCoinAgent(seed=0), GreedyCoinAgent(seed=1), episodes=64, seed=0)["player_0"]
    assert tft["takes_other_coin_after_theft"] > 0.5 and tft["takes_other_coin_otherwise"] == 0.0
    greedy = evaluate("coin_game_v0", GreedyCoinAgent(seed=0), GreedyCoinAgent(seed=1), episodes=64, seed=0)["player_0"]
    assert abs(greedy["takes_other_coin_after_theft"] - greedy["takes_other_coin_otherwise"]) < 0.15
    own = evaluate("coin_game_v0", OwnCoinAgent(seed=0), GreedyCoinAgent(seed=1), episodes=64, seed=0)["player_0"]
    assert own["takes_other_coin_after_theft"] == own["takes_other_coin_otherwise"] == 0.0


# --------------------------------------------------------------------------- always-defect
def _planes_on(grid: int, seat_cell: tuple[int, int], other_cell: tuple[int, int], coin: tuple[int, int],
               coin_plane: int, copies: int, seat: int = 0) -> np.ndarray:
    """``copies`` identical shared-view observations ``[copies, 4, grid, grid]``, the seated
    agent (red for seat 0, blue for seat 1) at ``seat_cell``, a coin on plane ``coin_plane``."""
    obs = np.zeros((copies, 4, grid, grid), dtype=np.float32)
    obs[:, seat][(slice(None), *seat_cell)] = 1
    obs[:, 1 - seat][(slice(None), *other_cell)] = 1
    obs[:, coin_plane][(slice(None), *coin)] = 1
    return obs


def _torus_graph_distances(grid: int) -> np.ndarray:
    """Fewest moves between any two cells ``[cells, cells]``: breadth-first search on the torus
    graph of the four moves (independent of lola_agents.fixed.torus_distance)."""
    from scipy.sparse import lil_matrix
    from scipy.sparse.csgraph import shortest_path

    cells = grid * grid
    graph = lil_matrix((cells, cells))
    for r in range(grid):
        for c in range(grid):
            for dr, dc in COIN_MOVES:
                graph[r * grid + c, ((r + dr) % grid) * grid + (c + dc) % grid] = 1
    return shortest_path(graph.tocsr(), unweighted=True)


@pytest.mark.parametrize("seat", [0, 1])
def test_always_defect_takes_the_shortest_wrapped_path(seat: int) -> None:
    ad = AlwaysDefectCoinAgent(player_index=seat, seed=0)
    starts = np.zeros(64, dtype=bool)
    cases = [  # (me, other, coin, coin plane, the only allowed moves)
        ((0, 0), (2, 2), (0, 1), 2, {0}),  # right, the other's coin or mine alike
        ((0, 0), (2, 2), (0, 1), 3, {0}),
        ((0, 0), (2, 2), (0, 2), 2, {1}),  # left across the wrap (right would take 2 moves)
        ((0, 0), (1, 1), (2, 0), 3, {3}),  # up across the wrap
        ((2, 1), (0, 0), (0, 1), 3, {2}),  # down across the wrap
        ((0, 0), (1, 2), (2, 2), 2, {1, 3}),  # diagonal across both wraps: left or up
    ]
    for me, other, coin, plane, allowed in cases:
        actions, log_probs, _ = ad.act(_planes_on(3, me, other, coin, plane, 64, seat), None, starts)
        assert set(actions.tolist()) == allowed, (me, coin)
        assert np.allclose(log_probs, -math.log(len(allowed)))


def test_always_defect_moves_are_exactly_the_shortest_on_every_4x4_board() -> None:
    grid = 4
    distance = _torus_graph_distances(grid)
    ad = AlwaysDefectCoinAgent(player_index=0, seed=1)
    copies = 256
    for me in range(grid * grid):
        for coin in range(grid * grid):
            if coin == me:
                continue
            other = next(c for c in range(grid * grid) if c not in (me, coin))
            obs = _planes_on(grid, divmod(me, grid), divmod(other, grid), divmod(coin, grid), 3, copies)
            actions = ad.act(obs, None, np.zeros(copies, dtype=bool))[0]
            r, c = divmod(me, grid)
            after = [((r + dr) % grid) * grid + (c + dc) % grid for dr, dc in COIN_MOVES]
            shortest = {a for a in range(4) if distance[after[a], coin] == distance[me, coin] - 1}
            # 256 uniform draws over at most 4 moves miss one with probability < 4 * 0.75**256
            assert set(actions.tolist()) == shortest, (divmod(me, grid), divmod(coin, grid))


def test_always_defect_breaks_ties_uniformly() -> None:
    from scipy.stats import binomtest, chisquare

    n = 4000
    ad = AlwaysDefectCoinAgent(player_index=1, seed=7)
    # 3x3, coin one row and one column away: right or down, 1/2 each.
    obs = _planes_on(3, (1, 1), (0, 0), (2, 2), 2, n, seat=1)
    actions = ad.act(obs, None, np.zeros(n, dtype=bool))[0]
    assert set(actions.tolist()) == {0, 2}
    assert binomtest(int((actions == 0).sum()), n, 0.5).pvalue > 1e-3
    # 4x4, coin two rows and two columns away: all four moves are shortest, 1/4 each.
    obs = _planes_on(4, (0, 0), (1, 0), (2, 2), 3, n, seat=1)
    actions = ad.act(obs, None, np.zeros(n, dtype=bool))[0]
    counts = np.bincount(actions, minlength=4)
    assert counts.min() > 0 and chisquare(counts).pvalue > 1e-3


def test_always_defect_is_greedy_in_play_and_exploits_own_coin() -> None:
    ad = evaluate("coin_game_v0", AlwaysDefectCoinAgent(), AlwaysDefectCoinAgent(), episodes=256, seed=3,
                  max_cycles=50)
    assert ad["own_coin_rate"] == pytest.approx(0.5, abs=0.02)  # colours alternate, AD ignores them
    assert ad["reward_per_step"] == pytest.approx([0.0, 0.0], abs=0.03)  # AD vs AD earns about 0
    # AD vs always-own-coin in both seats: AD gains, own-coin loses (the league's -0.26 per step)
    for seat in (0, 1):
        pair = [AlwaysDefectCoinAgent(), OwnCoinAgent()] if seat == 0 else [OwnCoinAgent(), AlwaysDefectCoinAgent()]
        result = evaluate("coin_game_v0", *pair, episodes=256, seed=4, max_cycles=50)
        own_reward = result["reward_per_step"][1 - seat]
        assert -0.30 < own_reward < -0.22
        assert result["reward_per_step"][seat] > 0.3
