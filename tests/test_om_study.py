"""The opponent-model study records: LOLA-OM's per-update diagnostics kept by the sampled
suite, and the table and model-error figure made from a run's summary."""

from __future__ import annotations

import json

import pytest

from lola_agents.bench.core import Task, get_suite
from lola_agents.bench.om_study import group_row, model_kl_by_update, record
from lola_agents.learners.opponent_model import LOLAOMAgent
from lola_agents.trainer import train


def _om_task(every: int) -> Task:
    settings = {"num_envs": 16, "updates": 3, "eval_episodes": 0, "shaping_diagnostics_every": every}
    return Task("sampled_ipd", "LOLA-OM vs LOLA-OM", "ipd_v0", ["LOLA-OM", "LOLA-OM"], [0], settings)


def test_sampled_suite_keeps_the_model_diagnostics_of_every_update() -> None:
    run = get_suite("sampled_ipd").run
    thinned, full = run(_om_task(2)), run(_om_task(1))
    json.dumps(thinned, allow_nan=False)  # the run folder's JSON takes no NaN
    curves = thinned["curves"]
    for seat in (0, 1):
        (kl,) = curves[f"model_kl_{seat}"]
        assert len(kl) == 3 and all(v >= 0 for v in kl)
        assert thinned["metrics"][f"model_kl_final_{seat}"] == [kl[-1]]
        (cosine,) = curves[f"shaping_cosine_{seat}"]  # compared at updates 1 and 3 only
        assert [v is not None for v in cosine] == [True, False, True]
        assert cosine[0] == full["curves"][f"shaping_cosine_{seat}"][0][0]
    # thinning the diagnostics leaves the learning untouched
    assert thinned["metrics"]["exact_reward_per_step_0"] == full["metrics"]["exact_reward_per_step_0"]
    assert full["curves"]["model_kl_0"] == curves["model_kl_0"]


def test_shaping_diagnostics_every_must_be_a_positive_integer() -> None:
    agent = LOLAOMAgent(seed=0)
    agent.shaping_diagnostics_every = 0
    with pytest.raises(ValueError, match="shaping_diagnostics_every must be an integer >= 1"):
        train("ipd_v0", agent, LOLAOMAgent(seed=1), updates=1, num_envs=8, seed=0, progress=False)


def _group(name: str, rewards: list[tuple[float, float]], tft: list[tuple[bool, bool]],
           kl: dict[int, list[list[float]]] | None) -> dict:
    metrics = {
        f"exact_reward_per_step_{seat}": {"per_seed": [r[seat] for r in rewards]} for seat in (0, 1)
    }
    metrics.update({f"pct_tft_{seat}": {"per_seed": [t[seat] for t in tft]} for seat in (0, 1)})
    curves = {} if kl is None else {f"model_kl_{seat}": runs for seat, runs in kl.items()}
    return {"suite": "sampled_ipd", "group": name, "seeds": list(range(len(rewards))),
            "settings": {}, "metrics": metrics, "curves": curves}


