"""Record the opponent-model studies: a compact table and the model-error figure.

LOLA-OM's learners log their model error and shaping diagnostics every update
(:mod:`lola_agents.learners.opponent_model`); the ``sampled_ipd`` suite keeps them as
curves (``model_kl_<seat>``, ``shaping_cosine_<seat>``, ``shaping_norm_ratio_<seat>``).
This module turns finished ``lola-bench`` run folders into what the docs cite::

    python -m lola_agents.bench.om_study runs/ipd-pg-ref runs/ipd-om --out benchmarks/results/ipd_om
    python -m lola_agents.bench.om_study runs/ipd-om-steps100 --append --out benchmarks/results/ipd_om

writes into ``--out``: ``results.md`` (one row per report group: reward per step, %TFT,
model error) and ``results.json`` (its numbers), ``model_kl.png`` (model error against the update, every group with the
curve), ``model_kl_by_update.json`` (the figure's numbers) and, per run folder,
``<folder>.summary.json`` (the run's summary without its curves), and ``runs.md``: every run's
``report.md``, one after the other (one small file instead of many).

Coin-game pairs (suite ``coin_pair``) get their own table: one row per experiment, its seeds
gathered from every run given (a seed recorded in two runs must have the same numbers), own-coin,
both rewards, the reward against greedy (always defect) per seat and the retaliation rates, each
as mean [Student-t 95% interval] (per-seed values). A run is a finished run folder or a recorded
``<dir>/<name>.summary.json``, whose report is then the ``<name>`` section of ``<dir>/runs.md``::

    python -m lola_agents.bench.om_study benchmarks/results/coin_om/om-seeds0-3.summary.json \
        benchmarks/results/coin_om/paired-seeds0-1.summary.json runs/om-seed4-true-seeds2-4 \
        --out benchmarks/results/coin_om --note "seeds 0-1: ..."
"""

from __future__ import annotations

import argparse
import io
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lola_agents.bench.report import compact_summary
from lola_agents.metrics import describe, describe_share, format_share

QUANTILES = (0.1, 0.5, 0.9)  # the figure's band (10% to 90% of the agents) and its line


def agent_curves(group: dict[str, Any], name: str) -> np.ndarray:
    """``[agents, updates]``: curve ``name`` of both seats of every seed (seat 0s, then seat 1s;
    cut to the shortest run, NaN where an update skipped it)."""
    runs = [run for seat in (0, 1) for run in group["curves"].get(f"{name}_{seat}", [])]
    if not runs:
        return np.zeros((0, 0))
    length = min(len(run) for run in runs)
    return np.array([run[:length] for run in runs], dtype=float)


def model_kl_by_update(group: dict[str, Any]) -> dict[str, list[float]]:
    """Quantiles over the agents (both seats of every seed) of the model error per update.

    Returns ``{"update": [1, 2, ...], "q10": [...], "median": [...], "q90": [...]}`` in nats
    (4 significant digits), empty lists without a ``model_kl`` curve.
    """
    data = agent_curves(group, "model_kl")
    out: dict[str, list[float]] = {"update": list(range(1, data.shape[1] + 1))}
    for key, q in zip(("q10", "median", "q90"), QUANTILES, strict=True):
        values = np.nanquantile(data, q, axis=0) if data.size else np.zeros(0)
        out[key] = [float(f"{v:.4g}") for v in values]
    return out


def group_row(group: dict[str, Any]) -> dict[str, Any]:
    """One table row of a ``sampled_ipd`` group: the numbers the docs cite.

    ``reward``: the exact reward per step of the final policies, mean of the two seats per
    seed, then mean and 95% t-interval over seeds; ``tft``: share of agents (both seats of
    every seed) passing the tit-for-tat test, Wilson 95% interval; ``model_kl_*``: median over
    the agents of the model error at update 1, update 2 and the last update; ``shaping_*``:
    mean cosine and median norm ratio (model / true) over the agents' compared updates.
    """
    metrics = group["metrics"]
    per_seed = [
        None if a is None or b is None else (a + b) / 2
        for a, b in zip(
            metrics["exact_reward_per_step_0"]["per_seed"],
            metrics["exact_reward_per_step_1"]["per_seed"],
            strict=True,
        )
    ]
    flags = metrics["pct_tft_0"]["per_seed"] + metrics["pct_tft_1"]["per_seed"]
    row: dict[str, Any] = {
        "group": group["group"],
        "runs": len(group["seeds"]),
        "settings": group["settings"],
        "reward": describe(per_seed),
        "tft": describe_share(flags),
    }
    kl = agent_curves(group, "model_kl")
    if kl.size:
        row["model_kl_update1"] = float(np.median(kl[:, 0]))
        row["model_kl_update2"] = float(np.median(kl[:, 1])) if kl.shape[1] > 1 else None
        row["model_kl_final"] = float(np.median(kl[:, -1]))
        cosine = agent_curves(group, "shaping_cosine")
        ratio = agent_curves(group, "shaping_norm_ratio")
        row["shaping_cosine_mean"] = float(np.nanmean(cosine)) if cosine.size else None
        row["shaping_norm_ratio_median"] = float(np.nanmedian(ratio)) if ratio.size else None
    return row


