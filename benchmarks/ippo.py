"""Recorded PPO baselines: Independent PPO (IPPO) and parameter-shared PPO, 5 seeds each.

    python -m benchmarks.ippo                       # every suite, 5 seeds -> benchmarks/results/ippo/
    python -m benchmarks.ippo --suites ipd_ippo_vs_tft --seeds 2
    python -m benchmarks.ippo --quick               # smoke run (tiny budgets, not recorded)
    python -m benchmarks.ippo --suites coin_ippo_vs_ippo_long --seeds 2 --out benchmarks/results/ippo/coin_long

Suites (player_0 is the learner named first):

* ``ipd_ippo_vs_ippo`` - two independent PPO agents on ipd_v0 (paper: mutual
  defection, reward per step near -2);
* ``ipd_ippo_vs_tft`` / ``ipd_ippo_vs_alld`` - one PPO agent against tit-for-tat /
  always-defect;
* ``coin_ippo_vs_ippo`` - two independent PPO agents on coin_game_v0 (paper:
  selfish play, own-coin rate near 0.5 or below);
* ``coin_shared_ppo`` - one shared PPO policy (SuperSuit + SB3 learn) on the
  coin game with egocentric planes.

After training, each run is evaluated with :func:`lola_agents.evaluation.evaluate`
on fresh episodes (``EVAL_EPISODES`` games, seed ``10_000 + seed``). Results
(per seed, mean and std over seeds, budgets, wall time) go to ``results.json``
and ``results.md``; numbers are whatever came out.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from lola_agents.evaluation import evaluate
from lola_agents.fixed import AlwaysDefect, TitForTat
from lola_agents.metrics import finite_values, mean_and_std
from lola_agents.ppo import PPOAgent, PPOConfig, agent_seeds, make_ippo, train
from lola_agents.shared_ppo import train_shared_ppo

RESULTS_DIR = Path(__file__).parent / "results" / "ippo"
EVAL_EPISODES = 64


@dataclass
class Suite:
    """One benchmark: a game, who plays whom, the training budget and the PPO settings."""

    name: str
    env_id: str
    opponent: str  # "ippo", "tft", "alld" or "shared" (one policy in both seats)
    num_envs: int
    updates: int
    config: PPOConfig
    expectation: str
    env_options: dict[str, Any] = field(default_factory=dict)

    @property
    def game_steps(self) -> int:
        return self.updates * self.config.n_steps * self.num_envs


# Budgets are sized so all five suites x 5 seeds take ~15 minutes on 2 busy cores.
# batch_size is larger than SB3's 64 (fewer, bigger minibatches) for the same reason;
# everything else is PPOConfig's default (SB3's, with n_steps=150 and gamma=0.96).
IPD_CONFIG = PPOConfig(batch_size=480)
COIN_CONFIG = PPOConfig(batch_size=600)

SUITES: dict[str, Suite] = {
    s.name: s
    for s in [
        Suite("ipd_ippo_vs_ippo", "ipd_v0", "ippo", 16, 20, IPD_CONFIG,
              "paper: mutual defection, reward per step near -2"),
        Suite("ipd_ippo_vs_tft", "ipd_v0", "tft", 16, 20, IPD_CONFIG,
              "best reply to TFT at gamma 0.96 is to cooperate (-1 per step)"),
        Suite("ipd_ippo_vs_alld", "ipd_v0", "alld", 16, 20, IPD_CONFIG,
              "best reply to AllD is to defect (-2 per step)"),
        Suite("coin_ippo_vs_ippo", "coin_game_v0", "ippo", 32, 40, COIN_CONFIG,
              "paper: selfish play, own-coin rate near 0.5 or below"),
        Suite("coin_shared_ppo", "coin_game_v0", "shared", 32, 40, COIN_CONFIG,
              "a shared policy (egocentric planes); no paper figure",
              {"egocentric": True}),
        # Supplementary, not in the default run: 5x the coin budget, to see where IPPO drifts.
        Suite("coin_ippo_vs_ippo_long", "coin_game_v0", "ippo", 32, 200, COIN_CONFIG,
              "paper: selfish play, own-coin rate near 0.5 or below"),
    ]
}
DEFAULT_SUITES = [name for name in SUITES if not name.endswith("_long")]


def _fixed(name: str) -> Callable[[int], Any]:
    return {"tft": TitForTat, "alld": AlwaysDefect}[name]


def run_one(suite: Suite, seed: int) -> dict[str, Any]:
    """Train and evaluate one seed of ``suite``; returns metrics and timings."""
    torch.set_num_threads(1)
    start = time.time()
    if suite.opponent == "shared":
        agent, info = train_shared_ppo(
            suite.env_id, suite.game_steps, suite.num_envs, seed=seed, config=suite.config,
            **suite.env_options,
        )
        agents: list[Any] = [agent, agent]
        history = None
    else:
        if suite.opponent == "ippo":
            agents = make_ippo(suite.env_id, suite.num_envs, seed, suite.config, **suite.env_options)
        else:
            cfg = PPOConfig(**{**asdict(suite.config), "seed": agent_seeds(seed)[0]})
            learner = PPOAgent.for_env(suite.env_id, suite.num_envs, cfg, **suite.env_options)
            agents = [learner, _fixed(suite.opponent)(seed=seed)]
        history = train(suite.env_id, agents, suite.game_steps, suite.num_envs, seed=seed,
                        **suite.env_options)
    train_seconds = time.time() - start
    result = evaluate(suite.env_id, agents[0], agents[1], EVAL_EPISODES, seed=10_000 + seed,
                      **suite.env_options)
    result["train_seconds"] = train_seconds
    result["game_steps"] = suite.game_steps
    if history is not None:  # reward per step of the training batches, every 5th update
        result["training_curve"] = [
            {"steps": h["steps"], "reward_per_step": h["reward_per_step"]} for h in history[::5]
        ]
    return result


def _mean_std(values: list[float | None]) -> tuple[float, float]:
    """Mean and population std of the finite values (:func:`lola_agents.metrics.mean_and_std`)."""
    return mean_and_std(finite_values(values))


def summarize(suite: Suite, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and std over seeds of the headline metrics of one suite."""
    summary: dict[str, Any] = {}
    for i in (0, 1):
        summary[f"reward_per_step_{i}"] = _mean_std([r["reward_per_step"][i] for r in runs])
    if suite.env_id.startswith("coin_game"):
        summary["own_coin_rate"] = _mean_std([r["own_coin_rate"] for r in runs])
        summary["pickups_per_step"] = _mean_std([r["pickups_per_step"] for r in runs])
    else:
        for state in ("start", "CC", "CD", "DC", "DD"):
            summary[f"p_coop_{state}_0"] = _mean_std(
                [r["player_0"]["p_action0"][state] for r in runs]
            )
    summary["train_seconds"] = _mean_std([r["train_seconds"] for r in runs])
    return summary


