"""The coin-game league at a tiny scale: table shape, cross-seed pairs, seat handling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lola_agents.fixed import OwnCoinAgent
from lola_agents.league import (
    CELL_METRICS,
    FIXED_LEAGUE_AGENTS,
    EgocentricSeat,
    LeagueEntry,
    checkpoint_entry,
    fixed_entries,
    league_heatmap,
    league_markdown,
    play_league,
)

ENV = {"max_cycles": 20}


@pytest.fixture(scope="module")
def league(tmp_path_factory):
    """Fixed strategies (2 instances each), an own-coin 'learner' saved as a pair per seed, and an
    egocentric own-coin policy saved once and played in both seats (as shared PPO is)."""
    root = tmp_path_factory.mktemp("league")
    pairs, shared = [], []
    for seed in (0, 1):
        pair, one = root / f"pair-seed{seed}", root / f"shared-seed{seed}"
        for seat in (0, 1):
            OwnCoinAgent(player_index=seat, seed=seed).save(pair / f"player_{seat}")
        OwnCoinAgent(egocentric=True, seed=seed).save(one / "player_0")
        pairs.append(pair)
        shared.append(one)
    entries = [
        checkpoint_entry("own pair", pairs),
        checkpoint_entry("own shared", shared, shared=True, egocentric=True),
        *fixed_entries(2),
    ]
    return play_league(entries, episodes_per_game=24, seed=5, **ENV)


def test_league_table_has_every_pair_and_cross_seed_diagonals(league) -> None:
    names = [label for label, _ in FIXED_LEAGUE_AGENTS]
    assert league["names"] == ["own pair", "own shared", *names]
    n = len(league["names"])
    # ordered pairs of entries x 2 x 2 instances, minus the diagonals' i == j games
    assert len(league["games"]) == n * n * 4 - n * 2
    for game in league["games"]:
        if game["row"] == game["column"]:
            assert game["instances"][0] != game["instances"][1]
    for row in league["names"]:
        assert list(league["cells"][row]) == league["names"]
        for column in league["names"]:
            cell = league["cells"][row][column]
            # each cell pools the pair's games in both seats: 2 x 2 x 2 (diagonal 2 x 2)
            assert cell["games"] == (4 if row == column else 8)
            assert cell["instances"] == [0, 1]
            for metric in CELL_METRICS:
                assert cell[metric]["n"] + cell[metric]["n_missing"] == 2


def test_swapping_seats_gives_the_mirrored_entry(league) -> None:
    cells = league["cells"]
    for a in league["names"]:
        for b in league["names"]:
            mirrored = cells[b][a]["reward_per_step"]["mean"]
            assert cells[a][b]["opponent_reward_per_step"]["mean"] == pytest.approx(mirrored, abs=1e-12)
    # the row agent's seat-0 games are the column agent's seat-1 games, and the reverse
    for game in league["games"]:
        assert game["seat_0"]["pickups"] >= game["seat_0"]["own_pickups"]


def test_seat_handling_is_symmetric(league) -> None:
    cells = league["cells"]
    # own-coin strategies never take the other's coin, whichever seat and however they read it
    for name in ("own pair", "own shared", "always-own-coin"):
        for column in league["names"]:
            assert cells[name][column]["own_coin_rate"]["mean"] == 1.0
            assert cells[name][column]["takes_other_coin_otherwise"]["mean"] in (0.0, None)
    # the three own-coin implementations earn the same against always-defect in seat 0 and in seat 1
    for name in ("own pair", "own shared", "always-own-coin"):
        by_seat = {0: [], 1: []}
        for game in league["games"]:
            if game["row"] == name and game["column"] == "always-defect":
                by_seat[0].append(game["seat_0"]["reward_per_step"])
            if game["row"] == "always-defect" and game["column"] == name:
                by_seat[1].append(game["seat_1"]["reward_per_step"])
        seat_0, seat_1 = np.mean(by_seat[0]), np.mean(by_seat[1])
        assert -0.33 < seat_0 < -0.2 and -0.33 < seat_1 < -0.2, (name, seat_0, seat_1)
    # always-defect against itself: zero-sum on average, 0.5 own-coin (colours alternate)
    assert abs(cells["always-defect"]["always-defect"]["reward_per_step"]["mean"]) < 0.05
    assert cells["always-defect"]["always-defect"]["own_coin_rate"]["mean"] == pytest.approx(0.5, abs=0.08)
    # coin tit-for-tat retaliates against always-defect, always-own-coin never does
    tft = cells["coin tit-for-tat"]["always-defect"]
    assert tft["takes_other_coin_after_theft"]["mean"] > 0.4 and tft["takes_other_coin_otherwise"]["mean"] == 0.0


def test_league_outputs(league, tmp_path) -> None:
    text = league_markdown(league)
    table = [line for line in text.splitlines() if line.startswith("| ")]
    n = len(league["names"])
    assert len(table) == 2 * (n + 1)  # the league (header + rows), then the rows against always-defect
    assert league_heatmap(league, tmp_path / "h.png").stat().st_size > 1000


def test_one_instance_has_no_cross_seed_diagonal() -> None:
    entry = LeagueEntry("own", lambda instance, seat: OwnCoinAgent(seed=instance), instances=1, kind="fixed")
    other = LeagueEntry("own2", lambda instance, seat: OwnCoinAgent(seed=instance), instances=1, kind="fixed")
    calls = []
    league = play_league([entry, other], episodes_per_game=4, seed=0, on_game=lambda *a: calls.append(a), **ENV)
    assert calls == [(1, 2), (2, 2)]  # progress: (own, own2) and (own2, own); no diagonal game
    assert league["cells"]["own"]["own"]["reward_per_step"] is None and league["cells"]["own"]["own"]["games"] == 0
    assert league["cells"]["own"]["own2"]["games"] == 2
    assert math.isclose(league["cells"]["own"]["own2"]["own_coin_rate"]["mean"], 1.0)


def test_cells_of_a_one_instance_entry_get_more_episodes_per_game_to_reach_the_minimum() -> None:
    two = LeagueEntry("two", lambda instance, seat: OwnCoinAgent(seed=instance), instances=2, kind="fixed")
    one = LeagueEntry("one", lambda instance, seat: OwnCoinAgent(seed=10 + instance), instances=1, kind="fixed")
    league = play_league([two, one], episodes_per_game=3, seed=0, min_cell_episodes=10, **ENV)
    cells = league["cells"]
    # cells (two, two): 2 x 2 x 1 = 4 games of 3 episodes (3 >= ceil(10 / 4)); (two, one) and
    # (one, two): 2 x 2 x 1 = 4 games, 3 each; (one, one): no game. With a minimum of 20:
    assert [cells[r][c]["episodes"] for r, c in [("two", "two"), ("two", "one"), ("one", "two")]] == [12, 12, 12]
    league = play_league([two, one], episodes_per_game=3, seed=0, min_cell_episodes=20, **ENV)
    cells = league["cells"]
    # ceil(20 / 4) = 5 episodes per game in every cell with games, the same in both seat arrangements
    assert {g["episodes"] for g in league["games"]} == {5}
    assert [cells[r][c]["episodes"] for r, c in [("two", "two"), ("two", "one"), ("one", "two")]] == [20, 20, 20]
    assert cells["one"]["one"]["episodes"] == 0
    three = LeagueEntry("three", lambda instance, seat: OwnCoinAgent(seed=20 + instance), instances=3, kind="fixed")
    league = play_league([three, one], episodes_per_game=2, seed=0, min_cell_episodes=12, **ENV)
    by_pair = {(g["row"], g["column"]): g["episodes"] for g in league["games"]}
    # (three, three): 2 x 3 x 2 = 12 games -> 2 each (the floor); (three, one): 2 x 3 = 6 games -> 2;
    # with a minimum of 24: 2 and 4
    assert by_pair == {("three", "three"): 2, ("three", "one"): 2, ("one", "three"): 2}
    league = play_league([three, one], episodes_per_game=2, seed=0, min_cell_episodes=24, **ENV)
    by_pair = {(g["row"], g["column"]): g["episodes"] for g in league["games"]}
    assert by_pair == {("three", "three"): 2, ("three", "one"): 4, ("one", "three"): 4}
    assert league["cells"]["one"]["three"]["episodes"] == 24 and league["cells"]["three"]["three"]["episodes"] == 24


def test_bad_league_input_is_named() -> None:
    entry = fixed_entries(1)[0]
    with pytest.raises(ValueError, match="distinct names"):
        play_league([entry, entry], episodes_per_game=2)
    with pytest.raises(ValueError, match="episodes_per_game"):
        play_league([entry], episodes_per_game=0)
    with pytest.raises(ValueError, match="min_cell_episodes"):
        play_league([entry], episodes_per_game=2, min_cell_episodes=-1)
    with pytest.raises(ValueError, match="shared-view"):
        play_league([entry], episodes_per_game=2, egocentric=True)
    with pytest.raises(ValueError, match="instances"):
        LeagueEntry("x", lambda i, s: OwnCoinAgent(), instances=0)
    with pytest.raises(RuntimeError, match="seat"):
        EgocentricSeat(OwnCoinAgent(egocentric=True)).act(np.zeros((1, 4, 3, 3)), None, np.zeros(1, bool))


def test_seat_rates_of_counts_by_hand():
    from lola_agents.league import seat_rates

    counts = {"own_pickups": 3, "pickups": 4, "takes_after_theft": 1, "steps_after_theft": 5,
              "takes_otherwise": 0, "steps_otherwise": 0}
    rates = seat_rates(counts)
    assert rates["own_coin_rate"] == 0.75 and rates["takes_other_coin_after_theft"] == 0.2
    assert math.isnan(rates["takes_other_coin_otherwise"])  # nothing counted
