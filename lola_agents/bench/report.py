"""Summary JSON, markdown report and figures of a benchmark run.

``summary.json`` schema (``schema_version`` 1)::

    {
      "schema_version": 1,
      "package_version": str, "created_utc": str, "command": [str],
      "scale": str, "backend": str, "seeds": [int], "suites": [str],
      "machine": {"platform": str, "python": str, "cpu_count": int, "torch": str},
      "wall_time_s": float,                      # whole run, set-up excluded
      "groups": [                                # one per (suite, group): a report row
        {"suite": str, "group": str, "env_id": str, "agents": [str, str],
         "seeds": [int], "settings": {...}, "wall_time_s": float,
         "cpu_time_s": float|null,              # the tasks' CPU seconds (null: not recorded)
         "metrics": {name: {"per_seed": [float|null], "n": int, "n_missing": int,
                            "mean": float|null, "std": float|null,
                            "ci95": [low, high]|null}
                     | {"kind": "share", "per_seed": [bool|null], "n": int,
                        "n_missing": int, "successes": int, "mean": percent|null,
                        "std": null, "ci95": [low %, high %]|null}},
         "reference": {name: float},           # the paper's figure where one exists
         "intervals": bool,                     # the report shows mean [95% interval] (else mean ± std)
         "league": {...}}                       # league groups only: lola_agents.league.play_league
      ]
    }

Metric names end in ``_0`` / ``_1`` for player_0 / player_1; ``ci95`` is the
two-sided 95% Student-t interval of the mean over seeds, or for a share (a
metric whose per-seed values are booleans: %TFT, %Nash) the 95% Wilson interval
(:func:`lola_agents.metrics.describe_metric`, docs/metrics.md); ``n_missing`` counts
seeds whose value is undefined (a diverged run, no coin picked), which are
never averaged in.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from lola_agents.bench.core import AXIS_CURVES, get_suite, slug
from lola_agents.league import annotated_heatmap
from lola_agents.metrics import describe, describe_metric, format_share

SCHEMA_VERSION = 1
MATRIX_STATES = ("start", "CC", "CD", "DC", "DD")  # display order of the bars


def merge_groups(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge per-task results into one entry per (suite, group), seeds in order."""
    buckets: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        buckets[(result["task"]["suite"], result["task"]["group"])].append(result)
    groups = []
    for (suite_name, group), parts in buckets.items():
        parts.sort(key=lambda r: r["task"]["seeds"][0])
        first = parts[0]["task"]
        seeds = [s for p in parts for s in p["task"]["seeds"]]
        metric_names = list(dict.fromkeys(k for p in parts for k in p["metrics"]))
        curve_names = list(dict.fromkeys(k for p in parts for k in p["curves"]))
        suite = get_suite(suite_name)
        groups.append(
            {
                "suite": suite_name,
                "group": group,
                "env_id": first["env_id"],
                "agents": first["agents"],
                "seeds": seeds,
                "settings": first["settings"],
                "wall_time_s": sum(p["wall_time_s"] for p in parts),
                # None for results of versions that did not record CPU time
                "cpu_time_s": (sum(p["cpu_time_s"] for p in parts)
                               if all("cpu_time_s" in p for p in parts) else None),
                "metrics": {
                    name: describe_metric(
                        [
                            v
                            for p in parts
                            for v in p["metrics"].get(name, [None] * len(p["task"]["seeds"]))
                        ]
                    )
                    for name in metric_names
                },
                "curves": {
                    name: [c for p in parts for c in p["curves"].get(name, [])]
                    for name in curve_names
                },
                "reference": suite.reference.get(group, {}),
                "intervals": suite.intervals,  # cells as mean [95% interval] (else mean ± std)
                **({"league": parts[0]["extra"]["league"]} if "league" in parts[0].get("extra", {}) else {}),
            }
        )
    order = {name: i for i, name in enumerate(results_suite_order(results))}
    groups.sort(key=lambda g: order[g["suite"]])
    return groups


def results_suite_order(results: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["task"]["suite"] for r in results))