def _fmt(pair: tuple[float | None, float | None], digits: int = 2, sign: bool = True) -> str:
    mean, std = pair
    if mean is None or math.isnan(mean):
        return "n/a"
    return f"{mean:{'+' if sign else ''}.{digits}f} ± {std:.{digits}f}"


def markdown_table(report: dict[str, Any]) -> str:
    """The results as a markdown document (tables + budgets + command)."""
    lines = [
        "# PPO baselines: Independent PPO and shared-policy PPO",
        "",
        f"Command: `{report['command']}`  ",
        f"Seeds: {report['seeds']}; evaluation: {EVAL_EPISODES} fresh episodes of 150 steps per "
        "seed after training (sampled actions); mean ± std over seeds.  ",
        f"Machine: {report['machine']}; total wall time {report['total_seconds'] / 60:.1f} min.",
        "",
    ]
    envs = {entry["env_id"][:3] for entry in report["suites"].values()}
    if "ipd" in envs:
        lines += [
            "## Iterated prisoner's dilemma (ipd_v0)",
            "",
            "| suite | reward/step player_0 | reward/step player_1 | P(C) of player_0: start / CC / CD / DC / DD | game steps | s/seed | expectation |",
            "|---|---|---|---|---|---|---|",
        ]
    for name, entry in report["suites"].items():
        if not entry["env_id"].startswith("ipd"):
            continue
        s = entry["summary"]
        coop = " / ".join(
            _fmt(s[f"p_coop_{k}_0"], sign=False).split(" ")[0]
            for k in ("start", "CC", "CD", "DC", "DD")
        )
        lines.append(
            f"| {name} | {_fmt(s['reward_per_step_0'])} | {_fmt(s['reward_per_step_1'])} | {coop} | "
            f"{entry['game_steps']:,} | {s['train_seconds'][0]:.0f} | {entry['expectation']} |"
        )
    if "coi" in envs:
        lines += [
            "",
            "## Coin game (coin_game_v0, 3x3, 150 steps)",
            "",
            "| suite | own-coin rate | pickups/step (both) | reward/step player_0 | reward/step player_1 | game steps | s/seed | expectation |",
            "|---|---|---|---|---|---|---|---|",
        ]
    for name, entry in report["suites"].items():
        if not entry["env_id"].startswith("coin"):
            continue
        s = entry["summary"]
        lines.append(
            f"| {name} | {_fmt(s['own_coin_rate'], sign=False)} | {_fmt(s['pickups_per_step'], sign=False)} | "
            f"{_fmt(s['reward_per_step_0'])} | {_fmt(s['reward_per_step_1'])} | "
            f"{entry['game_steps']:,} | {s['train_seconds'][0]:.0f} | {entry['expectation']} |"
        )
    lines += [
        "",
        "Reference points (same evaluation, fixed strategies): greedy vs greedy own-coin 0.50, "
        "about 0 reward each; own-coin agents 1.00, +0.34 each; random vs random 0.23 pickups/step.",
        "",
        "Budgets: " + "; ".join(
            f"{n}: {e['num_envs']} games x 150 steps x {e['updates']} updates"
            for n, e in report["suites"].items()
        ) + ".",
        "PPO settings: SB3 defaults except n_steps=150 (one episode per update), gamma=0.96 "
        "(paper) and batch_size 480 (IPD) / 600 (coin game) for speed; MLP (64, 64) on the "
        "flattened obs (one-hot state for the IPD, 36 plane values for the coin game).",
        "",
    ]
    return "\n".join(lines)


