"""Where a LOQA update's time goes: acting (collect, with the past selves) and learning.

    python -m benchmarks.loqa_speed                       # paper batch, draws: per game, 16, 1
    python -m benchmarks.loqa_speed --games 128 --draws 16
    python -m benchmarks.loqa_speed --games 128 --draws 16 --compare-vmap

For each number of past-self draws per batch it plays ``--repeats`` batches of the
``paper`` preset's learner against its buffer and prints, per update, the CPU seconds of
this process spent collecting and learning (CPU time, which other jobs on the machine
disturb much less than wall time), the wall seconds, and the load average. With
``--compare-vmap`` each setting is measured twice, alternating, in one run: the past
selves acting through the GRU's stacked step (the default) and through ``torch.func.vmap``
(the generic path, same bits), and the ratio of their collect times is printed.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from unittest.mock import patch

import torch

import coin_game_env
from lola_agents.learners.loqa import PRESETS, loqa_players
from lola_agents.policies.gru import CoinGRU
from lola_agents.rollout import collect


def measure(games: int, draws: int | None, repeats: int, stacked_step: bool = True) -> dict[str, float]:
    """CPU and wall seconds per update of collect and learn (the first update is not counted);
    ``stacked_step=False`` makes the past selves act through vmap."""
    with patch.object(CoinGRU, "stacked_step", stacked_step):  # restored on exit, even on an error
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
    parser.add_argument("--compare-vmap", action="store_true", help="also measure the past selves through vmap")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for draws in args.draws or [None, 16, 1]:
        label = "per game" if draws is None else str(draws)
        paths = [True, False] if args.compare_vmap else [True]
        collect_cpu = {path: 0.0 for path in paths}
        for _ in range(2 if args.compare_vmap else 1):  # alternate, so load drifts hit both
            for path in paths:
                result = measure(args.games, draws, args.repeats, stacked_step=path)
                collect_cpu[path] += result["collect_cpu"]
                print(f"{args.games} games, draws {label}, past selves via {'stacked step' if path else 'vmap'}: "
                      f"collect {result['collect_cpu']:.2f} s CPU, learn {result['learn_cpu']:.2f} s CPU, "
                      f"{result['wall']:.2f} s wall per update; load average {os.getloadavg()[0]:.2f} at "
                      f"{time.strftime('%H:%M:%S', time.gmtime())} UTC")
        if args.compare_vmap:
            print(f"  collect CPU, vmap / stacked step: {collect_cpu[False] / collect_cpu[True]:.2f}")


if __name__ == "__main__":
    main()
