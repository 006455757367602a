"""Summarise the coin-game runs of benchmarks.coin_lola: table, 95% intervals, figure.

    .venv/bin/python -m benchmarks.coin_report            # reads benchmarks/results/coin/fast_*.json

Per pairing (all seeds found): the evaluation after training (1000 fresh
episodes) - own-coin rate and reward per step of each seat - as mean and 95%
t-interval over seeds; the head-to-head scores of each trained learner
against greedy and own-coin-only in both seats (vs the greedy-vs-greedy
score); cross-play of trained LOLA against trained IPPO (both seat orders,
from the saved final agents in runs/coin, when present); learners trained
against a fixed strategy; and fixed strategies (coin-game tit-for-tat,
own-coin-only, greedy) against greedy for reference. Writes
``summary.json``, ``summary.md`` and ``learning_curves.png`` next to the runs.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from lola_agents.metrics import describe, finite_values

RESULTS = Path(__file__).resolve().parent / "results" / "coin"
LABELS = {"lola-lola": "LOLA-DiCE vs LOLA-DiCE", "om-om": "LOLA-OM vs LOLA-OM",
          "nl-nl": "NL vs NL", "ippo-ippo": "IPPO vs IPPO",
          "aa-aa": "AdAlign vs AdAlign (LOLA successor)",
          "lola_ps-lola_ps_eta0.3_ent0.03_decay0.96": "LOLA-DiCE-PS vs LOLA-DiCE-PS (policy-space look-ahead)"}
# Learners played against trained IPPO in the cross-play table: run pairing -> label.
CROSS_PLAY = {"lola-lola": "LOLA-DiCE", "aa-aa": "AdAlign", "lola_ps-lola_ps_eta0.3_ent0.03_decay0.96": "LOLA-DiCE-PS"}


def interval(values: list[float]) -> dict[str, Any]:
    """Mean and 95% t-interval over seeds (:func:`lola_agents.metrics.describe`; NaN bounds
    for one seed)."""
    stats = describe(values)
    if stats["n"] == 0:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "n": 0}
    low, high = stats["ci95"] or (math.nan, math.nan)
    return {"mean": stats["mean"], "low": low, "high": high, "n": stats["n"],
            "values": [round(v, 4) for v in finite_values(values)]}


def fmt(ci: dict[str, Any], digits: int = 3) -> str:
    if ci["n"] == 0:
        return "n/a"
    if ci["n"] == 1:
        return f"{ci['mean']:.{digits}f} (1 seed)"
    return f"{ci['mean']:.{digits}f} [{ci['low']:.{digits}f}, {ci['high']:.{digits}f}]"


def load_runs(preset: str) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for file in sorted(RESULTS.glob(f"{preset}_*_seed*.json")):
        record = json.loads(file.read_text())
        if "evaluation" in record and not file.stem.endswith("_smoke"):
            tag = file.stem.split(f"_seed{record['seed']}", 1)[1]  # e.g. "_eta0.01": another setting
            record["run_name"] = file.stem
            runs["-".join(record["pair"]) + tag].append(record)
    return runs


def load_lola(run_name: str, seat: int, config: dict[str, Any]) -> Any:
    """A trained CoinLOLAAgent: the saved final agent, else the trainer's last checkpoint."""
    from lola_agents.checkpoint import restore_in_memory_state
    from lola_agents.coin_lola import CoinLOLAAgent
    from lola_agents.trainer import load_checkpoint

    final = Path("runs/coin") / run_name / "final" / f"player_{seat}"
    if final.exists():
        return CoinLOLAAgent.load(final)
    file = Path("runs/coin") / run_name / "checkpoint.pt"
    agent = CoinLOLAAgent(**config)
    restore_in_memory_state(agent, load_checkpoint(file)["agents"][seat], file)  # checked against the agent
    return agent


