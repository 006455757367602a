"""Peak memory and time of one coin-game LOLA update, each setting in a fresh process.

    .venv/bin/python -m benchmarks.coin_memory                      # paper batch, paper net
    .venv/bin/python -m benchmarks.coin_memory --games 4000 --steps 150 --chunks 500 0

Each measurement runs in its own subprocess (``resource.getrusage`` peak RSS
is per process and never goes down): build two agents, collect one batch of
``games x steps`` with both policies, then time one ``learn`` of player_0.
Printed per setting: peak RSS after the rollout (batch in memory), peak RSS
after the update, and the update's wall and CPU seconds (CPU time is the
better figure on a shared machine: wall time grows with the load). ``--chunks 0`` is the
full-batch graph (no game slices), for comparison.
Results go to ``benchmarks/results/coin/memory.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "coin" / "memory.json"
GIB = 2**30


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(preset_name: str, method: str, games: int, steps: int, chunk: int, threads: int) -> dict[str, Any]:
    """One update in THIS process; call through :func:`run_child` for a clean peak."""
    import torch

    torch.set_num_threads(threads)
    import coin_game_env
    from lola_agents.coin_lola import CoinLOLAAgent, preset
    from lola_agents.rollout import collect

    setting = preset(preset_name, method=method, chunk_games=chunk)
    agents = [CoinLOLAAgent(setting.agent, seed=s) for s in (0, 1)]
    agents[0].set_opponent(agents[1])
    agents[1].set_opponent(agents[0])
    venv = coin_game_env.make_vec("coin_game_v0", games, seed=0, **{**setting.env_kwargs(), "max_cycles": steps})
    start = time.perf_counter()
    batches = collect(venv, agents, steps)
    rollout_seconds = time.perf_counter() - start
    rss_after_rollout = peak_rss_bytes()
    start, cpu_start = time.perf_counter(), time.process_time()
    agents[0].learn(batches[0], batches[1])
    update_seconds = time.perf_counter() - start
    update_cpu_seconds = time.process_time() - cpu_start
    return {
        "preset": preset_name, "method": method, "network": setting.agent.network,
        "games": games, "steps": steps, "chunk_games": chunk, "threads": threads,
        "rollout_seconds": round(rollout_seconds, 2),
        "update_seconds": round(update_seconds, 2),
        "update_cpu_seconds": round(update_cpu_seconds, 2),
        "peak_rss_after_rollout_gib": round(rss_after_rollout / GIB, 3),
        "peak_rss_gib": round(peak_rss_bytes() / GIB, 3),
    }


def run_child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.coin_memory", "--child", *args],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--method", default=None, help="default: the preset's")
    parser.add_argument("--games", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--chunks", type=int, nargs="+", default=[500])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    if args.method is None:
        from lola_agents.coin_lola import PRESETS

        args.method = PRESETS[args.preset].agent.method
    if args.child:
        print(json.dumps(measure(args.preset, args.method, args.games, args.steps, args.chunks[0], args.threads)))
        return []
    rows = []
    for chunk in args.chunks:
        row = run_child(["--preset", args.preset, "--method", args.method, "--games", str(args.games),
                         "--steps", str(args.steps), "--chunks", str(chunk), "--threads", str(args.threads)])
        rows.append(row)
        print(f"{row['preset']} {row['method']} {row['network']} {row['games']}x{row['steps']} "
              f"chunk_games={row['chunk_games'] or 'all'}: peak RSS {row['peak_rss_gib']:.2f} GiB "
              f"(after rollout {row['peak_rss_after_rollout_gib']:.2f}), update {row['update_seconds']:.1f} s "
              f"wall / {row['update_cpu_seconds']:.1f} s CPU, "
              f"rollout {row['rollout_seconds']:.1f} s", flush=True)
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        old = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
        keys = ("preset", "method", "games", "steps", "chunk_games", "threads")
        kept = [r for r in old if not any(all(r[k] == n[k] for k in keys) for n in rows)]
        RESULTS.write_text(json.dumps(kept + rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
