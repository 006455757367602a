"""Environment throughput: game-steps per second of the ParallelEnv and the vector form.

    python -m benchmarks.env_throughput            # all ids in ENV_IDS
    python -m benchmarks.env_throughput --quick    # shorter runs
    python -m benchmarks.env_throughput --env ipd_v0

Random actions are drawn before timing (their cost is not counted); the
observation of every step is built, as a learner would need it. A "step" is
one step of one game, so the vector form at N games counts N per call.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np

import coin_game_env

ENV_IDS = ["ipd_v0", "imp_v0", "coin_game_v0"]
VECTOR_SIZES = [1, 100, 1_000, 10_000]
TARGETS = {  # steps/s wanted on the project's 2-core machine
    ("ipd_v0", "parallel"): 100_000,
    ("imp_v0", "parallel"): 100_000,
    ("ipd_v0", 10_000): 20_000_000,
    ("imp_v0", 10_000): 20_000_000,
    ("coin_game_v0", "parallel"): 50_000,
    ("coin_game_v0", 10_000): 12_000_000,
}


def parallel_env_rate(env_id: str, seconds: float, clock: Callable[[], float] = time.perf_counter) -> float:
    """Steps/s of the PettingZoo ParallelEnv playing one game with random actions."""
    env = coin_game_env.make(env_id)
    env.reset(seed=0)
    n = env.action_space(env.possible_agents[0]).n
    rng = np.random.default_rng(0)
    chunk = 10_000
    actions = [
        {agent: np.int64(a) for agent, a in zip(env.possible_agents, row, strict=True)}
        for row in rng.integers(0, n, size=(chunk, len(env.possible_agents)))
    ]
    steps, start = 0, clock()
    while clock() - start < seconds:
        for action in actions:
            env.step(action)
            if not env.agents:
                env.reset()
        steps += chunk
    return steps / (clock() - start)


def vector_env_rate(
    env_id: str, num_envs: int, seconds: float, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Game-steps/s of ``make_vec(env_id, num_envs)`` with random actions."""
    venv = coin_game_env.make_vec(env_id, num_envs, seed=0)
    venv.reset()
    n = venv.action_space.n
    rng = np.random.default_rng(0)
    pool = rng.integers(0, n, size=(16, num_envs, venv.num_agents), dtype=np.int64)
    calls, start = 0, clock()
    while clock() - start < seconds:
        for actions in pool:
            venv.step(actions)
        calls += len(pool)
    return calls * num_envs / (clock() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", action="append", help="env id (repeatable); default: all")
    parser.add_argument("--quick", action="store_true", help="0.3 s per measurement instead of 2 s")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: elapsed time (default); cpu: this process's CPU time, less "
        "distorted when other jobs share the cores",
    )
    args = parser.parse_args(argv)
    env_ids = args.env or ENV_IDS
    seconds = 0.3 if args.quick else 2.0
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    print(f"clock: {args.clock}; load average (1, 5, 15 min): {load}")
    print(f"{'env':<14} {'form':<18} {'steps/s':>14} {'target':>12}")
    for env_id in env_ids:
        rows = [("parallel", "ParallelEnv", parallel_env_rate(env_id, seconds, clock))]
        for size in VECTOR_SIZES:
            rows.append((size, f"vector x{size}", vector_env_rate(env_id, size, seconds, clock)))
        for key, label, rate in rows:
            target = TARGETS.get((env_id, key))
            verdict = "" if target is None else f">= {target:,} {'met' if rate >= target else 'MISSED'}"
            print(f"{env_id:<14} {label:<18} {rate:>14,.0f} {verdict:>12}")


if __name__ == "__main__":
    main()
