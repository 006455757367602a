"""Evaluate trained LOQA learners on the coin-game protocol of the LOQA league.

A LOQA run (:func:`lola_agents.learners.loqa.train_loqa`) leaves a trainer checkpoint
``<log_dir>/checkpoint.pt``; its seat 0 is the learner. :func:`export_learner` writes that
learner as a pair folder (``player_0`` and ``player_1``: the same policy, which reads
either seat) that :func:`lola_agents.agents.load_agent` and
:func:`lola_agents.league.checkpoint_entry` load. :func:`evaluate_loqa` then plays, frozen,
on the game the run trained on (3x3, no stay action; 50-step episodes unless told):

* **self-play**: each learner against a second copy of itself, ``blocks`` evaluation
  games (:func:`lola_agents.evaluation.evaluate`) of ``ceil(episodes / blocks)`` episodes,
  each copy's action sampling seeded per game: reward per step of each seat, own-coin rate
  of each seat and of both, and the retaliation metric
  (:func:`lola_agents.metrics.retaliation`);
* **against always-defect** (:class:`lola_agents.fixed.AlwaysDefectCoinAgent`: shortest
  wrapped path to the coin, random tie-breaks): the league
  (:func:`lola_agents.league.play_league`) of the learners (one instance per checkpoint)
  and always-defect with ``blocks`` instances (tie-break seeds), ``ceil(episodes /
  blocks)`` episodes per game, so each learner plays ``blocks`` games in each seat.
  Reported per seat and pooled over both (the league cell). With several checkpoints,
  cross-seed play (each learner against the other seeds', both seats) is a second league of
  the learners alone, at least ``episodes`` episodes per learner and seat; it replaces the
  first league's diagonal (whose games of ``ceil(episodes / blocks)`` episodes are too few).

Intervals: every figure of one learner is the mean over its ``blocks`` evaluation games
with a Student-t 95% interval (:func:`lola_agents.metrics.describe`): evaluation noise of
one trained agent, not the spread over training seeds. With several checkpoints the
league cells and ``across_seeds`` give the mean and interval over them (training seeds).

    python -m lola_agents.learners.loqa_eval runs/loqa-cpu-seed0 --max-cycles 50 150 \
        --curve runs/loqa-cpu-seed0 --json results.json
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from lola_agents.league import checkpoint_entry, fixed_entries, play_league, seat_rates
from lola_agents.learners.loqa import PRESETS, LOQAAgent, LOQAConfig, LOQAPolicy, LOQAPreset
from lola_agents.metrics import describe, interval_text

# The published figures of LOQA's checkpoints in the LOQA league (3x3, 50 steps, the
# agent in seat 0 against always-defect), for the tables.
PUBLISHED_LOQA = {
    "self_play_own_coin_rate": (0.76, 0.91),
    "self_play_reward_per_step": (0.22, 0.30),
    "vs_always_defect_reward_per_step": (-0.054, -0.072),
}
# Per evaluation game and seat: what is averaged over games (keys of an ``evaluate`` seat).
SEAT_METRICS = ("reward_per_step", "own_coin_rate", "takes_other_coin_after_theft", "takes_other_coin_otherwise")


def _run_preset(settings: dict[str, Any], file: Path) -> LOQAPreset:
    """The preset whose batch matches the checkpoint's, with the learner's configuration saved in
    the checkpoint (runs written before it was kept: the preset's)."""
    matches = [p for p in PRESETS.values()
               if p.num_envs == settings.get("num_envs") and p.max_cycles == settings.get("steps_per_update")]
    if not matches:
        raise ValueError(
            f"{file}: a LOQA run of {settings.get('num_envs')} games x {settings.get('steps_per_update')} steps "
            f"matches no preset; known: { {n: (p.num_envs, p.max_cycles) for n, p in PRESETS.items()} }")
    saved = (settings.get("agent_configs") or [None])[0]
    return matches[0] if saved is None else replace(matches[0], agent=LOQAConfig(**saved))


def load_learner(checkpoint: str | Path, setting: str | LOQAPreset | None = None) -> tuple[LOQAAgent, dict[str, Any]]:
    """The learner (seat 0) of a LOQA trainer checkpoint, and ``{"updates", "seed", "preset",
    "env_options"}`` of its run.

    Args:
        checkpoint: the ``checkpoint.pt`` file, or the run's log dir.
        setting: the run's :class:`~lola_agents.learners.loqa.LOQAPreset` or preset name;
            None: the preset of :data:`~lola_agents.learners.loqa.PRESETS` with the run's
            games and steps per update, and the learner's configuration saved in the checkpoint.

    Raises:
        ValueError naming the file when it is not a LOQA run's checkpoint (or the
        checkpoint's own checks fail, :func:`lola_agents.checkpoint.load_checkpoint`).
    """
    from lola_agents.checkpoint import load_checkpoint, restore_in_memory_state
    from lola_agents.seeding import agent_seed

    file = Path(checkpoint)
    if file.is_dir():
        file = file / "checkpoint.pt"
    payload = load_checkpoint(file)
    settings = json.loads(payload["settings"])
    if settings.get("agents", [None])[0] != LOQAAgent.__name__:
        raise ValueError(f"{file}: seat 0 is {settings.get('agents')}, not a {LOQAAgent.__name__} learner")
    if setting is None:
        setting = _run_preset(settings, file)
    elif isinstance(setting, str):
        if setting not in PRESETS:
            raise ValueError(f"unknown LOQA preset {setting!r}; known: {sorted(PRESETS)}")
        setting = PRESETS[setting]
    learner = LOQAAgent(setting.agent, seed=agent_seed(int(settings["seed"]), 0))
    restore_in_memory_state(learner, payload["agents"][0], file)
    # The preset's name when the run used it unchanged (the learner's seed is the run's).
    name = next((n for n, p in PRESETS.items() if p == replace(setting, agent=replace(setting.agent, seed=p.agent.seed))),
                "custom")
    info = {"updates": int(payload["update"]), "seed": int(settings["seed"]), "preset": name,
            "env_options": setting.env_kwargs()}
    return learner, info


def export_learner(checkpoint: str | Path, folder: str | Path,
                   setting: str | LOQAPreset | None = None) -> dict[str, Any]:
    """Write the learner of ``checkpoint`` (``setting``: as :func:`load_learner`) as a pair
    folder ``folder/player_0``, ``folder/player_1`` of its frozen actor
    (:class:`~lola_agents.learners.loqa.LOQAPolicy`; the same policy in both: it
    canonicalises its seat's view); returns :func:`load_learner`'s run info."""
    learner, info = load_learner(checkpoint, setting)
    policy = LOQAPolicy.of(learner)
    for seat in (0, 1):
        policy.save(Path(folder) / f"player_{seat}")
    return info


def _seeded_copy(folder: Path, seat: int, seed: int) -> LOQAAgent:
    """A fresh copy of the exported learner whose action sampling is seeded by ``seed``."""
    from lola_agents.agents import load_agent
    from lola_agents.seeding import torch_generator

    agent = load_agent(str(folder / f"player_{seat}"))
    agent.generator = torch_generator(seed)
    return agent


def _over_games(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``describe`` of each :data:`SEAT_METRICS` over games (per-seat records of ``evaluate``)."""
    return {metric: describe([r.get(metric) for r in records]) for metric in SEAT_METRICS}


def self_play(folder: Path, episodes: int, blocks: int, seed: int, env_options: dict[str, Any]) -> dict[str, Any]:
    """The exported learner in ``folder`` against a copy of itself (module doc): per seat
    :data:`SEAT_METRICS` over ``blocks`` games, plus the joint own-coin rate."""
    from lola_agents.evaluation import evaluate
    from lola_agents.seeding import Stream, derive_seed

    per_game = math.ceil(episodes / blocks)
    results = []
    for block in range(blocks):
        game_seed = derive_seed(seed, Stream.EVALUATION, 0, block)
        players = [_seeded_copy(folder, s, derive_seed(game_seed, s)) for s in (0, 1)]
        results.append(evaluate("coin_game_v0", *players, episodes=per_game, seed=game_seed, **env_options))
    return {
        "games": blocks,
        "episodes": blocks * per_game,
        "own_coin_rate": describe([r["own_coin_rate"] for r in results]),
        **{f"seat_{s}": _over_games([r[f"player_{s}"] for r in results]) for s in (0, 1)},
    }


def _seat_rates(record: dict[str, Any]) -> dict[str, float]:
    """A league game's seat record as the figures of :data:`SEAT_METRICS`."""
    return {"reward_per_step": record["reward_per_step"], **seat_rates(record)}


def against_always_defect(folders: Sequence[Path], episodes: int, blocks: int, seed: int,
                          env_options: dict[str, Any], name: str = "LOQA") -> dict[str, Any]:
    """The league of the learners (entry ``name``) and always-defect (module doc). Returns per
    learner instance its figures in seat 0 and seat 1 (over its ``blocks`` games in that
    seat), and the league's cells (both seats pooled; intervals over learner instances).

    With ``k >= 2`` learners the diagonal cell (cross-seed play: each learner against the
    other seeds' learners) comes from a league of the learners alone whose games have
    ``ceil(episodes / (k - 1))`` episodes, so each learner meets the other seeds in at least
    ``episodes`` episodes in each seat (``cross_seed_episodes_per_game``)."""
    learners = checkpoint_entry(name, folders)
    (always_defect,) = [e for e in fixed_entries(blocks) if e.name == "always-defect"]
    league = play_league([learners, always_defect], episodes_per_game=math.ceil(episodes / blocks), seed=seed,
                         **env_options)
    per_instance = []
    for instance in range(len(folders)):
        seat_0 = [_seat_rates(g["seat_0"]) for g in league["games"]
                  if (g["row"], g["column"], g["instances"][0]) == (name, "always-defect", instance)]
        seat_1 = [_seat_rates(g["seat_1"]) for g in league["games"]
                  if (g["row"], g["column"], g["instances"][1]) == ("always-defect", name, instance)]
        per_instance.append({"seat_0": _over_games(seat_0), "seat_1": _over_games(seat_1),
                             "games_per_seat": len(seat_0)})
    cells = {row: dict(league["cells"][row]) for row in league["names"]}
    result = {"per_instance": per_instance, "episodes_per_game": league["episodes_per_game"], "cells": cells}
    if len(folders) > 1:
        per_game = math.ceil(episodes / (len(folders) - 1))
        cross = play_league([learners], episodes_per_game=per_game, seed=seed, **env_options)
        cells[name][name] = cross["cells"][name][name]
        result["cross_seed_episodes_per_game"] = per_game
    return result


def evaluate_loqa(checkpoints: Sequence[str | Path], episodes: int = 1000, blocks: int = 10, seed: int = 0,
                  max_cycles: int = 50, export_to: str | Path | None = None,
                  setting: str | LOQAPreset | None = None) -> dict[str, Any]:
    """The LOQA-league protocol (module doc) for the learners of ``checkpoints``.

    Args:
        checkpoints: trainer checkpoints of LOQA runs (files, or their log dirs), one per
            training seed, all of the same game.
        episodes: at least this many episodes per learner and seat arrangement (>= 1).
        blocks: evaluation games they are split into (>= 2: the intervals are over them).
        seed: the evaluation's seed (:mod:`lola_agents.seeding`, evaluation stream).
        max_cycles: steps per episode (50: the LOQA league; 150: the LOLA paper).
        export_to: where the pair folders go (``<export_to>/seed<k>``); None: a
            temporary folder, deleted afterwards.
        setting: the runs' preset (:func:`load_learner`; None: found from the batch).

    Returns:
        JSON-ready ``{"protocol", "runs": [{"checkpoint", "updates", "seed", "preset"}],
        "self_play": [per run], "vs_always_defect": {...}}``; rewards are per step, rates in [0, 1].
    """
    if not checkpoints:
        raise ValueError("evaluate_loqa needs at least one checkpoint")
    for name, value, low in (("episodes", episodes, 1), ("blocks", blocks, 2), ("max_cycles", max_cycles, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    with tempfile.TemporaryDirectory(prefix="loqa-eval-") as scratch:
        root = Path(export_to) if export_to is not None else Path(scratch)
        folders, runs = [], []
        for k, checkpoint in enumerate(checkpoints):
            folder = root / f"seed{k}"
            runs.append({"checkpoint": str(checkpoint), **export_learner(checkpoint, folder, setting)})
            folders.append(folder)
        games = {json.dumps(r["env_options"], sort_keys=True) for r in runs}
        if len(games) > 1:
            raise ValueError(f"the checkpoints were trained on different games: {sorted(games)}")
        env_options = {**runs[0].pop("env_options"), "max_cycles": max_cycles}
        for run in runs[1:]:
            run.pop("env_options")
        return {"runs": runs, **evaluate_pairs(folders, env_options, episodes, blocks, seed)}


def evaluate_pairs(folders: Sequence[str | Path], env_options: dict[str, Any], episodes: int = 1000,
                   blocks: int = 10, seed: int = 0, name: str = "LOQA") -> dict[str, Any]:
    """The LOQA-league protocol (module doc) for trained coin-game agents of any kind, one
    pair folder (``player_0``, ``player_1``, as ``lola-bench`` and :func:`export_learner`
    write them) per training seed, on the coin game of ``env_options`` (shared-view planes).

    Returns ``{"protocol", "self_play": [per folder], "vs_always_defect": {...}}``, and with
    several folders ``"across_seeds"`` (:func:`across_seeds`).
    """
    env_options = dict(env_options)
    if env_options.pop("egocentric", False):
        raise ValueError("the league plays the shared-view planes; these learners were trained on egocentric ones")
    folders = [Path(f) for f in folders]
    result = {
        "protocol": {"episodes_at_least": episodes, "blocks": blocks, "seed": seed, "env_options": env_options},
        "self_play": [self_play(f, episodes, blocks, seed, env_options) for f in folders],
        "vs_always_defect": against_always_defect(folders, episodes, blocks, seed, env_options, name),
    }
    if len(folders) > 1:
        result["across_seeds"] = across_seeds(result, name)
    return result


def across_seeds(result: dict[str, Any], name: str = "LOQA") -> dict[str, Any]:
    """The figures of :func:`evaluate_pairs` (or :func:`evaluate_loqa`) over training seeds:
    each a :func:`lola_agents.metrics.describe` (mean, Student-t 95% interval over the
    seeds, ``per_seed``) of the per-seed means; ``cross_seed`` is the league's diagonal cell
    (each learner against the other seeds' learners, both seats pooled; None with one seed)."""
    plays, instances = result["self_play"], result["vs_always_defect"]["per_instance"]
    summary: dict[str, Any] = {"seeds": len(plays),
                               "self_play_own_coin_rate": describe([p["own_coin_rate"]["mean"] for p in plays])}
    for seat in ("seat_0", "seat_1"):
        summary[f"self_play_reward_per_step_{seat}"] = describe([p[seat]["reward_per_step"]["mean"] for p in plays])
    for seat in ("seat_0", "seat_1"):
        for key in SEAT_METRICS:
            summary[f"vs_always_defect_{key}_{seat}"] = describe([i[seat][key]["mean"] for i in instances])
    diagonal = result["vs_always_defect"]["cells"][name][name]
    summary["cross_seed"] = diagonal if diagonal.get("games") else None
    return summary


# Columns of a run's progress.csv kept in its thinned curve (name in the curve: column).
CURVE_COLUMNS = {
    "update": "update",
    "env_steps": "env_steps",
    "wall_time_s": "wall_time_s",
    "own_coin_rate": "agent0/own_coin_rate",
    "reward_per_step_0": "reward_0",
    "reward_per_step_1": "reward_1",
    "entropy": "agent0/entropy",
}


def thinned_curve(log_dir: str | Path, every: int = 50, digits: int = 4) -> dict[str, list[float]]:
    """The training curve of a LOQA run (its ``progress.csv``: one row per update, the
    training batches against past selves) at every ``every``-th update and the last one,
    rounded to ``digits`` decimals: ``{name: [value per kept update]}`` for the names of
    :data:`CURVE_COLUMNS` (own-coin rate of both seats, rewards per step of the learner (0)
    and its past selves (1), the policy's entropy in nats, wall seconds since the start)."""
    import csv

    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be an integer >= 1, got {every!r}")
    with open(Path(log_dir) / "progress.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{log_dir}/progress.csv has no updates")
    missing = sorted(set(CURVE_COLUMNS.values()) - set(rows[0]))
    if missing:
        raise ValueError(f"{log_dir}/progress.csv lacks the column(s) {missing}")
    kept = [row for k, row in enumerate(rows, 1) if k % every == 0 or k == len(rows)]
    return {name: [round(float(row[column]), digits) for row in kept] for name, column in CURVE_COLUMNS.items()}


def compact(value: Any, digits: int = 4) -> Any:
    """``value`` (an :func:`evaluate_loqa` result) for a small record: each ``describe`` dict
    becomes ``{"mean", "ci95", "n"}`` rounded to ``digits`` decimals (its per-game values
    and std dropped), and the other floats are rounded."""
    if isinstance(value, dict):
        if {"mean", "ci95", "per_seed"} <= set(value):
            ci = value["ci95"]
            return {"mean": compact(value["mean"], digits), "ci95": None if ci is None else compact(ci, digits),
                    "n": value["n"]}
        return {k: compact(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [compact(v, digits) for v in value]
    if isinstance(value, float):
        return round(value, digits)
    return value


_fmt = partial(interval_text, digits=3)  # the tables' mean [95% interval]


def _run_label(run: dict[str, Any]) -> str:
    """A table row's name: ``<preset> seed <k>`` for a LOQA run, else its ``label`` (a pair folder)."""
    return run["label"] if "label" in run else f"{run['preset']} seed {run['seed']}"


def loqa_markdown(result: dict[str, Any]) -> str:
    """A table per run of :func:`evaluate_loqa`'s figures (mean [95% interval over
    evaluation games]), with the published LOQA figures for the 50-step protocol."""
    protocol = result["protocol"]
    steps = protocol["env_options"]["max_cycles"]
    lines = [f"{steps}-step episodes, 3x3, >= {protocol['episodes_at_least']} episodes per seat arrangement "
             f"in {protocol['blocks']} evaluation games; mean [95% interval over those games].", "",
             "| run | updates | self-play own-coin (both) | self-play reward/step seat 0 / seat 1 | "
             "vs always-defect reward/step seat 0 / seat 1 | after a theft / otherwise: P(take other's coin), "
             "self-play | same, vs always-defect (seat 0) |",
             "|---|---|---|---|---|---|---|"]
    for k, run in enumerate(result["runs"]):
        sp, ad = result["self_play"][k], result["vs_always_defect"]["per_instance"][k]
        lines.append(
            f"| {_run_label(run)} | {run.get('updates', '')} | {_fmt(sp['own_coin_rate'])} | "
            f"{_fmt(sp['seat_0']['reward_per_step'])} / {_fmt(sp['seat_1']['reward_per_step'])} | "
            f"{_fmt(ad['seat_0']['reward_per_step'])} / {_fmt(ad['seat_1']['reward_per_step'])} | "
            f"{_fmt(sp['seat_0']['takes_other_coin_after_theft'])} / {_fmt(sp['seat_0']['takes_other_coin_otherwise'])} | "
            f"{_fmt(ad['seat_0']['takes_other_coin_after_theft'])} / {_fmt(ad['seat_0']['takes_other_coin_otherwise'])} |")
    seeds = result.get("across_seeds")
    if seeds:
        fmt = {k: _fmt(v) for k, v in seeds.items() if isinstance(v, dict) and "mean" in v}
        lines.append(f"| mean [95% interval] over the {seeds['seeds']} seeds | | {fmt['self_play_own_coin_rate']} | "
                     f"{fmt['self_play_reward_per_step_seat_0']} / {fmt['self_play_reward_per_step_seat_1']} | "
                     f"{fmt['vs_always_defect_reward_per_step_seat_0']} / "
                     f"{fmt['vs_always_defect_reward_per_step_seat_1']} | | "
                     f"{fmt['vs_always_defect_takes_other_coin_after_theft_seat_0']} / "
                     f"{fmt['vs_always_defect_takes_other_coin_otherwise_seat_0']} |")
    if steps == 50:
        pub = PUBLISHED_LOQA
        lines.append(
            f"| LOQA, published (its checkpoints, agent in seat 0) | 6000 | {pub['self_play_own_coin_rate'][0]}-"
            f"{pub['self_play_own_coin_rate'][1]} | {pub['self_play_reward_per_step'][0]}-"
            f"{pub['self_play_reward_per_step'][1]} | {' / '.join(map(str, pub['vs_always_defect_reward_per_step']))}"
            " | | |")
    cross = seeds.get("cross_seed") if seeds else None
    if cross:
        lines += ["", "Cross-seed play (each seed's learner against every other seed's, both seats pooled; "
                  "mean [95% interval] over seeds):", "",
                  "| reward/step | the other seed's reward/step | own-coin rate | P(take other's coin) after a "
                  "theft / otherwise |", "|---|---|---|---|",
                  f"| {_fmt(cross['reward_per_step'])} | {_fmt(cross['opponent_reward_per_step'])} | "
                  f"{_fmt(cross['own_coin_rate'])} | {_fmt(cross['takes_other_coin_after_theft'])} / "
                  f"{_fmt(cross['takes_other_coin_otherwise'])} |"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """``python -m lola_agents.learners.loqa_eval CHECKPOINT [...]`` (or ``--pairs FOLDER [...]``
    for trained agents of any kind): print the tables (one per ``--max-cycles``); ``--json FILE`` writes ``{"run": --run-info, "curve":
    thinned_curve(--curve), "evaluation": {max_cycles: compact(evaluate_loqa(...))}}``."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("checkpoints", nargs="*", help="LOQA trainer checkpoints (or their log dirs)")
    parser.add_argument("--pairs", nargs="+", default=None, metavar="FOLDER",
                        help="instead of checkpoints: pair folders of any coin-game learner (player_0, player_1 "
                        "and env_options.json, as lola-bench's coin_pair runs write them), one per training seed")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default=None, choices=sorted(PRESETS), help="default: from the run's batch")
    parser.add_argument("--max-cycles", type=int, nargs="+", default=[50])
    parser.add_argument("--export-to", default=None, help="keep the exported agent folders here")
    parser.add_argument("--json", default=None, help="write the figures here")
    parser.add_argument("--curve", default=None, help="a run's log dir: its thinned curve goes into --json")
    parser.add_argument("--curve-every", type=int, default=50)
    parser.add_argument("--run-info", default=None, help="a JSON file of the run's cost (seconds, memory, load)")
    args = parser.parse_args(argv)
    if bool(args.checkpoints) == bool(args.pairs):
        parser.error("give LOQA checkpoints or --pairs FOLDER ..., one of the two")
    record: dict[str, Any] = {
        "run": json.loads(Path(args.run_info).read_text()) if args.run_info else None,
        "curve": thinned_curve(args.curve, args.curve_every) if args.curve else None,
        "evaluation": {},
    }
    for steps in args.max_cycles:
        if args.pairs:
            env_options = json.loads((Path(args.pairs[0]) / "env_options.json").read_text())
            result = {"runs": [{"label": str(folder)} for folder in args.pairs],
                      **evaluate_pairs(args.pairs, {**env_options, "max_cycles": steps}, args.episodes,
                                       args.blocks, args.seed, name="learner")}
        else:
            result = evaluate_loqa(args.checkpoints, args.episodes, args.blocks, args.seed, steps,
                                   export_to=args.export_to, setting=args.preset)
        cells = result["vs_always_defect"]["cells"]
        cells.pop("always-defect")  # the learner's row holds both sides' rewards
        record["evaluation"][str(steps)] = compact(result)
        print(loqa_markdown(result))
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
