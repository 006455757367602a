"""lola-bench: the main job's path at a tiny scale, its output folder rules and statistics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from lola_agents.bench.cli import main
from lola_agents.bench.core import Task, get_suite, run_task
from lola_agents.bench.stats import describe

TINY = ["--scale", "tiny", "--workers", "1"]  # the default suites: exact, sampled_ipd, coin, coin_shipped, head_to_head


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "run"
    assert main([*TINY, "--out", str(out)]) == 0
    return out


def test_tiny_run_writes_summary_report_runs_and_figures(tiny_run):
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert summary["schema_version"] == 1 and summary["scale"] == "tiny"
    assert {"package_version", "machine", "wall_time_s", "command", "groups"} <= summary.keys()
    groups = {g["group"]: g for g in summary["groups"] if g["suite"] != "sampled_ipd"}
    sampled = [g for g in summary["groups"] if g["suite"] == "sampled_ipd"]
    # exact: 2 games x 4 pairs; sampled: 3 learners; coin: 4 learners + the league; shipped agents;
    # head to head: 5 x 5
    shipped = sum(g.startswith("shipped") for g in groups)
    assert len(groups) == 8 + 5 + shipped + 25 and len(sampled) == 3
    assert summary["suites"] == ["exact", "sampled_ipd", "coin", "coin_shipped", "head_to_head"]
    allc_alld = groups["AllC vs AllD"]["metrics"]
    # Deterministic strategies: the exact payoffs of CD, every seed.
    assert allc_alld["reward_per_step_0"]["per_seed"] == [-3.0, -3.0]
    assert allc_alld["reward_per_step_1"]["mean"] == 0.0
    lola = groups["IPD: LOLA vs LOLA"]
    assert lola["seeds"] == [0, 1] and lola["reference"]["reward_per_step_0"] == -1.06
    assert len(lola["curves"]["reward_per_step_0"]) == 2
    assert len(lola["curves"]["reward_per_step_0"][0]) == 21  # 20 updates + the start
    report = (tiny_run / "report.md").read_text()
    assert "| IPD: LOLA vs LOLA | 2 |" in report and "[paper: -1.06]" in report
    for figure in summary["figures"]:
        assert (tiny_run / figure).stat().st_size > 1000
    runs = len(list((tiny_run / "runs").rglob("*.json")))
    assert runs == 8 + 3 * 2 + (4 * 2 + 1) + shipped + 25  # sampled and coin run one task per seed
    coin = groups["AdAlign vs AdAlign"]["metrics"]["own_coin_rate"]["per_seed"]
    assert len(coin) == 2 and all(0.0 <= c <= 1.0 for c in coin)
    # Trained agents are saved and load back.
    from lola_agents.agents import load_agent

    saved = tiny_run / "checkpoints" / "coin" / "adalign-vs-adalign-seed0" / "player_1"
    assert load_agent(str(saved)) is not None
    # The league plays what the coin tasks saved (cross-seed, both seats) after them.
    league = groups["league"]["league"]
    assert league["names"] == ["AdAlign", "NL-PG", "IPPO", "shared PPO", "shipped LOQA", "shipped AdAlign-Q",
                               "always-defect", "always-own-coin", "random", "coin tit-for-tat"]
    # 8 entries of 2 instances and the 2 shipped agents of one: 18 instances, none plays itself
    assert len(league["games"]) == 18 * 18 - 18
    # tiny: >= 8 episodes per cell; 2 per game, but the shipped pair's cell has 2 games: 4 each
    episodes = {(g["row"], g["column"]): g["episodes"] for g in league["games"]}
    assert episodes[("shipped LOQA", "shipped AdAlign-Q")] == 4 and episodes[("shipped LOQA", "IPPO")] == 2
    assert episodes[("AdAlign", "AdAlign")] == 2
    assert "### coin: league" in report and "| always-own-coin | -0." in report
    assert "figures/coin-league-heatmap.png" in summary["figures"]
    assert "[paper:" not in report.split("## coin:")[1].split("## head_to_head")[0]


def test_existing_folder_is_never_overwritten_silently(tiny_run, capsys):
    before = (tiny_run / "summary.json").read_text()
    with pytest.raises(SystemExit, match="not empty; pass --resume"):
        main([*TINY, "--out", str(tiny_run)])
    assert (tiny_run / "summary.json").read_text() == before


def test_resume_keeps_finished_tasks(tiny_run):
    kept = tiny_run / "runs" / "head_to_head" / "allc-vs-alld-seeds0-1.json"
    stamp = kept.stat().st_mtime_ns
    assert main([*TINY, "--out", str(tiny_run), "--resume", "--no-figures"]) == 0
    assert kept.stat().st_mtime_ns == stamp  # not re-run
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert len(summary["groups"]) == len(json.loads((tiny_run / "summary.json").read_text())["groups"])


def test_overwrite_moves_the_old_folder_aside(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    assert main(["--scale", "tiny", "--workers", "1", "--suite", "exact", "--out", str(out), "--overwrite", "--no-figures"]) == 0
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("run.old-")]
    assert len(aside) == 1 and (aside[0] / "precious.txt").read_text() == "keep me"
    assert (out / "summary.json").exists()


def test_bad_input_gets_clear_errors(tmp_path, capsys):
    assert main(["--suite", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "unknown suite 'nope'; known suites:" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit, match="cannot write to output folder"):
        main([*TINY, "--out", str(blocker / "sub")])
    with pytest.raises(SystemExit):
        main(["--seeds", "0"])
    with pytest.raises(ValueError, match="unknown head-to-head agent .X.; known"):
        run_task(Task("head_to_head", "X vs AllC", "ipd_v0", ["X", "AllC"], [0], {"episodes": 1, "exact_updates": 1}).to_dict())


def test_describe_matches_hand_computation():
    stats = describe([1.0, 2.0, 3.0, None, math.nan])
    assert stats["mean"] == 2.0 and stats["std"] == 1.0 and stats["n"] == 3 and stats["n_missing"] == 2
    half = 4.302653 / math.sqrt(3)  # t(0.975, 2 dof) * std / sqrt(n), t from a 6-decimal table
    assert stats["ci95"] == pytest.approx([2.0 - half, 2.0 + half])
    assert describe([5.0])["ci95"] is None and describe([])["mean"] is None


def test_suites_are_registered_with_headlines():
    for name in ("exact", "head_to_head"):
        suite = get_suite(name)
        assert suite.headline and suite.make_tasks("tiny", None)


def test_ray_backend_gives_the_same_results_as_the_local_backend(tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    args = ["--scale", "tiny", "--suite", "exact", "--no-figures"]
    assert main([*args, "--backend", "ray", "--out", str(tmp_path / "ray")]) == 0
    assert main([*args, "--workers", "2", "--out", str(tmp_path / "local")]) == 0
    ray_summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    local_summary = json.loads((tmp_path / "local" / "summary.json").read_text())
    assert ray_summary["backend"] == "ray"
    ray_groups = {g["group"]: g["metrics"] for g in ray_summary["groups"]}
    local_groups = {g["group"]: g["metrics"] for g in local_summary["groups"]}
    assert ray_groups == local_groups and len(ray_groups) == 8


def test_tiny_run_writes_csv_and_tensorboard_logs_on_env_steps(tiny_run):
    import csv

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    summary = json.loads((tiny_run / "summary.json").read_text())
    lola_pg = next(g for g in summary["groups"] if g["group"] == "LOLA-PG vs LOLA-PG")
    games, updates = lola_pg["settings"]["num_envs"], lola_pg["settings"]["updates"]
    seed0 = tiny_run / "logs" / "sampled_ipd" / "lola-pg-vs-lola-pg-seed0" / "seed0"
    with open(seed0 / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:3] == ["update", "env_steps", "wall_time_s"]
    assert [int(r["env_steps"]) for r in rows] == [u * games * 150 for u in range(1, updates + 1)]
    walls = [float(r["wall_time_s"]) for r in rows]
    assert walls == sorted(walls) and walls[0] > 0
    recorded = lola_pg["curves"]["reward_per_step_0"][0]
    assert [float(r["reward_per_step_0"]) for r in rows] == recorded
    events = EventAccumulator(str(seed0 / "tb"))
    events.Reload()
    scalars = events.Scalars("reward_per_step_0")
    assert [e.step for e in scalars] == [int(r["env_steps"]) for r in rows]
    assert [e.value for e in scalars] == pytest.approx(recorded, rel=1e-6)  # float32 in the file
    # Coin learners and IPPO log on env steps too; exact learners (no sampling) on updates.
    ippo = tiny_run / "logs" / "coin" / "ippo-vs-ippo-seed0" / "seed0" / "progress.csv"
    with open(ippo) as f:
        coin_rows = list(csv.DictReader(f))
    assert coin_rows and all(int(r["env_steps"]) == 32 * 50 * int(r["update"]) for r in coin_rows)
    with open(tiny_run / "logs" / "exact" / "ipd-lola-vs-lola-seeds0-1" / "seed1" / "progress.csv") as f:
        exact_rows = list(csv.DictReader(f))
    assert [r["update"] for r in exact_rows] == [str(u) for u in range(21)]
    assert {r["env_steps"] for r in exact_rows} == {""}
    assert not (tiny_run / "logs" / "head_to_head").exists()  # no curves, no logs


def test_phase_two_tasks_run_after_every_phase_one_task(tmp_path):
    from lola_agents.bench.core import SUITES, Suite, Task, register_suite, task_phase

    order: list[str] = []

    def run(task: Task) -> dict:
        order.append(task.group)
        return {"metrics": {"score": [1.0]}}

    register_suite(Suite("phased", "test suite", lambda scale, seeds: [
        Task("phased", "late", "ipd_v0", ["A", "A"], [0], {"phase": 2}),  # listed first, runs last
        *(Task("phased", "early", "ipd_v0", ["A", "A"], [s]) for s in (0, 1)),
    ], run, headline=("score",)))
    try:
        assert main(["--suite", "phased", "--no-figures", "--workers", "1", "--out", str(tmp_path / "run")]) == 0
        assert order == ["early", "early", "late"]
    finally:
        SUITES.pop("phased")
    with pytest.raises(ValueError, match="phase must be 1 or 2"):
        task_phase({"group": "x", "settings": {"phase": 3}})


def test_tasks_start_longest_first_and_a_suites_league_once_its_training_is_done():
    from lola_agents.bench.core import SUITES, StartQueue, Suite, Task, register_suite, start_order

    def tasks_of(suite: str, specs: list[tuple[str, float | None, int]]) -> list[dict]:
        return [Task(suite, name, "ipd_v0", ["A", "A"], [0], {"phase": phase, "cost": cost}).to_dict()
                for name, cost, phase in specs]

    cost = lambda task: task.settings["cost"]  # noqa: E731
    register_suite(Suite("train", "test suite", lambda scale, seeds: [], lambda t: {}, (), cost=cost))
    register_suite(Suite("other", "test suite", lambda scale, seeds: [], lambda t: {}, (), cost=cost))
    register_suite(Suite("unknown", "test suite", lambda scale, seeds: [], lambda t: {}, ()))
    try:
        train = tasks_of("train", [("league", 5.0, 2), ("short", 10.0, 1), ("long", 100.0, 1)])
        other = tasks_of("other", [("filler a", 1.0, 1), ("filler b", 30.0, 1)])
        no_estimate = tasks_of("unknown", [("first", None, 1), ("second", None, 1)])
        names = lambda tasks: [t["group"] for t in tasks]  # noqa: E731
        assert names(start_order(no_estimate + train + other)) == [
            "long", "filler b", "short", "filler a", "first", "second", "league"]
        # Two workers: the league waits for its own suite's training only, then goes before
        # shorter tasks of other suites.
        queue = StartQueue(train + other + tasks_of("other", [("filler c", 2.0, 1)]))
        started = [queue.pop_ready(), queue.pop_ready()]
        assert names(started) == ["long", "filler b"]
        queue.finished(started[1])
        started.append(queue.pop_ready())
        assert started[-1]["group"] == "short"
        queue.finished(started[-1])
        assert queue.pop_ready()["group"] == "filler c"  # "long" still runs: the league is not ready
        queue.finished(started[0])
        assert [queue.pop_ready()["group"], queue.pop_ready()["group"]] == ["league", "filler a"]
        assert queue.pop_ready() is None and len(queue) == 0
    finally:
        for name in ("train", "other", "unknown"):
            SUITES.pop(name)


def test_coin_cost_estimates_put_training_first_and_match_the_recorded_cpu_times():
    from lola_agents.bench.cli import DEFAULT_SUITES, build_tasks
    from lola_agents.bench.core import estimated_cost, start_order

    tasks = build_tasks(list(DEFAULT_SUITES), "quick", None)
    ordered = start_order(tasks)
    assert ordered[0]["group"] == "AdAlign vs AdAlign" and ordered[-1]["group"] == "league"
    # Recorded main job (benchmarks/results/bench_quick/summary.json): CPU seconds per task.
    summary = json.loads((Path(__file__).parent.parent / "benchmarks/results/bench_quick/summary.json").read_text())
    for group in summary["groups"]:
        if group["suite"] != "coin":
            continue
        task = next(t for t in tasks if t["suite"] == "coin" and t["group"] == group["group"])
        recorded = group["cpu_time_s"] / len(group["seeds"])
        budget = "updates" if "updates" in task["settings"] else "ppo_game_steps"
        recorded_budget = group["settings"].get(budget)
        scale = task["settings"][budget] / recorded_budget if recorded_budget else 1.0
        # start order only: within a factor of 2 (a shared machine's speed varies 1.5x run to run)
        assert 0.5 <= estimated_cost(task) / (recorded * scale) <= 2.0, group["group"]


def test_head_to_head_plays_the_policies_the_exact_suite_reports():
    from lola_agents.bench.suites import (
        _exact_tasks,
        _h2h_tasks,
        _run_exact,
        exact_history,
        make_matrix_agent,
    )
    from lola_agents.metrics import action_0_probabilities

    exact = next(t for t in _exact_tasks("tiny", None) if t.group == "IPD: LOLA vs LOLA")
    h2h = next(t for t in _h2h_tasks("tiny", None) if t.agents == ["TFT", "LOLA-Ex"])
    assert h2h.seeds == exact.seeds and h2h.settings["exact_updates"] == exact.settings["updates"]
    _run_exact(exact)  # fills the cache with the suite's batch of runs
    history = exact_history("ipd", "LOLA", "LOLA", max(exact.seeds) + 1, exact.settings["updates"])
    for seed in h2h.seeds:
        agent = make_matrix_agent("LOLA-Ex", seed, h2h.settings["exact_updates"], runs=max(h2h.seeds) + 1)
        expected = action_0_probabilities(history.final_params[seed, 0])
        assert np.allclose(agent.p_action0, expected)
    # A batch of another size draws other initial logits: the run count matters.
    alone = make_matrix_agent("LOLA-Ex", 0, h2h.settings["exact_updates"])  # a batch of one run
    assert not np.allclose(alone.p_action0, action_0_probabilities(history.final_params[0, 0]))
