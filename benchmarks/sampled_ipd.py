"""Benchmark of the sampled learners on the IPD and IMP (self-play, many seeds).

    .venv/bin/python -m benchmarks.sampled_ipd                 # everything below
    .venv/bin/python -m benchmarks.sampled_ipd --quick         # 3 seeds, short runs (smoke test)
    .venv/bin/python -m benchmarks.sampled_ipd --learners lola_pg,nl_pg --games ipd --seeds 10

Learners (self-play: both seats run the same learner with different seeds):

* ``nl_pg``, ``lola_pg``, ``lola_om``: paper IPD-PG settings, 4000 episodes of
  150 steps per update, lr 1, critic lr 1 (IMP: gamma 0.9); ``lola_om_steps50``:
  LOLA-OM with 50 model-fitting steps at every update (the paper: 1 after the first);
* ``dice0`` .. ``dice3``: LOLA-DiCE with k = 0..3 look-ahead steps, paper
  settings (batch 64, inner lr 0.1, outer lr 0.2, 200 updates);
  ``dice1_inner0.3``, ``dice2_inner0.3``: the official script's inner lr 0.3.

Per run: the exact reward per step ``(1 - gamma) V`` of the final policies
(``lola_agents.exact``), the sampled reward per step of the last updates,
TFT-likeness (IPD) and Nash (IMP) of each agent (``lola_agents.metrics``).
Writes into ``--out`` (default benchmarks/results/sampled/): runs.jsonl (one
line per finished run, with learning curves; an interrupted benchmark resumes
from it), results.json (summary + final state of each run), results.md and
learning-curve PNGs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lola_agents import metrics

DEFAULT_OUT = Path(__file__).parent / "results" / "sampled"
GAMES = {"ipd": ("ipd_v0", "prisoners_dilemma", 0.96), "imp": ("imp_v0", "matching_pennies", 0.9)}
STATES = ("CC", "CD", "DC", "DD", "start")
PAPER = {  # shared/REFERENCE.md section 4 (50 runs; DiCE: official result files, 5 runs)
    ("nl_pg", "ipd"): "-1.98 (0.00), 20.0% TFT",
    ("lola_pg", "ipd"): "-1.17 (0.34), 66.4% TFT",
    ("nl_pg", "imp"): "13.2% Nash",
    ("lola_pg", "imp"): "93.2% Nash",
    ("dice0", "ipd"): "-1.99 (naive)",
    ("dice1", "ipd"): "-1.19",
    ("dice2", "ipd"): "-1.11",
    ("dice3", "ipd"): "-1.10",
}
TARGETS = {  # issue 6
    ("lola_pg", "ipd"): "<= -1.25, TFT-like",
    ("nl_pg", "ipd"): "<= -1.90",
    ("lola_pg", "imp"): ">= 80% Nash",
    ("dice2", "ipd"): "<= -1.20",
}
LABELS = {
    "nl_pg": "NL-PG", "lola_pg": "LOLA-PG", "lola_om": "LOLA-OM",
    "lola_om_steps50": "LOLA-OM, 50 model steps per update",
    "dice0": "DiCE k=0 (naive)", "dice1": "LOLA-DiCE k=1", "dice2": "LOLA-DiCE k=2",
    "dice3": "LOLA-DiCE k=3",
    "dice1_inner0.3": "LOLA-DiCE k=1, inner lr 0.3",
    "dice2_inner0.3": "LOLA-DiCE k=2, inner lr 0.3",
}


def learner_settings(learner: str, quick: bool, updates: int | None = None) -> dict[str, Any]:
    """Batch (episodes of 150 steps) and number of updates of one learner (paper: 200 updates)."""
    if learner.startswith("dice"):
        # "dice<k>" or "dice<k>_inner<lr>" (the official script's inner lr is 0.3, the paper's 0.1)
        name, _, inner = learner.partition("_inner")
        settings = {"num_envs": 64, "updates": 60 if quick else 200, "lookahead": int(name[4:])}
        if inner:
            settings["inner_lr"] = float(inner)
    else:
        settings = {"num_envs": 1000 if quick else 4000, "updates": 20 if quick else 200}
    if updates is not None:
        settings["updates"] = updates
    return settings


def make_agents(learner: str, game: str, seed: int, settings: dict[str, Any]) -> list[Any]:
    from lola_agents.dice import LOLADiCEAgent
    from lola_agents.opponent_model import LOLAOMAgent
    from lola_agents.pg import LOLAPGAgent, NaivePGAgent

    gamma = GAMES[game][2]
    seeds = (2 * seed + 1000, 2 * seed + 1001)  # distinct from the env seed stream
    if learner.startswith("dice"):
        inner = {"inner_lr": settings["inner_lr"]} if "inner_lr" in settings else {}
        return [
            LOLADiCEAgent(lookahead=settings["lookahead"], gamma=gamma, game=GAMES[game][0], seed=s, **inner)
            for s in seeds
        ]
    if learner == "lola_om_steps50":  # variant: refit the opponent model harder every update
        return [LOLAOMAgent(gamma=gamma, seed=s, om_steps=50) for s in seeds]
    cls = {"nl_pg": NaivePGAgent, "lola_pg": LOLAPGAgent, "lola_om": LOLAOMAgent}[learner]
    return [cls(gamma=gamma, seed=s) for s in seeds]


def run_one(job: tuple[str, str, int, bool, int]) -> dict[str, Any]:
    """Train one self-play pair; return its summary and learning curves (3 decimals)."""
    learner, game, seed, quick, updates = job
    torch.set_num_threads(1)
    from lola_agents.exact import iterated_game_values
    from lola_agents.trainer import train

    settings = learner_settings(learner, quick, updates)
    agents = make_agents(learner, game, seed, settings)
    env_id, payoffs, gamma = GAMES[game]
    start = time.perf_counter()
    result = train(
        env_id, *agents, updates=settings["updates"], num_envs=settings["num_envs"],
        seed=seed, progress=False,
    )
    seconds = time.perf_counter() - start
    logits = torch.stack([a.policy.logits.detach().double() for a in agents])  # [2, 5]
    values = iterated_game_values(logits[0:1], logits[1:2], payoffs, gamma)
    exact_reward = [float(metrics.reward_per_step(float(v), gamma)) for v in values]
    probs = metrics.action_0_probabilities(logits.numpy())  # [2, 5]
    tail = result.history[-5:]
    return {
        "learner": learner, "game": game, "seed": seed, "quick": quick, "seconds": seconds, **settings,
        "exact_reward_per_step": exact_reward,
        "sampled_reward_per_step_last5": [
            float(np.mean([row[f"reward_{i}"] for row in tail])) for i in range(2)
        ],
        "p_action0": probs.tolist(),
        "is_tft": metrics.is_tit_for_tat(probs).tolist(),
        "at_nash": metrics.is_at_nash(probs).tolist(),
        "curve_reward": np.round(
            [[row["reward_0"], row["reward_1"]] for row in result.history], 3
        ).tolist(),
        "curve_p_action0": np.round(
            [[[row[f"p_action0_{i}_{s}"] for s in STATES] for i in range(2)] for row in result.history],
            3,
        ).tolist(),
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per (learner, game): mean/std over agents of the final exact reward per step, %TFT, %Nash."""
    table = {}
    for key in sorted({(r["learner"], r["game"]) for r in runs}):
        group = [r for r in runs if (r["learner"], r["game"]) == key]
        exact = np.array([r["exact_reward_per_step"] for r in group])  # [runs, 2]
        sampled = np.array([r["sampled_reward_per_step_last5"] for r in group])
        reward_mean, reward_std = metrics.mean_and_std(exact)
        table[f"{key[0]}/{key[1]}"] = {
            "learner": key[0], "game": key[1], "runs": len(group),
            "num_envs": group[0]["num_envs"], "updates": group[0]["updates"],
            "reward_mean": reward_mean, "reward_std": reward_std,
            "reward_player0_mean": float(exact[:, 0].mean()),
            "sampled_reward_mean": float(sampled.mean()),
            "tft_percent": 100.0 * float(np.mean([r["is_tft"] for r in group])),
            "nash_percent": 100.0 * float(np.mean([r["at_nash"] for r in group])),
            # the same shares with their Wilson 95% intervals (%TFT-4 from the recorded profiles)
            "tft_share": metrics.describe_share([f for r in group for f in r["is_tft"]]),
            "tft4_share": metrics.describe_share(
                [bool(f) for r in group for f in metrics.is_tit_for_tat(r["p_action0"], include_start=False)]
            ),
            "nash_share": metrics.describe_share([f for r in group for f in r["at_nash"]]),
            "mean_p_action0": np.mean([r["p_action0"] for r in group], axis=(0, 1)).tolist(),
            "seconds_per_run": float(np.mean([r["seconds"] for r in group])),
        }
    return table


