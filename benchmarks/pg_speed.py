"""Updates per second of LOLA-PG and naive PG at the paper's IPD batch (4000 episodes x 150 steps).

    .venv/bin/python -m benchmarks.pg_speed             # 5 timed updates each, after 1 warm-up
    .venv/bin/python -m benchmarks.pg_speed --updates 10 --num-envs 4000

One update = collect the batch of both agents (``rollout.collect`` on the
VecEnv) + ``learn`` of both agents, exactly what ``lola_agents.trainer.train``
does per update. Both wall-clock and process CPU time are reported: the
machine's 2 cores are shared, so CPU time is the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import coin_game_env
from lola_agents.pg import LOLAPGAgent, NaivePGAgent
from lola_agents.rollout import collect


def time_updates(learner: type, num_envs: int, steps: int, updates: int) -> dict[str, float]:
    """Seconds per update (wall and CPU) of a self-play pair of ``learner``, split into collect/learn."""
    agents = [learner(seed=0), learner(seed=1)]
    for me, other in ((agents[0], agents[1]), (agents[1], agents[0])):
        if hasattr(me, "set_opponent"):
            me.set_opponent(other)
    env = coin_game_env.make_vec("ipd_v0", num_envs, seed=0, max_cycles=steps)

    def one_update() -> tuple[float, float]:
        start = time.perf_counter()
        batches = collect(env, agents, steps)
        collected = time.perf_counter()
        for i, agent in enumerate(agents):
            agent.learn(batches[i], batches[1 - i])
        return collected - start, time.perf_counter() - collected

    one_update()  # warm-up
    wall0, cpu0 = time.perf_counter(), time.process_time()
    parts = [one_update() for _ in range(updates)]
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "updates_per_s_wall": updates / wall,
        "updates_per_s_cpu": updates / cpu,
        "collect_s": sum(p[0] for p in parts) / updates,
        "learn_s": sum(p[1] for p in parts) / updates,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-envs", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {}
    for name, learner in (("NL-PG", NaivePGAgent), ("LOLA-PG", LOLAPGAgent)):
        results[name] = time_updates(learner, args.num_envs, args.steps, args.updates)
        r = results[name]
        print(
            f"{name:8s} {r['updates_per_s_wall']:.2f} updates/s wall, {r['updates_per_s_cpu']:.2f} "
            f"updates/s CPU  (collect {r['collect_s']:.3f}s + learn both agents {r['learn_s']:.3f}s "
            f"per update; {args.num_envs} episodes x {args.steps} steps)"
        )
    ratio_wall = results["LOLA-PG"]["updates_per_s_wall"] / results["NL-PG"]["updates_per_s_wall"]
    ratio_cpu = results["LOLA-PG"]["updates_per_s_cpu"] / results["NL-PG"]["updates_per_s_cpu"]
    print(f"ratio LOLA-PG / NL-PG updates/s: {ratio_wall:.2f} wall, {ratio_cpu:.2f} CPU")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({**results, "ratio_wall": ratio_wall, "ratio_cpu": ratio_cpu,
                                        "num_envs": args.num_envs, "steps": args.steps}, indent=1))


if __name__ == "__main__":
    main()