def cross_play(runs: dict[str, list[dict[str, Any]]], pairing: str = "lola-lola", episodes: int = 1000) -> dict[str, Any]:
    """Trained learner (player_0 of ``pairing`` seed k, e.g. lola-lola) against trained IPPO
    (player_1 of ippo-ippo seed k), and IPPO's player_0 against the learner's player_1."""
    import torch

    from lola_agents.evaluation import evaluate
    from lola_agents.ppo import PPOAgent

    torch.set_num_threads(1)
    out: dict[str, list[Any]] = {"lola_as_player_0": [], "lola_as_player_1": []}
    ippo_by_seed = {r["seed"]: r for r in runs.get("ippo-ippo", [])}
    for record in runs.get(pairing, []):
        seed = record["seed"]
        ippo_dir = Path("runs/coin") / f"fast_ippo-ippo_seed{seed}" / "final"
        if seed not in ippo_by_seed or not ippo_dir.exists():
            continue
        env = record["env_options"]
        lola = [load_lola(record["run_name"], i, record["agent_configs"][i]) for i in (0, 1)]
        ippo = [PPOAgent.load(ippo_dir / f"player_{i}") for i in (0, 1)]
        for key, (a, b) in (("lola_as_player_0", (lola[0], ippo[1])), ("lola_as_player_1", (ippo[0], lola[1]))):
            r = evaluate("coin_game_v0", a, b, episodes=episodes, seed=777 + seed, **env)
            out[key].append({"seed": seed, "reward_per_step": r["reward_per_step"],
                             "own_coin_rate_by_seat": [r["player_0"]["own_coin_rate"], r["player_1"]["own_coin_rate"]]})
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--no-cross-play", action="store_true")
    args = parser.parse_args(argv)
    runs = load_runs(args.preset)
    summary: dict[str, Any] = {"preset": args.preset, "pairings": {}}
    lines = [f"# Coin game, preset `{args.preset}`", "",
             "Evaluation after training: 1000 fresh episodes, sampled actions; mean [95% t-interval] over seeds.", "",
             "| pairing | seeds | own-coin rate | reward/step player_0 | reward/step player_1 | mean of both | train wall min (CPU-shared) |",
             "|---|---|---|---|---|---|---|"]
    for pair, records in sorted(runs.items()):
        ev = [r["evaluation"]["pair"] for r in records]
        entry = {
            "seeds": [r["seed"] for r in records],
            "commands": [r["command"] for r in records],
            "own_coin_rate": interval([e["own_coin_rate"] for e in ev]),
            "reward_per_step_0": interval([e["reward_per_step"][0] for e in ev]),
            "reward_per_step_1": interval([e["reward_per_step"][1] for e in ev]),
            "reward_per_step_mean": interval([sum(e["reward_per_step"]) / 2 for e in ev]),
            "train_minutes": interval([r["train_seconds"] / 60 for r in records]),
            "training_last_10pct_own_coin": interval([r["final_training"]["own_coin_rate"] for r in records]),
        }
        summary["pairings"][pair] = entry
        lines.append(f"| {LABELS.get(pair, pair)} | {entry['seeds']} | {fmt(entry['own_coin_rate'])} | "
                     f"{fmt(entry['reward_per_step_0'])} | {fmt(entry['reward_per_step_1'])} | "
                     f"{fmt(entry['reward_per_step_mean'])} | {entry['train_minutes']['mean']:.1f} |")

    # Head-to-head against fixed strategies (reward per step of the learner, both seats).
    lines += ["", "## Trained learners against fixed strategies (reward per step of the learner)", "",
              "| learner | vs greedy as player_0 | vs greedy as player_1 | vs own-coin as player_0 | vs own-coin as player_1 "
              "| greedy vs greedy | takes greedy's coin after a theft / otherwise |",
              "|---|---|---|---|---|---|---|"]
    summary["head_to_head"] = {}
    for pair, records in sorted(runs.items()):
        cells: dict[str, list[float]] = defaultdict(list)
        baseline = []
        for r in records:
            ev = r["evaluation"]
            baseline.append(sum(ev["greedy_vs_greedy"]["reward_per_step"]) / 2)
            for seat in (0, 1):
                for opp in ("greedy", "own"):
                    for as_seat in (0, 1):
                        key = f"player_{seat}_vs_{opp}_as_player_{as_seat}"
                        if key in ev:
                            cells[f"{opp}_as_player_{as_seat}"].append(ev[key]["reward_per_step"][as_seat])
                            if opp == "greedy" and "takes_other_coin" in ev[key]:  # evaluation.retaliation
                                after, otherwise = ev[key]["takes_other_coin"][as_seat]
                                cells["after_theft"].append(after)
                                cells["otherwise"].append(otherwise)
        if not cells:
            continue
        entry = {k: interval(v) for k, v in cells.items()}
        entry["greedy_vs_greedy"] = interval(baseline)
        summary["head_to_head"][pair] = entry
        retaliation = (f"{entry['after_theft']['mean']:.2f} / {entry['otherwise']['mean']:.2f}"
                       if "after_theft" in entry else "n/a")
        lines.append(f"| {LABELS.get(pair, pair)} | " + " | ".join(
            fmt(entry.get(k, interval([]))) for k in ("greedy_as_player_0", "greedy_as_player_1",
                                                      "own_as_player_0", "own_as_player_1", "greedy_vs_greedy"))
            + f" | {retaliation} |")

    lines += learning_against_fixed(runs, summary)
    lines += reference_strategies(summary)

    previous_file = RESULTS / f"{args.preset}_summary.json"
    previous = json.loads(previous_file.read_text()) if previous_file.exists() else {}
    for pairing, learner in ([] if args.no_cross_play else CROSS_PLAY.items()):
        key = "lola_vs_ippo" if pairing == "lola-lola" else f"{pairing}_vs_ippo"
        cross = cross_play(runs, pairing)
        if not cross["lola_as_player_0"] and previous.get(key, {}).get("lola_as_player_0"):
            # The trained agents live in runs/ (not committed): keep the figures computed where they were.
            cross = {**previous[key], "kept_from_previous_summary": True}
        summary[key] = cross
        if cross["lola_as_player_0"]:
            kept = " (kept from the previous summary: the saved agents in runs/coin are not here)" \
                if cross.get("kept_from_previous_summary") else ""
            lines += ["", f"## Trained {learner} against trained IPPO (same seed index), reward per step{kept}", "",
                      f"| order | seeds | {learner} | IPPO | own-coin {learner} | own-coin IPPO |", "|---|---|---|---|---|---|"]
            for key, lola_seat in (("lola_as_player_0", 0), ("lola_as_player_1", 1)):
                rows = cross[key]
                lola_r = interval([r["reward_per_step"][lola_seat] for r in rows])
                ippo_r = interval([r["reward_per_step"][1 - lola_seat] for r in rows])
                lola_o = interval([r["own_coin_rate_by_seat"][lola_seat] for r in rows])
                ippo_o = interval([r["own_coin_rate_by_seat"][1 - lola_seat] for r in rows])
                lines.append(f"| {learner} as player_{lola_seat} | {[r['seed'] for r in rows]} | {fmt(lola_r)} | "
                             f"{fmt(ippo_r)} | {fmt(lola_o)} | {fmt(ippo_o)} |")

    lines += ["", "Commands:", ""] + [f"- `{c}`" for e in summary["pairings"].values() for c in e["commands"]]
    (RESULTS / f"{args.preset}_summary.json").write_text(json.dumps(summary, indent=1))
    (RESULTS / f"{args.preset}_summary.md").write_text("\n".join(lines) + "\n")
    plot(runs, RESULTS / f"{args.preset}_learning_curves.png")
    print("\n".join(lines))
    return summary


