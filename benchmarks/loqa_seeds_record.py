"""Write ``benchmarks/results/loqa/seeds.json`` and ``seeds.md`` from ``loqa_eval`` outputs.

    python -m lola_agents.learners.loqa_eval runs/seed0 runs/seed1 ... --json runs/s6000.json
    python -m lola_agents.learners.loqa_eval runs/seed0/update2500.pt ... --json runs/s2500.json
    python -m benchmarks.loqa_seeds_record --costs runs/costs.json 6000=runs/s6000.json 2500=runs/s2500.json

Each ``UPDATES=FILE`` is the ``--json`` output of one evaluation of several training seeds
(their learners after ``UPDATES`` updates; the 50-step protocol is read). ``--costs`` is a
JSON list of the runs' costs as ``/usr/bin/time -v`` and the run printed them:
``{"seed", "updates", "cpu_s", "wall_min", "peak_mib", "note"}``. The JSON keeps what the
Markdown shows, to 4 digits: per seed (self-play, against always-defect per seat, the
retaliation rates), the figures over seeds and the cross-seed cell.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lola_agents.learners.loqa_eval import loqa_markdown

PUBLISHED = {"self_play_own_coin_rate": [0.76, 0.91], "self_play_reward_per_step": [0.22, 0.30],
             "vs_always_defect_reward_per_step": [-0.054, -0.072], "updates": 6000}
PROTOCOL_STEPS = "50"


def compact(evaluation: dict[str, Any], digits: int = 4) -> dict[str, Any]:
    """The part of one several-seed evaluation (``evaluate_loqa``'s result) that the record keeps,
    rounded to ``digits``."""

    def _stat(x: dict[str, Any] | None) -> dict[str, Any] | None:
        if x is None:
            return None
        out: dict[str, Any] = {"mean": None if x.get("mean") is None else round(x["mean"], digits)}
        if x.get("ci95") is not None:
            out["ci95"] = [round(v, digits) for v in x["ci95"]]
        return out

    per_seed = []
    for run, sp, ad in zip(evaluation["runs"], evaluation["self_play"],
                           evaluation["vs_always_defect"]["per_instance"], strict=True):
        per_seed.append({
            "seed": run["seed"], "updates": run["updates"],
            "self_play_own_coin_rate": _stat(sp["own_coin_rate"]),
            "self_play_reward_per_step": [_stat(sp[s]["reward_per_step"]) for s in ("seat_0", "seat_1")],
            "self_play_takes_other_coin_after_theft_otherwise": [
                _stat(sp["seat_0"]["takes_other_coin_after_theft"]), _stat(sp["seat_0"]["takes_other_coin_otherwise"])],
            "vs_always_defect_reward_per_step": [_stat(ad[s]["reward_per_step"]) for s in ("seat_0", "seat_1")],
            "vs_always_defect_own_coin_rate": [_stat(ad[s]["own_coin_rate"]) for s in ("seat_0", "seat_1")],
            "vs_always_defect_takes_other_coin_after_theft_otherwise_seat_0": [
                _stat(ad["seat_0"]["takes_other_coin_after_theft"]), _stat(ad["seat_0"]["takes_other_coin_otherwise"])],
        })
    seeds = evaluation.get("across_seeds") or {}  # one seed: none
    across = {k: (_stat(v) if isinstance(v, dict) and "mean" in v else v)
              for k, v in seeds.items() if k != "cross_seed"}
    cross = seeds.get("cross_seed")
    return {"episodes_per_league_game": evaluation["vs_always_defect"]["episodes_per_game"],
            "per_seed": per_seed, "across_seeds": across,
            "cross_seed": {k: (_stat(v) if isinstance(v, dict) else v) for k, v in cross.items()} if cross else None}


def _tables(evaluation: dict[str, Any]) -> str:
    return loqa_markdown(evaluation).split("\n", 2)[2].strip()  # without the protocol sentence


def seeds_markdown(evaluations: dict[str, dict[str, Any]], costs: list[dict[str, Any]]) -> str:
    """``seeds.md``: the tables of each evaluation (``{updates: evaluation}``) and the costs."""
    sections = []
    for updates, evaluation in evaluations.items():
        label = {str(PUBLISHED["updates"]): "the paper's budget", "2500": "about 30 minutes of one core"}.get(
            updates, "the checkpoints of the same runs")
        sections.append(f"## {updates} updates ({label}), {len(evaluation['runs'])} seeds\n\n{_tables(evaluation)}")
    rows = "\n".join(f"| {c['seed']} | {c['updates']} | {c['cpu_s']} | {c['wall_min']} | {c['peak_mib']} |"
                     for c in costs)
    notes = "\n".join(f"- seed {c['seed']}, {c['updates']} updates: {c['note']}." for c in costs)
    seeds = sorted({run["seed"] for e in evaluations.values() for run in e["runs"]})
    budgets = " and ".join(evaluations)
    body = "\n\n".join(sections)
    return f"""# LOQA over training seeds: preset `cpu`, {budgets} updates

The reciprocity protocol of docs/loqa.md (3x3, 50-step episodes, frozen agents, >= 1000
episodes per seat arrangement in 10 evaluation games, both seats, always-defect with random
tie-breaks) on the learners of several LOQA runs of the `cpu` preset (128 games x 50 steps per
update, 16 past selves drawn per batch from a buffer reaching back to initialisation). Per
seed: mean [95% interval over the evaluation games]; the row "over the seeds": mean
[Student-t 95% interval over the seeds' means]. Cross-seed play: each seed's learner against
every other seed's, in both seats (at least 1000 episodes per seed and seat). Figures in
`seeds.json` (4 digits); seed 0's run in `results.md`. Written by
`python -m benchmarks.loqa_seeds_record` from the evaluations below.

```bash
for seed in {" ".join(map(str, seeds))}; do   # one run per core; or: lola-bench --experiment coin-loqa-cpu --seed-list {" ".join(map(str, seeds))}
  python -m lola_agents.learners.loqa --preset cpu --seed $seed --threads 1 --updates 6000 \\
      --log-dir runs/loqa-cpu-seed$seed --checkpoint-every 250
done
python -m lola_agents.learners.loqa_eval {" ".join(f"runs/loqa-cpu-seed{s}" for s in seeds)} --json runs/s6000.json
```

The 2500-update learners are the checkpoints of update 2500 of the same runs (a run of
`--updates 2500`, experiment `coin-loqa-cpu30`, is the same: no setting depends on the budget).

{body}

## Cost per run

One torch thread, on this 2-core machine shared with other jobs (2026-12-03).

| seed | updates | CPU s (one core) | wall minutes | peak memory MiB |
|---|---|---|---|---|
{rows}

{notes}
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("evaluations", nargs="+", metavar="UPDATES=FILE")
    parser.add_argument("--costs", required=True, help="JSON list of the runs' costs")
    parser.add_argument("--out-dir", default="benchmarks/results/loqa")
    args = parser.parse_args(argv)
    evaluations = {}
    for item in args.evaluations:
        updates, sep, path = item.partition("=")
        if not sep or not updates.isdigit():
            raise SystemExit(f"each evaluation is UPDATES=FILE (e.g. 6000=runs/s6000.json), got {item!r}")
        evaluations[updates] = json.loads(Path(path).read_text())["evaluation"][PROTOCOL_STEPS]
    costs = json.loads(Path(args.costs).read_text())
    record: dict[str, Any] = {"published": PUBLISHED, "costs": costs}
    for updates, evaluation in evaluations.items():
        record["protocol"] = evaluation["protocol"]
        record[f"updates_{updates}"] = compact(evaluation)
    out = Path(args.out_dir)
    (out / "seeds.json").write_text(json.dumps(record, separators=(",", ":")) + "\n")
    (out / "seeds.md").write_text(seeds_markdown(evaluations, costs))
    print(f"wrote {out / 'seeds.json'} and {out / 'seeds.md'}")


if __name__ == "__main__":
    main()
