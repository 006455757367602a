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
