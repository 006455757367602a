"""Train two coin-game agents with the shared trainer; record curves and head-to-head scores.

    .venv/bin/python -m benchmarks.coin_lola --preset fast --pair lola-lola --seed 0
    .venv/bin/python -m benchmarks.coin_lola --preset fast --pair nl-nl --seed 0

Agents: ``lola`` (the preset's learner, LOLA-DiCE for ``fast``, LOLA-PG for
``paper``), ``lola_pg``, ``lola_dice``, ``nl`` (naive), ``om`` (LOLA-OM with the
preset's rule), ``aa`` (advantage alignment, the learner of the ``adalign`` preset), ``ippo`` (lola_agents.ppo, SB3 PPO on the same batches) and
the fixed ``greedy``, ``own`` (own-coin only), ``random``.

Writes ``benchmarks/results/coin/<preset>_<pair>_seed<k>.json``: the command,
settings, one row per update (own-coin rate and reward per step of each seat,
wall time) and, at the end, evaluations over 1000 fresh episodes: the pair
itself, each learner against greedy and own-coin-only in both seats, and
greedy vs greedy. Checkpoints go to ``runs/coin/...`` (not committed).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from lola_agents.agents import make_agent as make_named_agent
from lola_agents.coin_lola import ADVANTAGE_ALIGNMENT, CoinLOLAAgent, preset
from lola_agents.evaluation import evaluate, joint_own_coin_rate
from lola_agents.fixed import GreedyCoinAgent, OwnCoinAgent
from lola_agents.population import with_greedy_stand_ins, with_past_self_stand_ins
from lola_agents.ppo import PPOAgent, PPOConfig
from lola_agents.trainer import train

RESULTS = Path(__file__).resolve().parent / "results" / "coin"
LEARNERS = {
    "lola": {},
    "lola_pg": {"method": "lola_pg"},
    "lola_dice": {"method": "lola_dice"},
    "lola_ps": {"method": "lola_dice", "lookahead_space": "policy"},
    "nl": {"method": "naive"},
    "om": {"opponent_model": True},
    "aa": ADVANTAGE_ALIGNMENT,  # the "adalign" preset's learner
}
# Fixed strategies by their names in lola_agents.agents.AGENTS ("own", "random": aliases).
FIXED = {name: type(make_named_agent(name)) for name in ("greedy", "own", "random")}
# Independent PPO on the same batches: SB3's defaults except one update per batch of
# whole episodes, minibatches of 2048 and 4 epochs (51,200 samples per batch on 2 cores).
IPPO_CONFIG = {"batch_size": 2048, "n_epochs": 4}
EVAL_EPISODES = 1000
EVAL_SEED = 12345


class CoinMetrics:
    """Wraps a learner that does not log the own-coin rate (IPPO) so the curve has it."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.name = "IPPO"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.agent, name)

    def initial_state(self, num_envs: int) -> Any:
        return self.agent.initial_state(num_envs)

    def act(self, obs: Any, state: Any, episode_starts: Any) -> Any:
        return self.agent.act(obs, state, episode_starts)

    def learn(self, batch: Any, opponent_batch: Any) -> dict[str, float]:
        logs = dict(self.agent.learn(batch, opponent_batch) or {})
        logs["own_coin_rate"] = joint_own_coin_rate([batch, opponent_batch])
        return logs


def make_agent(kind: str, preset_name: str, seed: int, overrides: dict[str, Any]) -> Any:
    """A learner of ``kind`` built from the preset (plus overrides), or a fixed strategy."""
    if kind in FIXED:
        return make_named_agent(kind, seed=seed)
    if kind == "ippo":
        setting = preset(preset_name)
        config = PPOConfig(n_steps=setting.max_cycles, seed=seed, **IPPO_CONFIG)
        return CoinMetrics(PPOAgent.for_env("coin_game_v0", setting.num_envs, config, **setting.env_kwargs()))
    if kind not in LEARNERS:
        raise ValueError(f"unknown agent {kind!r}; known: {sorted(LEARNERS) + sorted(FIXED)}")
    config = preset(preset_name, **{**LEARNERS[kind], **overrides}).agent
    return CoinLOLAAgent(config, seed=seed)