def learning_against_fixed(runs: dict[str, list[dict[str, Any]]], summary: dict[str, Any]) -> list[str]:
    """Table of runs in which a learner trained against a fixed strategy (``--pair X-greedy``
    or ``greedy-X``): the learner's reward per step after training (the pair's evaluation,
    in its training seat) and its gap to greedy vs greedy."""
    lines = ["", "## Learners trained against a fixed strategy (the pair's evaluation after training)", "",
             "| learner (setting) | opponent | learner's seat | seeds | learner reward/step | opponent reward/step "
             "| learner minus greedy-vs-greedy |", "|---|---|---|---|---|---|---|"]
    from benchmarks.coin_lola import FIXED  # the fixed strategies a pairing may name

    summary["learning_against_fixed"] = {}
    for pair, records in sorted(runs.items()):
        kinds = records[0]["pair"]
        fixed_seats = [i for i, k in enumerate(kinds) if k in FIXED]
        if len(fixed_seats) != 1:
            continue
        seat = 1 - fixed_seats[0]
        ev = [r["evaluation"] for r in records]
        mine = interval([e["pair"]["reward_per_step"][seat] for e in ev])
        theirs = interval([e["pair"]["reward_per_step"][1 - seat] for e in ev])
        gap = interval([e["pair"]["reward_per_step"][seat] - sum(e["greedy_vs_greedy"]["reward_per_step"]) / 2
                        for e in ev])
        summary["learning_against_fixed"][pair] = {"seat": seat, "seeds": [r["seed"] for r in records],
                                                   "learner": mine, "opponent": theirs, "minus_greedy_vs_greedy": gap}
        lines.append(f"| {pair} | {kinds[1 - seat]} | player_{seat} | {[r['seed'] for r in records]} | {fmt(mine)} "
                     f"| {fmt(theirs)} | {fmt(gap)} |")
    return lines