def _json_ready(value: Any) -> Any:
    """NaN -> None (strict JSON), tuples -> lists, recursively."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suites", nargs="*", default=DEFAULT_SUITES, choices=list(SUITES))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny budgets; writes nothing")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--render", action="store_true",
                        help="only rewrite results.md from the recorded results.json")
    args = parser.parse_args(argv)
    if args.render:
        report = json.loads((args.out / "results.json").read_text())
        (args.out / "results.md").write_text(markdown_table(report))
        print(markdown_table(report))
        return
    torch.set_num_threads(1)
    command = "python -m benchmarks.ippo" + (
        "" if args.suites == DEFAULT_SUITES else " --suites " + " ".join(args.suites)
    ) + ("" if args.seeds == 5 else f" --seeds {args.seeds}") + (" --quick" if args.quick else "")
    report: dict[str, Any] = {
        "command": command,
        "seeds": list(range(args.seeds)),
        "machine": f"{platform.machine()}, torch {torch.__version__}, 1 torch thread",
        "suites": {},
    }
    start = time.time()
    for name in args.suites:
        suite = SUITES[name]
        if args.quick:
            suite = Suite(**{**suite.__dict__, "updates": 2, "num_envs": 4})
        runs = []
        for seed in range(args.seeds):
            run = run_one(suite, seed)
            runs.append(run)
            rewards = " / ".join(f"{r:+.3f}" for r in run["reward_per_step"])
            extra = f" own-coin {run['own_coin_rate']}" if "own_coin_rate" in run else ""
            print(f"{name} seed {seed}: reward/step {rewards}{extra} ({run['train_seconds']:.0f} s)",
                  flush=True)
        report["suites"][name] = {
            "env_id": suite.env_id,
            "opponent": suite.opponent,
            "num_envs": suite.num_envs,
            "updates": suite.updates,
            "game_steps": suite.game_steps,
            "ppo_config": asdict(suite.config),
            "env_options": suite.env_options,
            "expectation": suite.expectation,
            "summary": summarize(suite, runs),
            "runs": runs,
        }
    report["total_seconds"] = time.time() - start
    table = markdown_table(report)
    print(table)
    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(_json_ready(report), indent=1))
        (args.out / "results.md").write_text(table)
        print(f"wrote {args.out / 'results.json'} and {args.out / 'results.md'}")


if __name__ == "__main__":
    main()
