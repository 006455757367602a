"""Where a LOQA update's time goes: acting (collect, with the past selves) and learning.

    python -m benchmarks.loqa_speed                       # paper batch, draws: per game, 16, 1
    python -m benchmarks.loqa_speed --games 128 --draws 16

For each number of past-self draws per batch it plays ``--repeats`` batches of the
``paper`` preset's learner against its buffer and prints, per update, the CPU seconds of
this process spent collecting and learning (CPU time, which other jobs on the machine
disturb much less than wall time), the wall seconds, and the load average.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

import torch

import coin_game_env
from lola_agents.learners.loqa import PRESETS, loqa_players
from lola_agents.rollout import collect


def measure(games: int, draws: int | None, repeats: int) -> dict[str, float]:
    """CPU and wall seconds per update of collect and learn (the first update is not counted)."""
    setting = replace(PRESETS["paper"], num_envs=games, past_self_draws=draws)
    players = loqa_players(setting, seed=0)
    venv = coin_game_env.make_vec("coin_game_v0", games, seed=0, **setting.env_kwargs())
    totals = {"collect_cpu": 0.0, "learn_cpu": 0.0, "wall": 0.0}
    for repeat in range(repeats + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        batches = collect(venv, players, setting.max_cycles)
        collected = time.process_time()
        players[0].learn(batches[0], batches[1])
        players[1].learn(batches[1], batches[0])
        if repeat:  # the first update warms up allocations
            totals["collect_cpu"] += collected - cpu
            totals["learn_cpu"] += time.process_time() - collected
            totals["wall"] += time.perf_counter() - wall
    return {k: v / repeats for k, v in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=512)
    parser.add_argument("--draws", type=int, nargs="*", default=None, help="default: per game, 16, 1")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for draws in args.draws or [None, 16, 1]:
        label = "per game" if draws is None else str(draws)
        result = measure(args.games, draws, args.repeats)
        print(f"{args.games} games, draws {label}: collect {result['collect_cpu']:.2f} s CPU, "
              f"learn {result['learn_cpu']:.2f} s CPU, {result['wall']:.2f} s wall per update; "
              f"load average {os.getloadavg()[0]:.2f} at {time.strftime('%H:%M:%S', time.gmtime())} UTC")


if __name__ == "__main__":
    main()