def write_markdown(summary: dict[str, Any], out: Path, command: str) -> None:
    lines = [
        "# Sampled learners: IPD and IMP self-play",
        "",
        f"Command: `{command}`",
        "",
        "Reward per step = exact `(1 - gamma) V` of the final policies, mean (std) over "
        "agents (2 per run); %TFT, %TFT-4 / %Nash: percent of agents with a 95% Wilson interval "
        "(definitions in docs/metrics.md). "
        "Sampled = mean reward per step over the last 5 training batches.",
        "",
        "| learner | game | runs | batch x updates | reward/step | sampled | %TFT | %TFT-4 | %Nash | "
        "P(C) [CC, CD, DC, DD, start] | paper | target | s/run |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary.values():
        key = (row["learner"], row["game"])
        probs = ", ".join(f"{p:.2f}" for p in row["mean_p_action0"])
        lines.append(
            f"| {LABELS[row['learner']]} | {row['game'].upper()} | {row['runs']} | "
            f"{row['num_envs']} x {row['updates']} | {row['reward_mean']:.3f} ({row['reward_std']:.3f}) | "
            f"{row['sampled_reward_mean']:.3f} | {metrics.format_share(row['tft_share'])} | "
            f"{metrics.format_share(row['tft4_share'])} | {metrics.format_share(row['nash_share'])} | "
            f"[{probs}] | {PAPER.get(key, '')} | {TARGETS.get(key, '')} | {row['seconds_per_run']:.0f} |"
        )
    lines += [
        "",
        "IMP is zero-sum, so its mean reward over both players is 0 by construction; "
        "%Nash is the figure of merit there.",
        "",
    ]
    (out / "results.md").write_text("\n".join(lines))


def plot(runs: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for game in sorted({r["game"] for r in runs}):
        learners = sorted({r["learner"] for r in runs if r["game"] == game})
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
        for learner in learners:
            group = [r for r in runs if (r["learner"], r["game"]) == (learner, game)]
            curve = np.array([r["curve_reward"] for r in group])  # [runs, updates, 2]
            if game == "imp":
                curve = curve[:, :, :1]  # the matcher's side (zero-sum)
            mean, std = curve.mean(axis=(0, 2)), curve.std(axis=(0, 2))
            x = np.arange(1, len(mean) + 1)
            axes[0].plot(x, mean, label=LABELS[learner])
            axes[0].fill_between(x, mean - std, mean + std, alpha=0.2)
            probs = np.array([r["curve_p_action0"] for r in group])  # [runs, updates, 2, 5]
            if game == "ipd":
                tft = np.array([1, 0, 1, 0, 1.0])  # TFT's P(C) in [CC, CD, DC, DD, start]
                distance = np.abs(probs - tft).mean(axis=(0, 2, 3))
                axes[1].plot(x, distance, label=LABELS[learner])
            else:
                distance = np.abs(probs - 0.5).max(axis=3).mean(axis=(0, 2))
                axes[1].plot(x, distance, label=LABELS[learner])
        axes[0].set_xlabel("update")
        axes[0].set_ylabel("reward per step" + (" (player_0)" if game == "imp" else ""))
        axes[0].set_title(f"{game.upper()}: sampled reward per step (mean +- std over runs)")
        axes[1].set_xlabel("update")
        axes[1].set_ylabel("mean |P(C|s) - TFT|" if game == "ipd" else "max_s |P(H|s) - 1/2|")
        axes[1].set_title("distance to TFT" if game == "ipd" else "distance to Nash")
        for ax in axes:
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / f"curves_{game}.png", dpi=80)
        plt.close(fig)
    # P(C | state) over training for the PG learners on the IPD.
    pg = [r for r in runs if r["game"] == "ipd" and not r["learner"].startswith("dice")]
    learners = sorted({r["learner"] for r in pg})
    if learners:
        fig, axes = plt.subplots(1, len(learners), figsize=(4.5 * len(learners), 3.8), squeeze=False)
        for ax, learner in zip(axes[0], learners, strict=True):
            probs = np.array([r["curve_p_action0"] for r in pg if r["learner"] == learner])
            mean = probs.mean(axis=(0, 2))  # [updates, 5]
            for s, name in enumerate(STATES):
                ax.plot(np.arange(1, len(mean) + 1), mean[:, s], label=f"P(C|{name})")
            ax.set_title(f"{LABELS[learner]} (IPD)")
            ax.set_xlabel("update")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "p_cooperate_ipd.png", dpi=80)
        plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", default="nl_pg,lola_pg,lola_om,dice0,dice1,dice2,dice3")
    parser.add_argument("--games", default="ipd,imp", help="IMP runs only for nl_pg and lola_pg")
    parser.add_argument("--seeds", type=int, default=10, help="runs of the PG learners")
    parser.add_argument("--dice-seeds", type=int, default=5, help="runs of the DiCE learners")
    parser.add_argument("--quick", action="store_true", help="3 seeds, smaller batches, fewer updates")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--seeds-for", default="",
        help="per-group run counts, e.g. 'nl_pg/imp=5,lola_om/ipd=5' (overrides --seeds)",
    )
    parser.add_argument(
        "--updates-for", default="",
        help="per-group update counts, e.g. 'lola_om/ipd=50' (default: 200, quick: 20/60)",
    )
    parser.add_argument(
        "--fresh", action="store_true",
        help="ignore finished runs in OUT/runs.jsonl (default: skip them, so an interrupted "
        "benchmark continues where it stopped)",
    )
    args = parser.parse_args(argv)
    seeds_for = {}
    for item in filter(None, args.seeds_for.split(",")):
        group, count = item.split("=")
        seeds_for[tuple(group.split("/"))] = int(count)
    updates_for = {}
    for item in filter(None, args.updates_for.split(",")):
        group, count = item.split("=")
        updates_for[tuple(group.split("/"))] = int(count)
    learners = args.learners.split(",")
    unknown = sorted(set(learners) - set(LABELS))
    if unknown:
        parser.error(f"unknown learners {unknown}; known: {sorted(LABELS)}")
    games = args.games.split(",")
    jobs = []
    for game in games:
        for learner in learners:
            if game == "imp" and learner not in ("nl_pg", "lola_pg"):
                continue
            seeds = 3 if args.quick else (args.dice_seeds if learner.startswith("dice") else args.seeds)
            seeds = seeds_for.get((learner, game), seeds)
            updates = learner_settings(learner, args.quick, updates_for.get((learner, game)))["updates"]
            jobs += [(learner, game, seed, args.quick, updates) for seed in range(seeds)]
    args.out.mkdir(parents=True, exist_ok=True)
    # Every finished run is appended here at once, so an interrupted benchmark loses nothing.
    runs_file = args.out / "runs.jsonl"
    finished = []
    if runs_file.exists() and not args.fresh:
        finished = [json.loads(line) for line in runs_file.read_text().splitlines() if line.strip()]
    elif runs_file.exists():
        runs_file.unlink()
    done = {(r["learner"], r["game"], r["seed"], r["quick"], r["updates"]) for r in finished}
    todo = [job for job in jobs if job not in done]
    print(f"{len(todo)} runs to do ({len(jobs) - len(todo)} already in {runs_file}) "
          f"on {args.workers} worker(s)", flush=True)
    start = time.perf_counter()

    def record(run: dict[str, Any]) -> None:
        with open(runs_file, "a") as f:
            f.write(json.dumps(run) + "\n")
        print(f"  {run['learner']}/{run['game']} seed {run['seed']}: "
              f"{np.round(run['exact_reward_per_step'], 3).tolist()} ({run['seconds']:.0f}s)", flush=True)

    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as pool:
            for run in pool.map(run_one, todo):
                record(run)
    else:
        for job in todo:
            record(run_one(job))
    results_file = args.out / "results.json"
    wanted = set(jobs)
    runs = [
        json.loads(line) for line in runs_file.read_text().splitlines() if line.strip()
    ]
    runs = [r for r in runs if (r["learner"], r["game"], r["seed"], r["quick"], r["updates"]) in wanted]
    summary = summarize(runs)
    command = "python -m benchmarks.sampled_ipd " + " ".join(argv if argv is not None else os.sys.argv[1:])
    payload = {
        "command": command, "quick": args.quick, "wall_seconds": time.perf_counter() - start,
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count()},
        "summary": summary,
        # Final state of every run; the learning curves are in runs.jsonl.
        "runs": [{k: v for k, v in r.items() if not k.startswith("curve_")} for r in runs],
    }
    results_file.write_text(json.dumps(payload, indent=1))
    write_markdown(summary, args.out, command)
    plot(runs, args.out)
    print((args.out / "results.md").read_text())


if __name__ == "__main__":
    main()