def head_to_head(agents: list[Any], env_options: dict[str, Any]) -> dict[str, Any]:
    """Evaluations of the trained pair, each learner vs greedy / own-coin-only in both seats."""
    def score(a: Any, b: Any) -> dict[str, Any]:
        r = evaluate("coin_game_v0", a, b, episodes=EVAL_EPISODES, seed=EVAL_SEED, **env_options)
        return {"reward_per_step": r["reward_per_step"], "own_coin_rate": r["own_coin_rate"],
                "own_coin_rate_by_seat": [r["player_0"]["own_coin_rate"], r["player_1"]["own_coin_rate"]],
                "pickups_per_step": r["pickups_per_step"],
                # evaluation.retaliation per seat: [after a theft, otherwise]
                "takes_other_coin": [[r[f"player_{i}"].get("takes_other_coin_after_theft"),
                                      r[f"player_{i}"].get("takes_other_coin_otherwise")] for i in (0, 1)]}

    out: dict[str, Any] = {"pair": score(agents[0], agents[1])}
    out["greedy_vs_greedy"] = score(GreedyCoinAgent(seed=1), GreedyCoinAgent(seed=2))
    for seat, agent in enumerate(agents):
        if not isinstance(agent, CoinLOLAAgent | CoinMetrics):
            continue
        # CoinLOLAAgent reads canonical planes, so it can take either seat; IPPO keeps its own.
        seats = (0, 1) if isinstance(agent, CoinLOLAAgent) else (seat,)
        for name, cls in (("greedy", GreedyCoinAgent), ("own", OwnCoinAgent)):
            if 0 in seats:
                out[f"player_{seat}_vs_{name}_as_player_0"] = score(agent, cls(seed=3))
            if 1 in seats:
                out[f"player_{seat}_vs_{name}_as_player_1"] = score(cls(seed=3), agent)
        if hasattr(agent, "assign_seat"):
            agent.assign_seat(seat)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--pair", default="lola-lola", help="two agent kinds joined by '-'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--updates", type=int, default=None, help="default: the preset's")
    parser.add_argument("--num-envs", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", nargs="*", default=[], help="learner overrides key=value (JSON values)")
    parser.add_argument("--tag", default="", help="suffix of the result file name")
    parser.add_argument("--greedy-fraction", type=float, default=0.0,
                        help="population training: greedy takes each seat in this share of the games "
                             "(lola_agents.population); adds _greedy<F> to the result name")
    parser.add_argument("--past-self-fraction", type=float, default=0.0,
                        help="population training: a past version of each learner (a pool of snapshots, "
                             "lola_agents.population.PastSelves) takes its seat in this share of the games; "
                             "adds _past<F> to the result name")
    parser.add_argument("--past-self-every", type=int, default=10, help="updates between snapshots")
    parser.add_argument("--past-self-size", type=int, default=20, help="snapshots kept")
    parser.add_argument("--no-shaping-vs-greedy", action="store_true",
                        help="with --greedy-fraction: each learner drops its shaping term in its games "
                             "against greedy, which takes no learning step (adds _naivevsgreedy)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    setting = preset(args.preset, **overrides)
    updates = args.updates or setting.updates
    num_envs = args.num_envs or setting.num_envs
    kinds = args.pair.split("-")
    if len(kinds) != 2:
        raise ValueError(f"--pair needs two agents joined by '-', got {args.pair!r}")
    agents = [make_agent(k, args.preset, 2 * args.seed + i, overrides) for i, k in enumerate(kinds)]
    if args.no_shaping_vs_greedy and not args.greedy_fraction:
        raise ValueError("--no-shaping-vs-greedy needs --greedy-fraction > 0")
    greedy_tag = f"_greedy{args.greedy_fraction}" if args.greedy_fraction else ""
    greedy_tag += "_naivevsgreedy" if args.no_shaping_vs_greedy else ""
    greedy_tag += f"_past{args.past_self_fraction}" if args.past_self_fraction else ""
    name = f"{args.preset}_{args.pair}_seed{args.seed}{greedy_tag}{args.tag}"
    if args.greedy_fraction and args.past_self_fraction:
        raise ValueError("use one of --greedy-fraction and --past-self-fraction")
    if args.past_self_fraction:
        if any(k not in LEARNERS for k in kinds):
            raise ValueError(f"--past-self-fraction needs two coin-game learners {sorted(LEARNERS)}, got {kinds}")
        players = with_past_self_stand_ins(agents, num_envs, args.past_self_fraction, args.past_self_every,
                                           args.past_self_size, seed=1000 + args.seed)
    elif args.greedy_fraction:
        players = with_greedy_stand_ins(agents, num_envs, args.greedy_fraction, seed=1000 + args.seed,
                                        mark_fixed_opponents=args.no_shaping_vs_greedy)
    else:
        players = agents
    args.out.mkdir(parents=True, exist_ok=True)
    out_file = args.out / f"{name}.json"
    record: dict[str, Any] = {
        "command": "python -m benchmarks.coin_lola " + " ".join(sys.argv[1:] if argv is None else argv),
        "preset": args.preset,
        "pair": kinds,
        "names": [getattr(a, "name", type(a).__name__) for a in agents],
        "seed": args.seed,
        "updates": updates,
        "num_envs": num_envs,
        "env_options": setting.env_kwargs(),
        "agent_configs": [a.config() if isinstance(a, CoinLOLAAgent) else None for a in agents],
        "threads": args.threads,
        "greedy_fraction": args.greedy_fraction,
        "no_shaping_vs_greedy": args.no_shaping_vs_greedy,
        "past_self": {"fraction": args.past_self_fraction, "every": args.past_self_every,
                      "size": args.past_self_size} if args.past_self_fraction else None,
        "curve": [],
    }
    start = time.perf_counter()

    def on_update(update: int, row: dict[str, float]) -> None:
        own = next((row[k] for k in ("agent0/own_coin_rate", "agent1/own_coin_rate") if k in row), math.nan)
        record["curve"].append({
            "update": update, "seconds": round(time.perf_counter() - start, 2),
            "own_coin_rate": own, "reward_per_step": [row["reward_0"], row["reward_1"]],
        })
        if update % 10 == 0 or update == updates:
            out_file.write_text(json.dumps(record, indent=1, allow_nan=True))
            print(f"{name} update {update} {record['curve'][-1]}", flush=True)

    train(
        "coin_game_v0", players[0], players[1], updates=updates,
        steps_per_update=setting.max_cycles, num_envs=num_envs, seed=args.seed,
        log_dir=Path("runs/coin") / name, checkpoint_every=0 if "ippo" in kinds else 25,
        resume="ippo" not in kinds,
        progress=False, env_options=setting.env_kwargs(), on_update=on_update,
    )
    record["train_seconds"] = round(time.perf_counter() - start, 1)
    for i, agent in enumerate(agents):  # final agents for cross-play (runs/, not committed)
        inner = agent.agent if isinstance(agent, CoinMetrics) else agent
        if hasattr(inner, "save") and not isinstance(inner, tuple(FIXED.values())):
            inner.save(Path("runs/coin") / name / "final" / f"player_{i}")
    last = record["curve"][-max(1, updates // 10):]
    record["final_training"] = {
        "own_coin_rate": sum(r["own_coin_rate"] for r in last) / len(last),
        "reward_per_step": [sum(r["reward_per_step"][i] for r in last) / len(last) for i in (0, 1)],
        "over_updates": len(last),
    }
    record["evaluation"] = head_to_head(agents, setting.env_kwargs())
    out_file.write_text(json.dumps(record, indent=1, allow_nan=True))
    print(json.dumps({"final_training": record["final_training"], "pair": record["evaluation"]["pair"]}))
    return record


if __name__ == "__main__":
    main()
