"""Write ``benchmarks/results/loqa/shaping.json`` and ``shaping.md``: LOQA's recipe with other
shaping terms (``LOQAConfig.shaping``), evaluated on the reciprocity protocol.

    python -m lola_agents.learners.loqa_eval runs/lolaq-0/update3000.pt runs/lolaq-1 --max-cycles 50 150 --json runs/e.json
    python -m benchmarks.loqa_shaping_record --costs runs/costs.json "LOLA-PS-Q, eta 1, naive first 1000=runs/e.json" ...

Each ``LABEL=FILE`` is one evaluation of a setting: the ``--json`` output of ``loqa_eval`` on
its runs (one or several seeds, one or several episode lengths); a label may come back with
the same runs at other updates. ``--costs`` is a JSON list of
``{"label", "seed", "updates", "cpu_s", "wall_min", "peak_mib", "note"}`` as ``/usr/bin/time -v``
and the run printed them. The JSON keeps what the Markdown shows (4 digits).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.loqa_seeds_record import record_arguments, stat, write_record
from lola_agents.metrics import interval_text

TARGETS = ("own-coin >= 0.90 and >= 0.28 per step each in self-play; >= 0.25 per step across seeds; "
           ">= -0.05 per step against always-defect in both seats; P(take the other's coin) after a theft "
           "well above its rate otherwise")


def _mean(x: dict[str, Any] | None) -> float | None:
    return None if x is None else stat(x)["mean"]


def compact_setting(evaluation: dict[str, Any]) -> dict[str, Any]:
    """What ``shaping.md`` shows of one evaluation (``evaluate_loqa``'s result): per seed the
    self-play own-coin rate (mean and interval), both seats' rewards with itself and against
    always-defect, and the retaliation rates (after a theft, otherwise; self-play, then against
    always-defect in seat 0); over several seeds the intervals and cross-seed play."""
    per_seed = []
    for run, sp, ad in zip(evaluation["runs"], evaluation["self_play"],
                           evaluation["vs_always_defect"]["per_instance"], strict=True):
        per_seed.append({
            "seed": run["seed"], "updates": run["updates"], "own_coin": stat(sp["own_coin_rate"]),
            "reward": [_mean(sp[s]["reward_per_step"]) for s in ("seat_0", "seat_1")],
            "vs_always_defect": [_mean(ad[s]["reward_per_step"]) for s in ("seat_0", "seat_1")],
            "takes_other_coin": [_mean(side["seat_0"][k]) for side in (sp, ad)
                                 for k in ("takes_other_coin_after_theft", "takes_other_coin_otherwise")],
        })
    out: dict[str, Any] = {"per_seed": per_seed}
    seeds = evaluation.get("across_seeds")
    if seeds:
        out["over_seeds"] = {key: stat(seeds[key]) for key in (
            "self_play_own_coin_rate", "self_play_reward_per_step_seat_0", "self_play_reward_per_step_seat_1",
            "vs_always_defect_reward_per_step_seat_0", "vs_always_defect_reward_per_step_seat_1")}
        out["cross_seed_reward_per_step"] = stat((seeds.get("cross_seed") or {}).get("reward_per_step"))
    return out


def _f(x: float | None, digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def _fi(x: dict[str, Any] | None) -> str:
    return interval_text(x, 3, missing="")


def shaping_markdown(record: dict[str, Any]) -> str:
    """The Markdown of a record written by :func:`main` (one row per evaluation, seed and episode length)."""
    header = ("| setting | seed | updates | episode steps | self-play own-coin | self-play reward/step seat 0 / 1 | "
              "cross-seed reward/step | vs always-defect seat 0 / 1 | takes the other's coin after a theft / "
              "otherwise: self-play, vs always-defect (seat 0) |\n|---|---|---|---|---|---|---|---|---|")
    rows = [header]
    for entry in record["settings"]:
        label = entry["label"]
        for steps, e in entry["by_episode_steps"].items():
            for run in e["per_seed"]:
                take = [_f(v, 2) for v in run["takes_other_coin"]]
                rows.append(
                    f"| {label} | {run['seed']} | {run['updates']} | {steps} | {_fi(run['own_coin'])} | "
                    f"{_f(run['reward'][0])} / {_f(run['reward'][1])} | | "
                    f"{_f(run['vs_always_defect'][0])} / {_f(run['vs_always_defect'][1])} | "
                    f"{take[0]} / {take[1]}, {take[2]} / {take[3]} |")
            if "over_seeds" in e:
                a = e["over_seeds"]
                rows.append(
                    f"| {label} | over {len(e['per_seed'])} seeds | | {steps} | {_fi(a['self_play_own_coin_rate'])} | "
                    f"{_fi(a['self_play_reward_per_step_seat_0'])} / {_fi(a['self_play_reward_per_step_seat_1'])} | "
                    f"{_fi(e['cross_seed_reward_per_step'])} | {_fi(a['vs_always_defect_reward_per_step_seat_0'])} / "
                    f"{_fi(a['vs_always_defect_reward_per_step_seat_1'])} | |")
    costs = "\n".join(f"| {c['label']} | {c['seed']} | {c['updates']} | {c['cpu_s']} | {c['wall_min']} | {c['peak_mib']} |"
                      for c in record["costs"])
    notes = "\n".join(f"- {c['label']}, seed {c['seed']}: {c['note']}." for c in record["costs"] if c.get("note"))
    table = "\n".join(rows)
    return f"""# LOQA's recipe with other shaping terms

The learners of `lola_agents.learners.loqa` with `LOQAConfig.shaping` set to
`"advantage_alignment"` (AdAlign-Q) or `"lola_policy"` (LOLA-PS-Q), preset `cpu` (128 games x
50 steps per update, every game against a past self drawn from a buffer reaching back to
initialisation, 16 drawn per batch, entropy 0.1), frozen and evaluated on the reciprocity
protocol of docs/loqa.md (3x3, >= 1000 episodes per seat arrangement in 10 evaluation games,
both seats, always-defect with random tie-breaks). Per seed: mean [95% interval over the
evaluation games]; over seeds: mean [Student-t 95% interval over the seeds' means]; cross-seed
play: each seed's learner against the others', both seats. "naive first 1000":
`shaping_start=1000`. Targets: {TARGETS}. Written by `python -m benchmarks.loqa_shaping_record`.

{table}

## Cost per run

One torch thread, on this 2-core machine shared with other jobs (2026-12-03).

| setting | seed | updates | CPU s (one core) | wall minutes | peak memory MiB |
|---|---|---|---|---|---|
{costs}

{notes}
"""


def main() -> None:
    args = record_arguments(__doc__, "LABEL=FILE")
    record: dict[str, Any] = {"costs": json.loads(Path(args.costs).read_text()), "settings": []}
    for item in args.items:
        label, sep, path = item.rpartition("=")
        if not sep or not label:
            raise SystemExit(f"each setting is LABEL=FILE, got {item!r}")
        evaluations = json.loads(Path(path).read_text())["evaluation"]
        record["settings"].append({"label": label, "by_episode_steps": {
            steps: {"episode_steps": int(steps), **compact_setting(e)} for steps, e in evaluations.items()}})
        record["protocol"] = next(iter(evaluations.values()))["protocol"]
    write_record(args.out_dir, "shaping", record, shaping_markdown(record))


if __name__ == "__main__":
    main()
