"""Record a main-job run (``make bench`` / ``lola-bench``) in ``benchmarks/results/bench_quick``.

    lola-bench --out runs/bench-now
    python -m benchmarks.record_main_job runs/bench-now

Copies the run's ``report.md`` and two of its figures (the coin league's heatmap, the IPD
head-to-head heatmap) and writes a compact ``summary.json``: without the per-update curves
and the per-game league records, and with each league cell's statistics cut to what the
report shows (mean and 95% interval). The report's tables regenerate from it
(``tests/test_recorded_results.py``).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

RECORD = Path(__file__).resolve().parent / "results" / "bench_quick"
KEPT_FIGURES = ("coin-league-heatmap.png", "head_to_head-heatmap.png")


def compact_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """``summary.json`` of a run without curves, league games and the league cells' other statistics."""
    summary = json.loads(json.dumps(summary))  # a copy
    for group in summary["groups"]:
        group.pop("curves", None)
        league = group.get("league")
        if league:
            league.pop("games", None)
            for row in league["cells"].values():
                for cell in row.values():
                    for key, stats in cell.items():
                        if isinstance(stats, dict):
                            cell[key] = {"mean": stats.get("mean"), "ci95": stats.get("ci95")}
    summary["figures"] = [f for f in summary["figures"] if Path(f).name in KEPT_FIGURES]
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the run folder lola-bench wrote (--out)")
    parser.add_argument("--to", type=Path, default=RECORD, help="the record folder")
    args = parser.parse_args(argv)
    summary_file = args.run / "summary.json"
    if not summary_file.is_file():
        parser.error(f"{summary_file} does not exist: give the folder lola-bench --out wrote")
    summary = compact_summary(json.loads(summary_file.read_text()))
    (args.to / "figures").mkdir(parents=True, exist_ok=True)
    (args.to / "summary.json").write_text(json.dumps(summary, separators=(",", ":")) + "\n")
    shutil.copy(args.run / "report.md", args.to / "report.md")
    for name in KEPT_FIGURES:
        shutil.copy(args.run / "figures" / name, args.to / "figures" / name)
    print(f"recorded {args.run} in {args.to}")


if __name__ == "__main__":
    main()