def reference_strategies(summary: dict[str, Any], episodes: int = 1000) -> list[str]:
    """Fixed strategies and the shipped trained agents (lola_agents/checkpoints/coin, played
    frozen) against greedy on the fast preset's game (50 steps), both seats, with
    :func:`lola_agents.evaluation.retaliation` of the agent in seat 0: what a reciprocal
    strategy (coin-game tit-for-tat) and a polite one (own-coin-only) score, and where the
    trained agents stand."""
    from benchmarks.coin_lola import EVAL_SEED
    from lola_agents.agents import load_agent
    from lola_agents.bench.suites import SHIPPED_COIN, shipped_checkpoint_dir
    from lola_agents.coin_lola import preset
    from lola_agents.evaluation import evaluate
    from lola_agents.fixed import GreedyCoinAgent, OwnCoinAgent, TitForTatCoinAgent

    env = preset("fast").env_kwargs()
    players: dict[str, Any] = {
        "TitForTatCoinAgent (3 steps)": lambda seat: TitForTatCoinAgent(seed=3),
        "TitForTatCoinAgent (1 step)": lambda seat: TitForTatCoinAgent(1, seed=3),
        "OwnCoinAgent": lambda seat: OwnCoinAgent(seed=3),
        "GreedyCoinAgent": lambda seat: GreedyCoinAgent(seed=3),
    }
    for _, folder in SHIPPED_COIN:
        if (shipped_checkpoint_dir(folder) / "player_0").is_dir():
            players[f"shipped {folder}"] = lambda seat, folder=folder: load_agent(
                str(shipped_checkpoint_dir(folder) / f"player_{seat}"))
    lines = ["", f"## Fixed strategies and shipped agents (frozen) against greedy ({episodes} episodes of "
             f"{env['max_cycles']} steps)", "",
             "| agent | vs greedy as player_0 | vs greedy as player_1 | takes greedy's coin after a theft / otherwise "
             "| with itself: reward/step (own-coin rate) |", "|---|---|---|---|---|"]
    summary["reference_strategies"] = {}
    for name, make in players.items():
        as_0 = evaluate("coin_game_v0", make(0), GreedyCoinAgent(seed=4), episodes=episodes, seed=EVAL_SEED, **env)
        as_1 = evaluate("coin_game_v0", GreedyCoinAgent(seed=4), make(1), episodes=episodes, seed=EVAL_SEED, **env)
        pair = evaluate("coin_game_v0", make(0), make(1), episodes=episodes, seed=EVAL_SEED, **env)
        row = {"vs_greedy_as_player_0": as_0["reward_per_step"][0], "vs_greedy_as_player_1": as_1["reward_per_step"][1],
               "takes_other_coin_after_theft": as_0["player_0"]["takes_other_coin_after_theft"],
               "takes_other_coin_otherwise": as_0["player_0"]["takes_other_coin_otherwise"],
               "with_itself_reward_per_step": pair["reward_per_step"], "with_itself_own_coin_rate": pair["own_coin_rate"]}
        summary["reference_strategies"][name] = row
        lines.append(f"| {name} | {row['vs_greedy_as_player_0']:.3f} | {row['vs_greedy_as_player_1']:.3f} | "
                     f"{row['takes_other_coin_after_theft']:.2f} / {row['takes_other_coin_otherwise']:.2f} | "
                     f"{sum(pair['reward_per_step']) / 2:.3f} ({pair['own_coin_rate']:.3f}) |")
    return lines


def plot(runs: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Own-coin rate and mean reward per step of the training batches, mean over seeds (band: min-max)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for pair, records in sorted(runs.items()):
        if pair not in LABELS:  # the figure shows the four main pairings
            continue
        length = min(len(r["curve"]) for r in records)
        updates = np.arange(1, length + 1)
        own = np.array([[c["own_coin_rate"] for c in r["curve"][:length]] for r in records])
        reward = np.array([[sum(c["reward_per_step"]) / 2 for c in r["curve"][:length]] for r in records])
        label = f"{LABELS.get(pair, pair)} ({len(records)} seeds)"
        for ax, values in ((axes[0], own), (axes[1], reward)):
            line = ax.plot(updates, values.mean(0), label=label)[0]
            ax.fill_between(updates, values.min(0), values.max(0), color=line.get_color(), alpha=0.15)
    axes[0].set_ylabel("own-coin rate (training batches)")
    axes[1].set_ylabel("reward per step, mean of both agents")
    for ax in axes:
        ax.set_xlabel("update (1024 games x 50 steps)")
        ax.grid(alpha=0.3)
    axes[0].axhline(0.5, color="grey", lw=0.8, ls=":")
    axes[1].axhline(0.0, color="grey", lw=0.8, ls=":")
    axes[0].legend(fontsize=8)
    fig.suptitle("Coin game, fast preset: mean over seeds, band = min..max")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