def test_table_and_figure_from_a_summary(tmp_path) -> None:
    om = _group("LOLA-OM vs LOLA-OM", [(-2.0, -2.0), (-1.0, -1.2)], [(False, False), (True, False)],
                {0: [[1.0, 0.1], [3.0, 0.3]], 1: [[2.0, 0.2], [4.0, 0.4]]})
    om["curves"]["shaping_cosine_0"] = [[1.0, None], [0.5, None]]  # compared at update 1 only
    pg = _group("LOLA-PG vs LOLA-PG", [(-1.0, -1.0), (-1.5, -1.5)], [(True, True), (True, False)], None)
    # by hand: agents' KL at update 1 are 1, 3, 2, 4 -> median 2.5, 10% quantile 1.3, 90% 3.7
    quantiles = model_kl_by_update(om)
    assert quantiles["update"] == [1, 2]
    assert quantiles["median"] == pytest.approx([2.5, 0.25])
    assert quantiles["q10"] == pytest.approx([1.3, 0.13]) and quantiles["q90"] == pytest.approx([3.7, 0.37])
    row = group_row(om)
    assert row["reward"]["per_seed"] == [-2.0, -1.1] and row["reward"]["mean"] == pytest.approx(-1.55)
    assert row["tft"]["successes"] == 1 and row["tft"]["n"] == 4
    assert row["model_kl_update1"] == 2.5 and row["model_kl_final"] == pytest.approx(0.25)
    assert row["shaping_cosine_mean"] == 0.75

    run = tmp_path / "run"
    run.mkdir()
    summary = {"schema_version": 1, "groups": [pg, om]}
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "report.md").write_text("# report\n")
    out = tmp_path / "out"
    rows = record([run], out)
    assert [r["group"] for r in rows] == ["LOLA-PG vs LOLA-PG", "LOLA-OM vs LOLA-OM"]
    table = (out / "results.md").read_text()
    assert "| LOLA-OM vs LOLA-OM | 2 | -1.550 [" in table and "| 25% [" in table
    assert "| LOLA-PG vs LOLA-PG | 2 | -1.250 [" in table and "| 75% [" in table
    assert "| 2.50 / 0.250 / 0.250 | 0.75 |" in table  # plain decimals, 3 significant digits
    assert json.loads((out / "results.json").read_text())[1]["model_kl_update1"] == 2.5
    assert (out / "model_kl.png").stat().st_size > 0
    assert json.loads((out / "model_kl_by_update.json").read_text()) == {"LOLA-OM vs LOLA-OM": quantiles}
    assert (out / "runs.md").read_text().endswith("<!-- run.report.md -->\n## report\n\n")
    compact = json.loads((out / "run.summary.json").read_text())
    assert all("curves" not in g for g in compact["groups"])
    with pytest.raises(FileNotFoundError, match="finished lola-bench run"):
        record([tmp_path / "missing"], out)


def _coin_group(name: str, seeds: list[int], per_seed: dict[str, list[float]],
                settings: dict | None = None) -> dict:
    return {"suite": "coin_pair", "group": name, "seeds": seeds, "settings": settings or {"updates": 2},
            "metrics": {m: {"per_seed": v} for m, v in per_seed.items()}}


def _coin_metrics(own: list[float], r0: list[float], r1: list[float], seat0: list[float]) -> dict:
    """Per-seed coin metrics: both agents get ``seat0`` vs greedy as player_0 and ``seat0 - 0.1``
    as player_1; after-theft rates 0.3 (agent 0) and 0.1 (agent 1), otherwise 0.2 for both."""
    metrics = {"own_coin_rate": own, "reward_per_step_0": r0, "reward_per_step_1": r1,
               "train_seconds": [120.0] * len(own)}
    for agent in (0, 1):
        for seat in (0, 1):
            key = f"player_{agent}_vs_greedy_as_player_{seat}"
            metrics[f"{key}_reward"] = [v - 0.1 * seat for v in seat0]
            metrics[f"{key}_takes_other_coin_after_theft"] = [0.3 - 0.2 * agent] * len(own)
            metrics[f"{key}_takes_other_coin_otherwise"] = [0.2] * len(own)
    return metrics


