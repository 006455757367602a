"""The recorded results in benchmarks/results are compact and still give every cited figure.

Per-update curves are not kept; these tests check that the compact records reproduce
the summary tables the README and docs quote.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import pytest

from lola_agents.bench.report import markdown_report, summarize_coin_records

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?(?![\w.])")
# Table columns that quote the literature or a target, not a recorded result.
NOT_RECORDED_COLUMNS = ("paper", "target", "expectation")


def table_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("|")]


def json_numbers(obj: object, out: list[float]) -> list[float]:
    if isinstance(obj, dict):
        for value in obj.values():
            json_numbers(value, out)
    elif isinstance(obj, list):
        for value in obj:
            json_numbers(value, out)
    elif isinstance(obj, int | float) and not isinstance(obj, bool) and math.isfinite(obj):
        out.append(float(obj))
    return out


def numbers_not_in_json(markdown: str, data: object) -> list[tuple[str, str]]:
    """Numbers in the table cells of ``markdown`` that no value of ``data`` rounds to
    (as a value, or as a percentage of a share); literature columns and the first
    (label) column are skipped, as are bracketed paper figures."""
    values = json_numbers(data, [])
    missing = []
    header: list[str] = []
    for line in table_rows(markdown):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|---"):
            continue
        if not header or all(not NUMBER.search(c) for c in cells[1:]):
            header = [c.lower() for c in cells]
            continue
        for column, cell in zip(header[1:], cells[1:], strict=False):
            if any(word in column for word in NOT_RECORDED_COLUMNS):
                continue
            cell = re.sub(r"\[paper[^\]]*\]|\[-?\d[\d.]*\s*\(\d[\d.]*\)\]|\[\d[\d.]*\]", "", cell)
            for token in NUMBER.findall(cell):
                text = token.replace(",", "").lstrip("+")
                digits = len(text.split(".")[1]) if "." in text else 0
                x = float(text)
                if not any(
                    abs(round(v, digits) - x) < 1e-9 or abs(round(100 * v, digits) - x) < 1e-9
                    for v in values
                ):
                    missing.append((token, line[:90]))
    return missing


@pytest.mark.parametrize(
    "table, data",
    [
        ("exact/results.md", "exact/results.json"),
        ("sampled/results.md", "sampled/results.json"),
        ("sampled_dice/results.md", "sampled_dice/results.json"),
        ("ippo/results.md", "ippo/results.json"),
        ("ippo/coin_long/results.md", "ippo/coin_long/results.json"),
        ("bench_quick/report.md", "bench_quick/summary.json"),
        ("ipd_om/results.md", "ipd_om/results.json"),
        ("loqa/results.md", "loqa/results.json"),
        ("loqa/seeds.md", "loqa/seeds.json"),
        ("loqa/shaping.md", "loqa/shaping.json"),
    ],
)
def test_every_table_number_is_in_the_compact_record(table: str, data: str) -> None:
    markdown = (RESULTS / table).read_text()
    record = json.loads((RESULTS / data).read_text())
    assert len(table_rows(markdown)) >= 3  # a header, its rule and at least one row
    assert numbers_not_in_json(markdown, record) == []


def test_number_check_catches_a_changed_figure() -> None:
    markdown = "| learner | reward |\n|---|---|\n| LOLA | -1.03 (0.11) |\n"
    assert numbers_not_in_json(markdown, {"mean": -1.0333, "std": 0.1146}) == []
    assert numbers_not_in_json(markdown, {"mean": -1.0433, "std": 0.1146}) == [
        ("-1.03", "| LOLA | -1.03 (0.11) |")
    ]


def test_bench_report_tables_regenerate_from_the_compact_summary() -> None:
    summary = json.loads((RESULTS / "bench_quick" / "summary.json").read_text())
    assert all("curves" not in g for g in summary["groups"])
    recorded = (RESULTS / "bench_quick" / "report.md").read_text()
    assert table_rows(markdown_report(summary)) == table_rows(recorded)


def test_main_job_record_keeps_what_the_report_shows() -> None:
    from benchmarks.record_main_job import record_summary

    summary = json.loads((RESULTS / "bench_quick" / "summary.json").read_text())
    summary["groups"][0]["curves"] = {"reward_per_step_0": [[0.0, 1.0]]}  # as a run writes them
    compact = record_summary(summary)
    assert table_rows(markdown_report(compact)) == table_rows(markdown_report(summary))
    assert all("curves" not in g for g in compact["groups"])
    league = next(g["league"] for g in compact["groups"] if "league" in g)
    assert "games" not in league
    for row in league["cells"].values():
        for cell in row.values():
            assert all(set(v) == {"mean", "ci95"} for v in cell.values() if isinstance(v, dict))


def _same_interval(new: dict, old: dict) -> None:
    assert new["n"] == old["n"]
    assert new["mean"] == pytest.approx(old["mean"], rel=1e-12, abs=1e-15)
    if old["n"] > 1:
        # The recorded half-widths used a 3-decimal t table: equal to 1e-3 relative.
        half_old = old["high"] - old["mean"]
        half_new = new["ci95"][1] - new["mean"]
        assert half_new == pytest.approx(half_old, rel=1e-3, abs=1e-12)


def test_coin_records_reproduce_the_coin_summary() -> None:
    records = [json.loads(line) for line in (RESULTS / "coin" / "records.jsonl").open()]
    recorded = json.loads((RESULTS / "coin" / "fast_summary.json").read_text())
    summary = summarize_coin_records(records)
    assert sorted(summary["pairings"]) == sorted(recorded["pairings"])
    for pairing, old in recorded["pairings"].items():
        new = summary["pairings"][pairing]
        assert new["seeds"] == old["seeds"]
        for metric in (
            "own_coin_rate",
            "reward_per_step_0",
            "reward_per_step_1",
            "reward_per_step_mean",
            "train_minutes",
            "training_last_10pct_own_coin",
        ):
            _same_interval(new[metric], old[metric])
    assert sorted(summary["head_to_head"]) == sorted(recorded["head_to_head"])
    for pairing, old in recorded["head_to_head"].items():
        assert sorted(summary["head_to_head"][pairing]) == sorted(old)
        for cell, interval in old.items():
            _same_interval(summary["head_to_head"][pairing][cell], interval)
    assert sorted(summary["learning_against_fixed"]) == sorted(recorded["learning_against_fixed"])
    for pairing, old in recorded["learning_against_fixed"].items():
        new = summary["learning_against_fixed"][pairing]
        assert new["seat"] == old["seat"] and new["seeds"] == old["seeds"]
        for cell in ("learner", "opponent", "minus_greedy_vs_greedy"):
            _same_interval(new[cell], old[cell])


def test_coin_records_have_no_curves_and_a_config_each() -> None:
    from lola_agents.bench.experiments import load_experiments

    experiments = load_experiments()
    records = [json.loads(line) for line in (RESULTS / "coin" / "records.jsonl").open()]
    assert len(records) == 90
    for record in records:
        assert not any("curve" in key for key in record), record["run"]
        config = experiments[f"coin-{record['pairing']}"]
        assert record["seed"] in config.seeds and list(config.pairs[0]) == record["pair"]
        settings = config.settings
        assert (settings["preset"], settings["updates"], settings["num_envs"]) == (
            record["preset"],
            record["updates"],
            record["num_envs"],
        )
        assert settings.get("overrides", {}) == record["overrides"]
        population = settings.get("population", {})
        assert population.get("greedy_fraction", 0.0) == record["greedy_fraction"]
        past = record["past_self"]
        assert population.get("past_self_fraction") == (past["fraction"] if past else None)


def test_tracked_results_stay_under_one_megabyte() -> None:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "benchmarks/results"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    if not listed:
        pytest.skip("benchmarks/results is not tracked here")
    total = sum((ROOT / name).stat().st_size for name in listed if (ROOT / name).exists())
    assert total <= 1_000_000, f"tracked results take {total} bytes"


def test_every_coin_summary_number_is_in_the_records() -> None:
    """fast_summary.md: tables from the records, the reference strategies, and the
    cross-play rows (means over the recorded per-seed rows)."""
    from lola_agents.bench.stats import describe

    recorded = json.loads((RESULTS / "coin" / "fast_summary.json").read_text())
    derived = []
    for key, cross in recorded.items():
        if not key.endswith("_vs_ippo"):
            continue
        for order, seat in (("lola_as_player_0", 0), ("lola_as_player_1", 1)):
            rows = cross[order]
            for field in ("reward_per_step", "own_coin_rate_by_seat"):
                for s in (seat, 1 - seat):
                    stats = describe([r[field][s] for r in rows])
                    derived += [stats["mean"], *stats["ci95"]]
    markdown = (RESULTS / "coin" / "fast_summary.md").read_text()
    assert numbers_not_in_json(markdown, [recorded, derived]) == []
