"""The coin-game league: every agent against every other, in both seats.

The protocol of the LOQA league (Aghajohari et al. 2024), played frozen on the
package's coin game (3x3, one coin, 50-step episodes unless told otherwise):

* **entries**: trained learners, one *instance* per training seed, and the fixed
  strategies always-defect (:class:`~lola_agents.fixed.AlwaysDefectCoinAgent`),
  always-own-coin (:class:`~lola_agents.fixed.OwnCoinAgent`), random
  (:class:`~lola_agents.fixed.RandomCoinAgent`) and coin tit-for-tat
  (:class:`~lola_agents.fixed.TitForTatCoinAgent`), each with as many instances
  (generator seeds) as the learners have seeds;
* **games**: for every ordered pair of entries (A, B) and instances i of A, j of B,
  A's instance i in seat 0 (red) against B's instance j in seat 1 (blue). On the
  diagonal (A = B) only i != j is played: **cross-seed play**, agents that never
  met in training. Since (B, A) is played too, every pairing is played in both seats;
* **a cell** (row A, column B) holds A's side of every game between A and B, in
  either seat: its reward per step, its own-coin rate (its own-colour pickups / all
  its pickups) and the retaliation metric
  (:func:`lola_agents.metrics.retaliation`: P(A takes B's coin) in the 3 steps after
  B took one of A's, and at other steps, each while B's coin is on the board). The
  cell (B, A) holds B's side of the same games: swapping seats mirrors the entry.

Each instance of the row agent gives one value per cell (its games in both seats
pooled: rewards averaged, pickups and steps summed); the cell reports their
mean and Student-t 95% interval over instances
(:func:`lola_agents.metrics.describe`), so the interval is over training seeds for
a learner. A learner instance in seat ``k`` is the agent that trained in seat ``k``
of that seed's pair.

    entries = [checkpoint_entry("AdAlign", ["run/checkpoints/coin/adalign-vs-adalign-seed0", ...]),
               *fixed_entries(instances=3)]
    league = play_league(entries, episodes_per_game=84, seed=0, max_cycles=50)
    print(league_markdown(league))
    league_heatmap(league, "league.png")
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lola_agents.metrics import describe, interval_text

if TYPE_CHECKING:
    from lola_agents.rollout import Agent

# The league's fixed strategies: (row label, name in lola_agents.agents.AGENTS).
FIXED_LEAGUE_AGENTS = (
    ("always-defect", "always-defect"),
    ("always-own-coin", "own-coin"),
    ("random", "random-coin"),
    ("coin tit-for-tat", "tft-coin"),
)
# What each cell reports, from the row agent's side (all per step or rates in [0, 1]).
CELL_METRICS = (
    "reward_per_step",
    "opponent_reward_per_step",
    "own_coin_rate",
    "takes_other_coin_after_theft",
    "takes_other_coin_otherwise",
)


@dataclass(frozen=True)
class LeagueEntry:
    """One row (and column) of the league.

    Attributes:
        name: the label in tables and figures.
        make: ``make(instance, seat) -> Agent``, the agent of ``instance`` that plays
            ``seat`` (0 red, 1 blue); called once per (instance, seat) and cached.
        instances: how many instances (training seeds, or generator seeds of a fixed
            strategy) the entry has, >= 1.
        kind: ``"learner"`` or ``"fixed"`` (for the reader only).
    """

    name: str
    make: Callable[[int, int], Agent]
    instances: int
    kind: str = "learner"

    def __post_init__(self) -> None:
        if isinstance(self.instances, bool) or not isinstance(self.instances, int) or self.instances < 1:
            raise ValueError(f"league entry {self.name!r}: instances must be an integer >= 1, got {self.instances!r}")


class EgocentricSeat:
    """Plays an agent trained on egocentric planes (``[me, other, my coin, other's coin]``,
    e.g. the shared-policy PPO) in the shared-view game: reorders the planes for its seat.

    ``obs`` ``[N, 4, H, W]`` of the shared view ``[red, blue, red coin, blue coin]``.
    """

    def __init__(self, agent: Agent, seat: int | None = None) -> None:
        self.agent = agent
        self.seat = seat

    def assign_seat(self, agent_index: int) -> None:
        self.seat = int(agent_index)

    def initial_state(self, num_envs: int) -> Any:
        return self.agent.initial_state(num_envs)

    def act(self, obs: np.ndarray, state: Any, episode_starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
        if self.seat is None:
            raise RuntimeError("EgocentricSeat needs its seat: play it through Rollout or pass seat")
        obs = np.asarray(obs)
        if obs.ndim != 4 or obs.shape[1] != 4:
            raise ValueError(f"EgocentricSeat reads planes [N, 4, H, W], got shape {obs.shape}")
        k = self.seat
        return self.agent.act(obs[:, [k, 1 - k, 2 + k, 3 - k]], state, episode_starts)


def fixed_entries(instances: int) -> list[LeagueEntry]:
    """The league's fixed strategies (:data:`FIXED_LEAGUE_AGENTS`), ``instances`` each
    (instance ``i`` draws its tie-breaks from generator seed ``i``; evaluation reseeds it per game)."""
    from lola_agents.agents import make_agent

    def maker(name: str) -> Callable[[int, int], Agent]:
        return lambda instance, seat: make_agent(name, "coin_game_v0", seed=instance)

    return [LeagueEntry(label, maker(name), instances, kind="fixed") for label, name in FIXED_LEAGUE_AGENTS]


def checkpoint_entry(name: str, pair_folders: Sequence[str | Path], shared: bool = False,
                     egocentric: bool = False) -> LeagueEntry:
    """A trained learner from its pairs' checkpoint folders (one per training seed), as
    ``lola-bench`` writes them: ``<folder>/player_<seat>`` (:func:`lola_agents.agents.load_agent`).

    Args:
        name: the label.
        pair_folders: one folder per instance.
        shared: one policy played both seats (shared PPO): ``player_0`` plays either seat.
        egocentric: the policy reads egocentric planes: wrapped in :class:`EgocentricSeat`.
    """
    from lola_agents.agents import load_agent

    folders = [Path(f) for f in pair_folders]
    for folder in folders:
        if not (folder / "player_0").is_dir():
            raise ValueError(f"league entry {name!r}: no trained agent in {folder}/player_0")

    def make(instance: int, seat: int) -> Agent:
        agent = load_agent(str(folders[instance] / f"player_{0 if shared else seat}"))
        return EgocentricSeat(agent, seat) if egocentric else agent

    return LeagueEntry(name, make, len(folders))


def play_league(entries: Sequence[LeagueEntry], episodes_per_game: int, seed: int = 0,
                on_game: Callable[[int, int], None] | None = None, min_cell_episodes: int = 0,
                **env_options: Any) -> dict[str, Any]:
    """Play the league (module docstring) and summarise every cell.

    Args:
        entries: the rows/columns, distinct names.
        episodes_per_game: episodes of each game (one game = one instance pair in one
            seat arrangement); a cell pools ``2 * n_A * n_B`` games (``2 * n * (n - 1)``
            on the diagonal).
        seed: the league's seed; game ``g`` (in play order) is an evaluation game of
            :func:`lola_agents.evaluation.evaluate` with seed
            ``derive_seed(seed, Stream.EVALUATION, g)`` (:mod:`lola_agents.seeding`).
        on_game: called as ``on_game(games_done, games_total)`` after each game (progress).
        min_cell_episodes: the games of a cell with fewer games than others (an entry of
            one instance, e.g. a single shipped checkpoint) play more episodes each, so that
            every cell pools at least this many: a game of the pair (A, B) plays
            ``max(episodes_per_game, ceil(min_cell_episodes / cell_games(A, B)))`` episodes,
            the same in both seat arrangements (0: ``episodes_per_game`` everywhere).
        env_options: coin_game_v0 options, e.g. ``max_cycles=50``.

    Returns:
        JSON-ready ``{"names", "kinds", "instances", "episodes_per_game", "min_cell_episodes", "seed",
        "env_options", "games": [...],
        "cells": {row: {column: {metric: describe(...) | None, "games", "episodes"}}}}``;
        ``games`` holds per game ``{"row", "column", "instances": [i, j], "seed", "episodes",
        "seat_0": {...}, "seat_1": {...}}`` (row entry in seat 0). Cell metrics:
        :data:`CELL_METRICS`; a diagonal cell of a one-instance entry has no game (None).
    """
    from lola_agents.evaluation import evaluate
    from lola_agents.seeding import Stream, derive_seed

    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"league entries need distinct names, got {names}")
    if isinstance(episodes_per_game, bool) or not isinstance(episodes_per_game, int) or episodes_per_game < 1:
        raise ValueError(f"episodes_per_game must be an integer >= 1, got {episodes_per_game!r}")
    if isinstance(min_cell_episodes, bool) or not isinstance(min_cell_episodes, int) or min_cell_episodes < 0:
        raise ValueError(f"min_cell_episodes must be an integer >= 0, got {min_cell_episodes!r}")
    if env_options.get("egocentric") or env_options.get("obs_type", "planes") != "planes":
        raise ValueError("the league plays the shared-view planes: no egocentric or obs_type option")
    cache: dict[tuple[int, int, int], Agent] = {}

    def agent(entry_index: int, instance: int, seat: int) -> Agent:
        key = (entry_index, instance, seat)
        if key not in cache:
            cache[key] = entries[entry_index].make(instance, seat)
        return cache[key]

    def episodes(row: LeagueEntry, column: LeagueEntry) -> int:
        cell_games = 2 * row.instances * (column.instances - (row is column))  # both seat arrangements
        return max(episodes_per_game, -(-min_cell_episodes // cell_games)) if cell_games else episodes_per_game

    games: list[dict[str, Any]] = []
    total = sum(r.instances * c.instances - (r is c) * r.instances for r in entries for c in entries)
    for (a, row), (b, column) in itertools.product(enumerate(entries), repeat=2):
        for i, j in itertools.product(range(row.instances), range(column.instances)):
            if a == b and i == j:
                continue  # cross-seed only on the diagonal
            game_seed = derive_seed(seed, Stream.EVALUATION, len(games))
            result = evaluate("coin_game_v0", agent(a, i, 0), agent(b, j, 1), episodes=episodes(row, column),
                              seed=game_seed, **env_options)
            games.append({"row": row.name, "column": column.name, "instances": [i, j], "seed": game_seed,
                          "episodes": episodes(row, column),
                          **{f"seat_{s}": _seat_record(result, s) for s in (0, 1)}})
            if on_game is not None:
                on_game(len(games), total)
    return {
        "names": names,
        "kinds": {e.name: e.kind for e in entries},
        "instances": {e.name: e.instances for e in entries},
        "episodes_per_game": episodes_per_game,
        "min_cell_episodes": min_cell_episodes,
        "seed": seed,
        "env_options": dict(env_options),
        "games": games,
        "cells": league_cells(games, names),
    }


def _seat_record(result: dict[str, Any], seat: int) -> dict[str, Any]:
    """What the league keeps of one seat of an ``evaluate`` result: sums that pool across games."""
    side = result[f"player_{seat}"]
    steps = result["episodes"] * result["steps"]
    pickups = side["pickups_per_step"] * steps
    own = side["own_coin_rate"]
    after, otherwise = side.get("takes_other_coin_after_theft"), side.get("takes_other_coin_otherwise")
    return {
        "reward_per_step": side["reward_per_step"],
        "pickups": round(pickups),
        "own_pickups": 0 if own is None else round(own * pickups),
        "steps_after_theft": side.get("steps_after_theft", 0),
        "takes_after_theft": 0 if after is None else round(after * side.get("steps_after_theft", 0)),
        "steps_otherwise": side.get("steps_otherwise", 0),
        "takes_otherwise": 0 if otherwise is None else round(otherwise * side.get("steps_otherwise", 0)),
    }


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


# The counts of a seat record (:func:`_seat_record`) that pool across games.
SEAT_COUNTS = ("own_pickups", "pickups", "takes_after_theft", "steps_after_theft", "takes_otherwise", "steps_otherwise")


def seat_rates(counts: dict[str, Any]) -> dict[str, float]:
    """The rates of a seat record's counts (one game's, or several games' summed):
    ``own_coin_rate``, ``takes_other_coin_after_theft``, ``takes_other_coin_otherwise``
    (NaN where nothing was counted)."""
    return {
        "own_coin_rate": _ratio(counts["own_pickups"], counts["pickups"]),
        "takes_other_coin_after_theft": _ratio(counts["takes_after_theft"], counts["steps_after_theft"]),
        "takes_other_coin_otherwise": _ratio(counts["takes_otherwise"], counts["steps_otherwise"]),
    }


def league_cells(games: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Every cell of the table from the games of :func:`play_league` (its docstring:
    per row instance, its games in both seats pooled; then describe() over instances)."""
    pooled: dict[tuple[str, str, int], dict[str, list[float]]] = {}

    def add(row: str, column: str, instance: int, mine: dict[str, Any], theirs: dict[str, Any],
            episodes: int | None) -> None:
        bucket = pooled.setdefault((row, column, instance), {"rewards": [], "opponent_rewards": [], "episodes": 0,
                                                              "sums": dict.fromkeys(SEAT_COUNTS, 0)})
        bucket["episodes"] += episodes or 0
        bucket["rewards"].append(mine["reward_per_step"])
        bucket["opponent_rewards"].append(theirs["reward_per_step"])
        for key in SEAT_COUNTS:
            bucket["sums"][key] += mine[key]

    for game in games:
        i, j = game["instances"]
        episodes = game.get("episodes")  # (older records do not say)
        add(game["row"], game["column"], i, game["seat_0"], game["seat_1"], episodes)  # the row agent in seat 0
        add(game["column"], game["row"], j, game["seat_1"], game["seat_0"], episodes)  # the column agent in seat 1
    cells: dict[str, dict[str, Any]] = {}
    for row, column in itertools.product(names, repeat=2):
        instances = sorted(k for (r, c, k) in pooled if (r, c) == (row, column))
        buckets = [pooled[(row, column, k)] for k in instances]
        if not buckets:
            cells.setdefault(row, {})[column] = {**dict.fromkeys(CELL_METRICS), "games": 0, "episodes": 0}
            continue
        rates = [seat_rates(b["sums"]) for b in buckets]
        per_instance = {
            "reward_per_step": [float(np.mean(b["rewards"])) for b in buckets],
            "opponent_reward_per_step": [float(np.mean(b["opponent_rewards"])) for b in buckets],
            **{name: [r[name] for r in rates] for name in rates[0]},
        }
        cell: dict[str, Any] = {name: describe(values) for name, values in per_instance.items()}
        cell["instances"] = instances
        cell["games"] = sum(len(b["rewards"]) for b in buckets)
        cell["episodes"] = sum(b["episodes"] for b in buckets)
        cells.setdefault(row, {})[column] = cell
    return cells


# --------------------------------------------------------------------------- output
def league_markdown(league: dict[str, Any], metric: str = "reward_per_step") -> str:
    """The league table of one cell metric (rows: the agent whose side is shown; columns:
    its opponent), then the row agents against always-defect."""
    names = league["names"]
    cells = league["cells"]
    lines = [
        f"{metric.replace('_', ' ')} of the row agent against the column agent, both seats, mean "
        f"[95% interval] over the row agent's instances (diagonal: cross-seed play only); "
        f"{league['episodes_per_game']} episodes per game"
        + (f", more where a cell has fewer games: every cell pools at least {league['min_cell_episodes']} episodes."
           if league.get("min_cell_episodes") else "."),
        "",
        "| agent \\ opponent | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for row in names:
        lines.append(f"| {row} | " + " | ".join(interval_text(cells[row][c].get(metric)) for c in names) + " |")
    if "always-defect" in names:
        lines += [
            "",
            "Against always-defect (both seats; always-own-coin is the baseline that never retaliates). "
            "Takes-other-coin: P(the row agent takes always-defect's coin | it is on the board) in the "
            "3 steps after always-defect took one of its coins, and at other steps.",
            "",
            "| agent | reward/step | always-defect's reward/step | own-coin rate | takes other coin after a theft | otherwise |",
            "|---|---|---|---|---|---|",
        ]
        for row in names:
            cell = cells[row]["always-defect"]
            lines.append(f"| {row} | " + " | ".join(interval_text(cell.get(m)) for m in CELL_METRICS) + " |")
    return "\n".join(lines) + "\n"


def annotated_heatmap(plt: Any, grid: np.ndarray, rows: Sequence[str], columns: Sequence[str], xlabel: str,
                      ylabel: str, title: str, centred: bool = False) -> Any:
    """A matplotlib figure of ``grid`` ``[rows, columns]`` with each finite value written in its
    cell (red low, green high; ``centred``: colour scale symmetric about 0). Returns the figure."""
    fig, ax = plt.subplots(figsize=(1.1 * len(columns) + 2.5, 0.8 * len(rows) + 1.8))
    limits = {}
    if centred and np.isfinite(grid).any():
        limit = float(np.nanmax(np.abs(grid)))
        limits = {"vmin": -limit, "vmax": limit}
    image = ax.imshow(grid, cmap="RdYlGn", **limits)
    for (i, j), value in np.ndenumerate(grid):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.colorbar(image, ax=ax)
    return fig


def league_heatmap(league: dict[str, Any], path: str | Path, metric: str = "reward_per_step") -> Path:
    """A heatmap of one cell metric (mean over instances, row agent's side), LOQA-league style."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = league["names"]
    grid = np.array([[np.nan if (league["cells"][r][c].get(metric) or {}).get("mean") is None
                      else league["cells"][r][c][metric]["mean"] for c in names] for r in names])
    fig = annotated_heatmap(plt, grid, names, names, "opponent", "agent (its side shown)",
                            f"coin-game league: {metric.replace('_', ' ')}, both seats, cross-seed", centred=True)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