def test_coin_seeds_from_two_runs_are_merged_and_checked(tmp_path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    (first / "summary.json").write_text(json.dumps({"groups": [
        _coin_group("om", [0, 1], _coin_metrics([0.9, 0.5], [0.2, 0.1], [0.3, -0.1], [-0.2, -0.4]))]}))
    (first / "report.md").write_text("# first\n")
    second = tmp_path / "second"
    second.mkdir()
    (second / "summary.json").write_text(json.dumps({"groups": [
        _coin_group("om", [1, 2], _coin_metrics([0.5, 0.7], [0.1, 0.4], [-0.1, 0.5], [-0.4, -0.3]))]}))
    (second / "report.md").write_text("# second\n")
    out = tmp_path / "out"
    (row,) = record([first, second], out, notes=["a caveat"])
    assert row["seeds"] == [0, 1, 2] and row["run_of_seed"] == {"0": "first", "1": "first", "2": "second"}
    # by hand: own-coin 0.9, 0.5, 0.7 -> mean 0.7, std 0.2, t(0.975, 2) = 4.3027 -> +-0.4968
    assert row["own_coin"]["mean"] == pytest.approx(0.7)
    assert row["own_coin"]["ci95"] == pytest.approx([0.7 - 0.49683, 0.7 + 0.49683], abs=1e-4)
    assert row["vs_greedy_seat0"]["per_seed"] == pytest.approx([-0.2, -0.4, -0.3])
    assert row["vs_greedy_seat1"]["per_seed"] == pytest.approx([-0.3, -0.5, -0.4])
    assert row["takes_other_after_theft"]["mean"] == pytest.approx(0.2)
    assert row["target_met"] == 2  # seed 1: own-coin 0.5 and a negative reward
    assert row["minutes"]["mean"] == pytest.approx(2.0)
    table = (out / "results.md").read_text()
    assert "| `om` | [0, 1, 2] | 0.700 [0.203, 1.197] (0.900, 0.500, 0.700) |" in table
    assert "| 2 of 3 | 2.0 [2.0, 2.0] (2.0, 2.0, 2.0) |" in table and table.endswith("\na caveat\n")

    # the recorded summaries and runs.md give the same records again
    again = tmp_path / "again"
    (again_row,) = record([out / "first.summary.json", out / "second.summary.json"], again)
    assert again_row == row
    assert (again / "runs.md").read_text() == (out / "runs.md").read_text()
    with pytest.raises(FileNotFoundError, match="no section <!-- third.report.md -->"):
        (out / "third.summary.json").write_text("{}")
        record([out / "third.summary.json"], again)

    # a seed recorded twice with other numbers, or a group with other settings, is refused
    (second / "summary.json").write_text(json.dumps({"groups": [
        _coin_group("om", [1], _coin_metrics([0.6], [0.1], [-0.1], [-0.4]))]}))
    with pytest.raises(ValueError, match="seed 1: runs 'first' and 'second' disagree on own_coin_rate"):
        record([first, second], out)
    (second / "summary.json").write_text(json.dumps({"groups": [
        _coin_group("om", [2], _coin_metrics([0.7], [0.4], [0.5], [-0.3]), {"updates": 3})]}))
    with pytest.raises(ValueError, match="other settings in run 'second'"):
        record([first, second], out)


def test_append_keeps_the_recorded_groups_and_their_curves(tmp_path) -> None:
    def run_folder(name: str, group: dict) -> object:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "summary.json").write_text(json.dumps({"groups": [group]}))
        (folder / "report.md").write_text(f"# {name}\n")
        return folder

    first = run_folder("first", _group("A", [(-2.0, -2.0), (-1.0, -1.0)], [(False, False), (True, True)],
                                       {0: [[1.0, 0.5], [3.0, 0.7]], 1: [[2.0, 0.6], [4.0, 0.8]]}))
    second = run_folder("second", _group("B", [(-1.5, -1.5)], [(False, True)], {0: [[0.1]], 1: [[0.3]]}))
    out = tmp_path / "out"
    (row_a,) = record([first], out)
    kept_a = json.loads((out / "model_kl_by_update.json").read_text())["A"]
    (out / "first.summary.json").unlink()  # the recorded folder keeps no per-run summary
    rows = record([second], out, append=True)
    assert [r["group"] for r in rows] == ["A", "B"]
    assert rows[0] == json.loads(json.dumps(row_a)) and rows[1]["reward"]["mean"] == -1.5
    quantiles = json.loads((out / "model_kl_by_update.json").read_text())
    assert quantiles["A"] == kept_a and quantiles["B"]["median"] == [0.2]
    table = (out / "results.md").read_text().splitlines()
    assert table[2].startswith("| A | 2 | -1.500 [") and table[3].startswith("| B | 1 | -1.500 ")
    assert (out / "runs.md").read_text().count("<!-- ") == 2
    with pytest.raises(ValueError, match="already records B"):
        record([second], out, append=True)
    with pytest.raises(FileNotFoundError, match="nothing to append to"):
        record([second], tmp_path / "empty", append=True)