def format_value(stats: dict[str, Any], digits: int = 2, interval: bool = False) -> str:
    """``mean ± std``, or with ``interval`` ``mean [low, high]`` (its 95% interval), or the
    single value; ``n/a`` if undefined; marks missing seeds. A share as ``55% [34, 74]``
    (percent and 95% Wilson interval)."""
    if stats["mean"] is None:
        return "n/a"
    if stats.get("kind") == "share":
        text = format_share(stats)
    else:
        text = f"{stats['mean']:.{digits}f}"
    if interval and stats.get("kind") != "share":
        if stats.get("ci95") is not None:
            low, high = stats["ci95"]
            text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    elif stats["std"] is not None:
        text += f" ± {stats['std']:.{digits}f}"
    if stats["n_missing"]:
        text += f" ({stats['n_missing']} undefined)"
    return text


def markdown_report(summary: dict[str, Any]) -> str:
    """The report: one table per suite, headline metrics as columns (mean ± std over seeds)."""
    lines = [
        "# LOLA benchmark report",
        "",
        f"Command: `{' '.join(summary['command'])}`  ",
        f"Scale `{summary['scale']}`, seeds {summary['seeds']}, backend `{summary['backend']}`, "
        f"package {summary['package_version']}, {summary['created_utc']}  ",
        f"Machine: {summary['machine']['platform']}, {summary['machine']['cpu_count']} CPUs, "
        f"torch {summary['machine']['torch']}; wall time {summary['wall_time_s']:.0f} s.{_cpu_line(summary)}",
        "",
        "Cells are mean ± standard deviation over seeds, and shares (%TFT `pct_tft`, %TFT-4 "
        "`pct_tft4`, %Nash `pct_nash`) the percent of agents with its 95% Wilson interval; "
        "`[paper: x]` is the LOLA paper's figure for the same setting where it reports one; "
        "suites marked so show `mean [95% interval]` instead (Student-t over seeds); the other "
        "95% intervals are in summary.json. Definitions: docs/metrics.md.",
    ]
    by_suite: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for group in summary["groups"]:
        by_suite[group["suite"]].append(group)
    for suite_name, groups in by_suite.items():
        suite = get_suite(suite_name)
        headline = [m for m in suite.headline if any(m in g["metrics"] for g in groups)]
        lines += ["", f"## {suite_name}: {suite.description}", ""]
        lines.append("| pairing | seeds | " + " | ".join(headline) + " |")
        lines.append("|---|---|" + "---|" * len(headline))
        for g in groups:
            if "league" in g:
                continue  # drawn below the table
            cells = []
            for metric in headline:
                # summaries written before "intervals" existed show mean ± std, as recorded
                cell = format_value(g["metrics"][metric], interval=g.get("intervals", False)) if metric in g["metrics"] else ""
                if metric in g["reference"]:
                    cell += f" [paper: {g['reference'][metric]}]"
                cells.append(cell)
            lines.append(f"| {g['group']} | {len(g['seeds'])} | " + " | ".join(cells) + " |")
        lines += [""] + [f"- {note}" for note in suite.notes]
        for g in groups:
            if "league" in g:
                from lola_agents.league import league_markdown

                lines += ["", f"### {suite_name}: {g['group']}", "", league_markdown(g["league"]).rstrip()]
    figures = summary.get("figures", [])
    if figures:
        lines += ["", "## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in figures]
    return "\n".join(lines).rstrip() + "\n"


def _cpu_line(summary: dict[str, Any]) -> str:
    """" Task CPU N s (N / 2 on 2 cores)": the run's cost without the machine's load."""
    cpu = [g.get("cpu_time_s") for g in summary["groups"]]
    if not cpu or any(c is None for c in cpu):
        return ""
    total, cores = sum(cpu), summary["machine"].get("cpu_count") or 1
    return (f" Task CPU {total:.0f} s ({total / cores:.0f} s per core over {cores} cores: the wall "
            "time of an idle machine, were the tasks packed perfectly).")


def write_figures(summary: dict[str, Any], out_dir: Path) -> list[str]:
    """PNG figures into ``out_dir/figures``; returns their paths relative to ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def save(fig: Any, name: str) -> None:
        path = fig_dir / f"{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(str(path.relative_to(out_dir)))

    by_suite: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for group in summary["groups"]:
        by_suite[group["suite"]].append(group)

    _common_axis_figures(summary["groups"], save, plt)
    for group in summary["groups"]:
        if "league" in group:
            from lola_agents.league import league_heatmap

            path = league_heatmap(group["league"], fig_dir / f"{group['suite']}-{slug(group['group'])}-heatmap.png")
            written.append(str(path.relative_to(out_dir)))
    for suite_name, groups in by_suite.items():
        # Exact learners take no environment steps: their curves are drawn per update.
        stepless = [g for g in groups if g["curves"] and "env_steps" not in g["curves"]]
        curve_names = list(
            dict.fromkeys(c for g in stepless for c in g["curves"] if c not in AXIS_CURVES)
        )
        for curve in curve_names:
            fig, ax = plt.subplots(figsize=(6.5, 4))
            for g in stepless:
                runs = [r for r in g["curves"].get(curve, []) if r]
                if not runs:
                    continue
                length = min(len(r) for r in runs)
                data = np.array([r[:length] for r in runs], dtype=float)
                mean, std = np.nanmean(data, axis=0), np.nanstd(data, axis=0)
                x = np.arange(length)
                ax.plot(x, mean, label=g["group"])
                ax.fill_between(x, mean - std, mean + std, alpha=0.2)
            ax.set_xlabel("update (exact gradients: no environment steps)")
            ax.set_ylabel(curve.replace("_", " "))
            ax.set_title(f"{suite_name}: {curve.replace('_', ' ')} (mean ± std over seeds)")
            ax.legend(fontsize=7)
            save(fig, f"{suite_name}-{slug(curve)}")

        # P(action 0 | state) of player_0 at the end, per pairing; one figure per game.
        with_probs = [g for g in groups if f"p_coop_{MATRIX_STATES[0]}_0" in g["metrics"]]
        for env_id in dict.fromkeys(g["env_id"] for g in with_probs):
            bars = [g for g in with_probs if g["env_id"] == env_id]
            fig, ax = plt.subplots(figsize=(7, 4))
            width = 0.8 / len(bars)
            for i, g in enumerate(bars):
                stats = [g["metrics"][f"p_coop_{s}_0"] for s in MATRIX_STATES]
                means = np.array([math.nan if st["mean"] is None else st["mean"] for st in stats])
                stds = np.array([st["std"] or 0.0 for st in stats])
                # One standard deviation, clipped to the probability range.
                err = np.stack(
                    [means - np.clip(means - stds, 0, 1), np.clip(means + stds, 0, 1) - means]
                )
                ax.bar(
                    np.arange(5) + i * width, means, width, yerr=err, label=g["group"], capsize=2
                )
            ax.set_xticks(np.arange(5) + 0.4 - width / 2, MATRIX_STATES)
            ax.set_ylabel("P(action 0 | state), player_0")
            ax.set_ylim(0, 1.05)
            ax.set_title(f"{suite_name} on {env_id}: policy at the end (mean ± std over seeds)")
            ax.legend(fontsize=7)
            save(fig, f"{suite_name}-{slug(env_id)}-p-action0")

        # Head-to-head heatmap of player_0's reward per step.
        if any(g.get("settings", {}).get("heatmap") for g in groups):
            rows = list(dict.fromkeys(g["agents"][0] for g in groups))
            cols = list(dict.fromkeys(g["agents"][1] for g in groups))
            grid = np.full((len(rows), len(cols)), np.nan)
            for g in groups:
                stats = g["metrics"].get("reward_per_step_0")
                if stats and stats["mean"] is not None:
                    grid[rows.index(g["agents"][0]), cols.index(g["agents"][1])] = stats["mean"]
            fig = annotated_heatmap(plt, grid, rows, cols, "player_1", "player_0",
                                    f"{suite_name}: player_0 reward per step")
            save(fig, f"{suite_name}-heatmap")
    return written


# Curves drawn on the common axis, in this order, where any learner of a game has them.
COMMON_CURVES = ("own_coin_rate", "reward_per_step_0", "reward_per_step_1")
AXES = (
    ("env_steps", "environment steps (all games)"),
    ("wall_time_s", "wall-clock seconds of training"),
)


def mean_curve(runs: list[list[float]]) -> np.ndarray:
    """Mean over seeds of per-update values ``[updates]`` (cut to the shortest seed)."""
    length = min(len(r) for r in runs)
    return np.nanmean(np.array([r[:length] for r in runs], dtype=float), axis=0)


def _league_fixed_lines(groups: list[dict[str, Any]], curve: str) -> list[tuple[str, float]]:
    """``(label, value)`` of each fixed strategy of a league against itself, for the metric of
    ``curve`` (own-coin rate; reward per step of either seat = its side of the cell)."""
    metric = {"own_coin_rate": "own_coin_rate"}.get(curve, "reward_per_step" if curve.startswith("reward") else None)
    lines = []
    for g in groups:
        league = g.get("league")
        if not league or metric is None:
            continue
        for name, kind in league["kinds"].items():
            stats = league["cells"][name][name].get(metric)
            if kind == "fixed" and stats and stats["mean"] is not None:
                lines.append((f"{name} vs {name} (league)", stats["mean"]))
    return lines


def _common_axis_figures(groups: list[dict[str, Any]], save: Any, plt: Any) -> None:
    """One figure per game and curve: every learner of every suite against environment steps
    (left) and wall-clock seconds (right), mean over seeds. Pairings without a training curve
    in the same suites, shipped agents and the league's fixed strategies against themselves
    appear as dashed lines at their final evaluation value of the same metric."""
    for env_id in dict.fromkeys(g["env_id"] for g in groups):
        on_game = [g for g in groups if g["env_id"] == env_id]
        with_steps = [g for g in on_game if g["curves"].get("env_steps")]
        if not with_steps:
            continue
        for curve in COMMON_CURVES:
            learners = [g for g in with_steps if g["curves"].get(curve)]
            if not learners:
                continue
            suites = {g["suite"] for g in learners}
            # (label, value): pairings of these suites (or shipped agents of the game) without a
            # curve, and the league's fixed strategies against themselves
            flat = [
                (f"{g['group']} (final evaluation)", g["metrics"][curve]["mean"])
                for g in on_game
                if (g["suite"] in suites or g["suite"].endswith("_shipped"))
                and not g["curves"].get(curve)
                and (g["metrics"].get(curve) or {}).get("mean") is not None
            ] + _league_fixed_lines(on_game, curve)
            colors = plt.get_cmap("tab20")(np.linspace(0, 1, len(learners) + len(flat)))
            fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
            for ax, (axis, label) in zip(axes, AXES, strict=True):
                for color, g in zip(colors, learners, strict=False):
                    if not g["curves"].get(axis):
                        continue
                    x, y = mean_curve(g["curves"][axis]), mean_curve(g["curves"][curve])
                    n = min(len(x), len(y))
                    seeds = len(g["curves"][curve])
                    ax.plot(
                        x[:n],
                        y[:n],
                        color=color,
                        marker="o" if n < 4 else None,  # a short run still shows
                        label=f"{g['group']} ({seeds} seeds)",
                    )
                for color, (flat_label, value) in zip(colors[len(learners) :], flat, strict=True):
                    ax.axhline(value, color=color, ls="--", lw=0.8, label=flat_label)
                # Budgets that differ 20-fold or more (IPPO's 128k game steps next to AdAlign's
                # 8.7M): a log axis keeps every learner's curve readable.
                ends = [mean_curve(g["curves"][axis])[-1] for g in learners if g["curves"].get(axis)]
                if ends and min(ends) > 0 and max(ends) / min(ends) >= 20:
                    ax.set_xscale("log")
                    label += " (log scale)"
                ax.set_xlabel(label)
                ax.grid(alpha=0.3)
            axes[0].set_ylabel(f"{curve.replace('_', ' ')} (training batches)")
            axes[1].legend(fontsize=6, loc="best")
            fig.suptitle(
                f"{env_id}: {curve.replace('_', ' ')}, every learner on one axis (mean over seeds)"
            )
            save(fig, f"{slug(env_id)}-{slug(curve)}")
    return []


# --------------------------------------------------------------------------- recorded runs
COIN_FIXED = ("greedy", "own", "random")


def summarize_coin_records(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Tables of compact coin-pair records (``benchmarks/results/coin/records.jsonl``).

    Per pairing (finished runs, all seeds): the evaluation of the pair after training
    (own-coin rate, reward per step of each seat and their mean, training minutes, the
    training batches' own-coin rate over the last 10% of updates); each learner against
    greedy / own-coin-only in both seats with its retaliation; and, for a learner trained
    against a fixed strategy, its reward and its gap to greedy vs greedy. Each cell is
    :func:`~lola_agents.metrics.describe` over seeds (mean, std, 95% t-interval).
    """
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record.get("finished", record.get("evaluation") is not None):
            runs[record["pairing"]].append(record)
    out: dict[str, Any] = {"pairings": {}, "head_to_head": {}, "learning_against_fixed": {}}
    for pairing, rows in sorted(runs.items()):
        rows.sort(key=lambda r: r["seed"])
        pair = [r["evaluation"]["pair"] for r in rows]
        out["pairings"][pairing] = {
            "seeds": [r["seed"] for r in rows],
            "own_coin_rate": describe([e["own_coin_rate"] for e in pair]),
            "reward_per_step_0": describe([e["reward_per_step"][0] for e in pair]),
            "reward_per_step_1": describe([e["reward_per_step"][1] for e in pair]),
            "reward_per_step_mean": describe([sum(e["reward_per_step"]) / 2 for e in pair]),
            "train_minutes": describe([r["train_seconds"] / 60 for r in rows]),
            "training_last_10pct_own_coin": describe(
                [r["final_training"]["own_coin_rate"] for r in rows]
            ),
        }
        cells: dict[str, list[float]] = defaultdict(list)
        baseline = []
        for r in rows:
            ev = r["evaluation"]
            baseline.append(sum(ev["greedy_vs_greedy"]["reward_per_step"]) / 2)
            for seat in (0, 1):
                for opponent in ("greedy", "own"):
                    for as_seat in (0, 1):
                        key = f"player_{seat}_vs_{opponent}_as_player_{as_seat}"
                        if key not in ev:
                            continue
                        cells[f"{opponent}_as_player_{as_seat}"].append(
                            ev[key]["reward_per_step"][as_seat]
                        )
                        if opponent == "greedy" and "takes_other_coin" in ev[key]:
                            after, otherwise = ev[key]["takes_other_coin"][as_seat]
                            cells["after_theft"].append(after)
                            cells["otherwise"].append(otherwise)
        if cells:
            entry = {k: describe(v) for k, v in cells.items()}
            entry["greedy_vs_greedy"] = describe(baseline)
            out["head_to_head"][pairing] = entry
        kinds = rows[0]["pair"]
        fixed_seats = [i for i, k in enumerate(kinds) if k in COIN_FIXED]
        if len(fixed_seats) == 1:
            seat = 1 - fixed_seats[0]
            ev = [r["evaluation"] for r in rows]
            out["learning_against_fixed"][pairing] = {
                "seat": seat,
                "seeds": [r["seed"] for r in rows],
                "learner": describe([e["pair"]["reward_per_step"][seat] for e in ev]),
                "opponent": describe([e["pair"]["reward_per_step"][1 - seat] for e in ev]),
                "minus_greedy_vs_greedy": describe(
                    [
                        e["pair"]["reward_per_step"][seat]
                        - sum(e["greedy_vs_greedy"]["reward_per_step"]) / 2
                        for e in ev
                    ]
                ),
            }
    return out


def compact_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """``summary`` without the per-update curves: what a recorded run keeps in the repository.

    The report's tables (:func:`markdown_report`) come out the same from it.
    """
    groups = [{k: v for k, v in g.items() if k != "curves"} for g in summary["groups"]]
    return {
        **summary,
        "groups": groups,
        "curves_dropped": "per-update curves are not kept in the repository; rerun the command to get them",
    }
