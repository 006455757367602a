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


def stat(x: dict[str, Any] | None) -> dict[str, Any] | None:
    """``{"mean", "ci95"}`` of a figure, 4 digits."""
    if x is None:
        return None
    out: dict[str, Any] = {"mean": None if x.get("mean") is None else round(x["mean"], 4)}
    if x.get("ci95") is not None:
        out["ci95"] = [round(v, 4) for v in x["ci95"]]
    return out


def compact(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The part of one several-seed evaluation (``evaluate_loqa``'s result) that ``seeds.md`` shows."""
    per_seed = []
    for run, sp, ad in zip(evaluation["runs"], evaluation["self_play"],
                           evaluation["vs_always_defect"]["per_instance"], strict=True):
        per_seed.append({
            "seed": run["seed"], "updates": run["updates"],
            "self_play_own_coin_rate": stat(sp["own_coin_rate"]),
            "self_play_reward_per_step": [stat(sp[s]["reward_per_step"]) for s in ("seat_0", "seat_1")],
            "self_play_takes_other_coin_after_theft_otherwise": [
                stat(sp["seat_0"]["takes_other_coin_after_theft"]), stat(sp["seat_0"]["takes_other_coin_otherwise"])],
            "vs_always_defect_reward_per_step": [stat(ad[s]["reward_per_step"]) for s in ("seat_0", "seat_1")],
            "vs_always_defect_own_coin_rate": [stat(ad[s]["own_coin_rate"]) for s in ("seat_0", "seat_1")],
            "vs_always_defect_takes_other_coin_after_theft_otherwise_seat_0": [
                stat(ad["seat_0"]["takes_other_coin_after_theft"]), stat(ad["seat_0"]["takes_other_coin_otherwise"])],
        })
    seeds = evaluation.get("across_seeds") or {}  # one seed: none
    across = {k: (stat(v) if isinstance(v, dict) and "mean" in v else v)
              for k, v in seeds.items() if k != "cross_seed"}
    cross = seeds.get("cross_seed")
    return {"episodes_per_league_game": evaluation["vs_always_defect"]["episodes_per_game"],
            "per_seed": per_seed, "across_seeds": across,
            "cross_seed": {k: (stat(v) if isinstance(v, dict) else v) for k, v in cross.items()} if cross else None}


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


def record_arguments(doc: str, items: str) -> argparse.Namespace:
    """The command line shared by the LOQA record writers: ``items`` (``NAME=FILE`` pairs),
    ``--costs`` and ``--out-dir``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("items", nargs="+", metavar=items)
    parser.add_argument("--costs", required=True, help="JSON list of the runs' costs")
    parser.add_argument("--out-dir", default="benchmarks/results/loqa")
    return parser.parse_args()


def write_record(out_dir: str | Path, stem: str, record: dict[str, Any], markdown: str) -> None:
    """``out_dir/stem.json`` (compact) and ``out_dir/stem.md``."""
    out = Path(out_dir)
    (out / f"{stem}.json").write_text(json.dumps(record, separators=(",", ":")) + "\n")
    (out / f"{stem}.md").write_text(markdown)
    print(f"wrote {out / stem}.json and {out / stem}.md")


def main() -> None:
    args = record_arguments(__doc__, "UPDATES=FILE")
    evaluations = {}
    for item in args.items:
        updates, sep, path = item.partition("=")
        if not sep or not updates.isdigit():
            raise SystemExit(f"each evaluation is UPDATES=FILE (e.g. 6000=runs/s6000.json), got {item!r}")
        evaluations[updates] = json.loads(Path(path).read_text())["evaluation"][PROTOCOL_STEPS]
    costs = json.loads(Path(args.costs).read_text())
    record: dict[str, Any] = {"published": PUBLISHED, "costs": costs}
    for updates, evaluation in evaluations.items():
        record["protocol"] = evaluation["protocol"]
        record[f"updates_{updates}"] = compact(evaluation)
    write_record(args.out_dir, "seeds", record, seeds_markdown(evaluations, costs))


if __name__ == "__main__":
    main()
