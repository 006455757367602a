"""Record the opponent-model studies: a compact table and the model-error figure.

LOLA-OM's learners log their model error and shaping diagnostics every update
(:mod:`lola_agents.learners.opponent_model`); the ``sampled_ipd`` suite keeps them as
curves (``model_kl_<seat>``, ``shaping_cosine_<seat>``, ``shaping_norm_ratio_<seat>``).
This module turns finished ``lola-bench`` run folders into what the docs cite::

    python -m lola_agents.bench.om_study runs/ipd-pg-ref runs/ipd-om --out benchmarks/results/ipd_om

writes into ``--out``: ``results.md`` (one row per report group: reward per step, %TFT,
model error) and ``results.json`` (its numbers), ``model_kl.png`` (model error against the update, every group with the
curve), ``model_kl_by_update.json`` (the figure's numbers) and, per run folder,
``<folder>.summary.json`` (the run's summary without its curves), and ``runs.md``: every run's
``report.md``, one after the other (one small file instead of many).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

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


def model_error_figure(groups: list[dict[str, Any]], path: Path, title: str) -> None:
    """Model error ``KL(true || model)`` against the update, log scale: per group the median
    over the agents (line) and 10% to 90% of them (band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for group in groups:
        q = model_kl_by_update(group)
        agents = agent_curves(group, "model_kl").shape[0]
        (line,) = ax.plot(q["update"], q["median"], label=f"{group['group']} ({agents} agents)")
        ax.fill_between(q["update"], q["q10"], q["q90"], color=line.get_color(), alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("update (4000 games x 150 steps each)")
    ax.set_ylabel("model error KL(true || model), nats per visited step")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def record(run_dirs: list[Path], out: Path, title: str = "LOLA-OM on the IPD: model error per update") -> list[dict[str, Any]]:
    """Write the compact records of ``run_dirs`` (finished lola-bench folders) into ``out``.

    Returns the table rows (:func:`group_row`) of every ``sampled_ipd`` group, in order.
    """
    out.mkdir(parents=True, exist_ok=True)
    groups: list[dict[str, Any]] = []
    reports = ["# The runs behind results.md: each run's lola-bench report.md, one after the other"]
    for run in run_dirs:
        summary_file = run / "summary.json"
        if not summary_file.is_file():
            raise FileNotFoundError(f"{summary_file} not found: is {run} a finished lola-bench run?")
        summary = json.loads(summary_file.read_text())
        (out / f"{run.name}.summary.json").write_text(json.dumps(compact_summary(summary), indent=1) + "\n")
        report = "\n" + (run / "report.md").read_text()
        # Its headings one level down, under runs.md's own title.
        reports.append(f"<!-- {run.name}.report.md -->" + report.replace("\n#", "\n##"))
        groups += [g for g in summary["groups"] if g["suite"] == "sampled_ipd"]
    (out / "runs.md").write_text("\n\n".join(reports) + "\n")
    rows = [group_row(g) for g in groups]
    (out / "results.md").write_text(markdown_table(rows))
    (out / "results.json").write_text(json.dumps(rows, indent=1) + "\n")  # the table's numbers
    with_kl = [g for g in groups if agent_curves(g, "model_kl").size]
    if with_kl:
        quantiles = {g["group"]: model_kl_by_update(g) for g in with_kl}
        (out / "model_kl_by_update.json").write_text(json.dumps(quantiles) + "\n")
        model_error_figure(with_kl, out / "model_kl.png", title)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lola_agents.bench.om_study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="finished lola-bench run folders")
    parser.add_argument("--out", type=Path, required=True, help="folder for the compact records")
    args = parser.parse_args(argv)
    try:
        rows = record(args.runs, args.out)
    except FileNotFoundError as err:
        print(f"om_study: {err}", file=sys.stderr)
        return 2
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
