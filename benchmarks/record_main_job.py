"""Record a main-job run (``make bench`` / ``lola-bench``) in ``benchmarks/results/bench_quick``.

    lola-bench --out runs/bench-now
    python -m benchmarks.record_main_job runs/bench-now

Copies the run's ``report.md`` and two of its figures (the coin league's heatmap, the IPD
head-to-head heatmap, as 64-colour PNGs) and writes a compact ``summary.json`` (floats to 6
significant digits): without the per-update curves
and the per-game league records, without per-seed values, and with each league cell's
statistics cut to what the report shows (mean and 95% interval). The report's tables regenerate from it
(``tests/test_recorded_results.py``).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from lola_agents.bench.report import compact_summary

RECORD = Path(__file__).resolve().parent / "results" / "bench_quick"
KEPT_FIGURES = ("coin-league-heatmap.png", "head_to_head-heatmap.png")


def record_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """``summary.json`` of a run as recorded: :func:`lola_agents.bench.report.compact_summary`
    (no curves), then without per-seed values, league games and the league cells' other
    statistics."""
    summary = json.loads(json.dumps(compact_summary(summary)))  # a deep copy
    for group in summary["groups"]:
        for stats in group.get("metrics", {}).values():
            if isinstance(stats, dict):
                stats.pop("per_seed", None)  # the report shows mean, spread and interval
        league = group.get("league")
        if league:
            league.pop("games", None)
            for row in league["cells"].values():
                for cell in row.values():
                    for key, stats in cell.items():
                        if isinstance(stats, dict):
                            cell[key] = {"mean": stats.get("mean"), "ci95": stats.get("ci95")}
    summary["figures"] = [f for f in summary["figures"] if Path(f).name in KEPT_FIGURES]
    return _six_digits(summary)


def _six_digits(value: Any) -> Any:
    """Every float of a JSON tree to 6 significant digits (the report prints 2-3)."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: _six_digits(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_six_digits(v) for v in value]
    return value


def small_png(source: Path, target: Path, colours: int = 64) -> None:
    """Copy a figure as a PNG of ``colours`` palette colours (Pillow), about a quarter of the bytes."""
    from PIL import Image

    with Image.open(source) as image:
        image.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the run folder lola-bench wrote (--out)")
    parser.add_argument("--to", type=Path, default=RECORD, help="the record folder")
    args = parser.parse_args(argv)
    summary_file = args.run / "summary.json"
    if not summary_file.is_file():
        parser.error(f"{summary_file} does not exist: give the folder lola-bench --out wrote")
    summary = record_summary(json.loads(summary_file.read_text()))
    (args.to / "figures").mkdir(parents=True, exist_ok=True)
    (args.to / "summary.json").write_text(json.dumps(summary, separators=(",", ":")) + "\n")
    shutil.copy(args.run / "report.md", args.to / "report.md")
    for name in KEPT_FIGURES:
        small_png(args.run / "figures" / name, args.to / "figures" / name)
    print(f"recorded {args.run} in {args.to}")


if __name__ == "__main__":
    main()