def _number(value: float | None, significant: int = 3) -> str:
    """``value`` to ``significant`` digits in plain decimals (no exponent), "" if undefined."""
    if value is None or not math.isfinite(value):
        return ""
    if value == 0:
        return "0"
    decimals = max(0, significant - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows of :func:`group_row` as a Markdown table."""
    lines = [
        "| group | runs | reward/step [95% CI over runs] | %TFT of agents [Wilson 95%] | "
        "model KL update 1 / 2 / last (median, nats) | shaping cosine (mean) | "
        "norm ratio model/true (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        reward = row["reward"]
        low, high = reward["ci95"] or (math.nan, math.nan)
        kl = " / ".join(
            _number(row.get(k)) for k in ("model_kl_update1", "model_kl_update2", "model_kl_final")
        ) if "model_kl_final" in row else ""
        lines.append(
            f"| {row['group']} | {row['runs']} | {reward['mean']:.3f} [{low:.3f}, {high:.3f}] | "
            f"{format_share(row['tft'])} | {kl} | {_number(row.get('shaping_cosine_mean'), 2)} | "
            f"{_number(row.get('shaping_norm_ratio_median'))} |"
        )
    return "\n".join(lines) + "\n"


def model_error_figure(curves: dict[str, tuple[dict[str, list[float]], int]], path: Path, title: str) -> None:
    """Model error ``KL(true || model)`` against the update, log scale: per group the median
    over the agents (line) and 10% to 90% of them (band).

    ``curves``: group name -> (:func:`model_kl_by_update` of the group, number of agents).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, (q, agents) in curves.items():
        (line,) = ax.plot(q["update"], q["median"], label=f"{name} ({agents} agents)")
        ax.fill_between(q["update"], q["q10"], q["q90"], color=line.get_color(), alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("update (4000 games x 150 steps each)")
    ax.set_ylabel("model error KL(true || model), nats per visited step")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=90)
    plt.close(fig)
    # A 64-colour palette PNG: a quarter of the RGBA file, for the size limit of the records.
    Image.open(buffer).convert("RGB").quantize(colors=64).save(path, optimize=True)


COIN_SUITE = "coin_pair"
OWN_COIN_TARGET = 0.6  # the LOLA paper's own-coin level for LOLA-OM (issue 16's target)


def _mean_or_none(values: list[float | None]) -> float | None:
    """Mean of ``values``, None if any is missing (a metric the run did not report)."""
    return None if any(v is None for v in values) else sum(values) / len(values)  # type: ignore[arg-type]


def merge_coin_groups(runs: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The ``coin_pair`` groups of ``runs`` (``(run name, summary)``) merged by group name.

    Returns ``[{"group", "settings", "seeds": {seed: (run name, {metric: value})}}]`` in order
    of first appearance. ``ValueError`` if one group has different settings in two runs, or if
    a seed recorded in two runs (a run resumed from another keeps its finished seeds) has
    different numbers in them.
    """
    merged: dict[str, dict[str, Any]] = {}
    for name, summary in runs:
        for group in summary["groups"]:
            if group["suite"] != COIN_SUITE:
                continue
            entry = merged.setdefault(
                group["group"], {"group": group["group"], "settings": group["settings"], "seeds": {}}
            )
            if entry["settings"] != group["settings"]:
                raise ValueError(
                    f"group {group['group']!r} has other settings in run {name!r} than in an "
                    f"earlier run: {group['settings']} vs {entry['settings']}"
                )
            for i, seed in enumerate(group["seeds"]):
                values = {m: stats["per_seed"][i] for m, stats in group["metrics"].items()}
                if seed in entry["seeds"]:
                    earlier_run, earlier = entry["seeds"][seed]
                    differ = sorted(m for m in values.keys() & earlier.keys() if values[m] != earlier[m])
                    if differ:
                        raise ValueError(
                            f"group {group['group']!r}, seed {seed}: runs {earlier_run!r} and "
                            f"{name!r} disagree on {', '.join(differ)}"
                        )
                    continue
                entry["seeds"][seed] = (name, values)
    return list(merged.values())


def coin_row(entry: dict[str, Any]) -> dict[str, Any]:
    """One table row of a merged coin group (:func:`merge_coin_groups`), seeds in order.

    Each statistic is :func:`~lola_agents.metrics.describe` over the seeds: ``own_coin`` and
    ``reward_0``/``reward_1`` (reward per step) of the pair with itself; ``vs_greedy_seat0``/
    ``_seat1``: the learner's reward per step against greedy in that seat, mean of its two
    agents; ``takes_other_after_theft``/``_otherwise``: the learner's rate of taking greedy's
    coin within 3 steps after greedy took one of its coins / at other steps, mean of both agents
    and both seats (retaliation: the first above the second); ``minutes``: training wall time.
    ``target_met``: seeds with own-coin >= 0.6 and both rewards > 0.
    """
    seeds = sorted(entry["seeds"])
    values = [entry["seeds"][s][1] for s in seeds]

    def over_seeds(keys: list[str]) -> dict[str, Any]:
        return describe([_mean_or_none([v.get(k) for k in keys]) for v in values])

    greedy = "player_{agent}_vs_greedy_as_player_{seat}_{what}"
    row: dict[str, Any] = {
        "group": entry["group"],
        "seeds": seeds,
        "run_of_seed": {str(s): entry["seeds"][s][0] for s in seeds},
        "settings": entry["settings"],
        "own_coin": over_seeds(["own_coin_rate"]),
        "reward_0": over_seeds(["reward_per_step_0"]),
        "reward_1": over_seeds(["reward_per_step_1"]),
    }
    for seat in (0, 1):
        row[f"vs_greedy_seat{seat}"] = over_seeds(
            [greedy.format(agent=a, seat=seat, what="reward") for a in (0, 1)]
        )
    for what in ("after_theft", "otherwise"):
        row[f"takes_other_{what}"] = over_seeds(
            [greedy.format(agent=a, seat=s, what=f"takes_other_coin_{what}") for a in (0, 1) for s in (0, 1)]
        )
    row["minutes"] = describe([None if v.get("train_seconds") is None else v["train_seconds"] / 60 for v in values])
    row["target_met"] = sum(
        v.get("own_coin_rate") is not None and v["own_coin_rate"] >= OWN_COIN_TARGET
        and (v.get("reward_per_step_0") or 0) > 0 and (v.get("reward_per_step_1") or 0) > 0
        for v in values
    )
    return row


def _cell(stats: dict[str, Any], decimals: int = 3) -> str:
    """``mean [low, high] (v1, v2, ...)``; "" if no seed reported the metric."""
    if stats["mean"] is None:
        return ""
    spread = f" [{stats['ci95'][0]:.{decimals}f}, {stats['ci95'][1]:.{decimals}f}]" if stats["ci95"] else ""
    each = ", ".join("-" if v is None else f"{v:.{decimals}f}" for v in stats["per_seed"])
    return f"{stats['mean']:.{decimals}f}{spread} ({each})"


def coin_table(rows: list[dict[str, Any]]) -> str:
    """The rows of :func:`coin_row` as a Markdown table."""
    lines = [
        "| experiment | seeds | own-coin with itself | reward player_0 | reward player_1 | "
        "vs greedy as player_0 | vs greedy as player_1 | takes greedy's coin after a theft | "
        f"takes greedy's coin otherwise | seeds with own-coin >= {OWN_COIN_TARGET} and both rewards > 0 | "
        "minutes per run |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [_cell(row[k]) for k in ("own_coin", "reward_0", "reward_1", "vs_greedy_seat0",
                                         "vs_greedy_seat1", "takes_other_after_theft", "takes_other_otherwise")]
        lines.append(
            f"| `{row['group']}` | {row['seeds']} | {' | '.join(cells)} | "
            f"{row['target_met']} of {len(row['seeds'])} | {_cell(row['minutes'], 1)} |"
        )
    return "\n".join(lines) + "\n"


MARKER = re.compile(r"<!-- (\S+)\.report\.md -->")


def runs_md_sections(text: str) -> dict[str, str]:
    """The run reports of a ``runs.md`` by run name, each from its marker line to the next."""
    marks = list(MARKER.finditer(text))
    ends = [m.start() for m in marks[1:]] + [len(text)]
    return {m.group(1): text[m.start():end].rstrip("\n") + "\n" for m, end in zip(marks, ends, strict=True)}


def load_run(path: Path) -> tuple[str, dict[str, Any], str]:
    """``(name, summary, report)`` of a finished run folder, or of a recorded compact summary
    ``<dir>/<name>.summary.json`` (its report: the ``<name>`` section of ``<dir>/runs.md``).

    ``report`` is in ``runs.md`` form: the marker line, then the report with its headings one
    level down. ``FileNotFoundError`` naming what is missing.
    """
    if path.is_file() and path.name.endswith(".summary.json"):
        name = path.name[: -len(".summary.json")]
        runs_md = path.parent / "runs.md"
        sections = runs_md_sections(runs_md.read_text() if runs_md.is_file() else "")
        if name not in sections:
            raise FileNotFoundError(
                f"{runs_md} has no section <!-- {name}.report.md -->: the report of {path} is missing"
            )
        return name, json.loads(path.read_text()), sections[name]
    summary_file = path / "summary.json"
    if not summary_file.is_file():
        raise FileNotFoundError(f"{summary_file} not found: is {path} a finished lola-bench run?")
    report = "\n" + (path / "report.md").read_text()
    # Its headings one level down, under runs.md's own title.
    return path.name, json.loads(summary_file.read_text()), f"<!-- {path.name}.report.md -->" + report.replace("\n#", "\n##")


def record(run_dirs: list[Path], out: Path, title: str = "LOLA-OM on the IPD: model error per update",
           notes: list[str] | None = None, append: bool = False) -> list[dict[str, Any]]:
    """Write the compact records of ``run_dirs`` (finished lola-bench folders or recorded
    ``*.summary.json``, see :func:`load_run`) into ``out``; ``notes``: lines under the tables.

    ``append``: keep what ``out`` already records (the rows of ``results.json``, the curves of
    ``model_kl_by_update.json``, the reports of ``runs.md``) and add the runs' groups after it,
    for records whose run folders are gone; a group already recorded is refused (ValueError).
    Returns the table rows: the kept rows, then :func:`group_row` of every new ``sampled_ipd``
    group in order, then :func:`coin_row` of every merged ``coin_pair`` group.
    """
    runs = [load_run(path) for path in run_dirs]  # all read before ``out`` is written
    kept_rows: list[dict[str, Any]] = []
    kept_curves: dict[str, tuple[dict[str, list[float]], int]] = {}
    reports = ["# The runs behind results.md: each run's lola-bench report.md, one after the other"]
    if append:
        if not (out / "results.json").is_file():
            raise FileNotFoundError(f"{out / 'results.json'} not found: nothing to append to")
        kept_rows = json.loads((out / "results.json").read_text())
        kl_file = out / "model_kl_by_update.json"
        agents = {row["group"]: 2 * row["runs"] for row in kept_rows if "runs" in row}
        kept_curves = {name: (q, agents[name]) for name, q in
                       (json.loads(kl_file.read_text()) if kl_file.is_file() else {}).items()}
        reports += runs_md_sections((out / "runs.md").read_text()).values()
    out.mkdir(parents=True, exist_ok=True)
    groups: list[dict[str, Any]] = []
    for _name, summary, report in runs:
        groups += [g for g in summary["groups"] if g["suite"] == "sampled_ipd"]
        reports.append(report)
    rows = kept_rows + [group_row(g) for g in groups]
    rows += [coin_row(entry) for entry in merge_coin_groups([(n, s) for n, s, _ in runs])]
    names = [row["group"] for row in rows]
    if len(set(names)) < len(names):
        again = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"{out} already records {', '.join(again)}: give those runs without --append")
    for name, summary, _ in runs:
        (out / f"{name}.summary.json").write_text(json.dumps(compact_summary(summary), indent=1) + "\n")
    (out / "runs.md").write_text("\n\n".join(reports) + "\n")
    ipd_rows = [row for row in rows if "tft" in row]
    coin_rows = [row for row in rows if "own_coin" in row]
    tables = ([markdown_table(ipd_rows)] if ipd_rows else []) + ([coin_table(coin_rows)] if coin_rows else [])
    (out / "results.md").write_text("\n".join(tables + [f"{line}\n" for line in notes or []]))
    (out / "results.json").write_text(json.dumps(rows, indent=1) + "\n")  # the tables' numbers
    curves = kept_curves | {
        g["group"]: (model_kl_by_update(g), agent_curves(g, "model_kl").shape[0])
        for g in groups if agent_curves(g, "model_kl").size
    }
    if curves:
        (out / "model_kl_by_update.json").write_text(json.dumps({k: q for k, (q, _) in curves.items()}) + "\n")
        model_error_figure(curves, out / "model_kl.png", title)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lola_agents.bench.om_study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path,
                        help="finished lola-bench run folders or recorded <name>.summary.json files")
    parser.add_argument("--out", type=Path, required=True, help="folder for the compact records")
    parser.add_argument("--note", action="append", default=[], help="a line under the tables (repeatable)")
    parser.add_argument("--append", action="store_true",
                        help="keep the groups --out already records and add these runs' groups after them")
    args = parser.parse_args(argv)
    try:
        record(args.runs, args.out, notes=args.note, append=args.append)
    except (FileNotFoundError, ValueError) as err:
        print(f"om_study: {err}", file=sys.stderr)
        return 2
    print((args.out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
