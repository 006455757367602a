"""What makes a coin-game LOLA update fast here: measured choices, CPU seconds per call.

    .venv/bin/python -m benchmarks.coin_speed

1. One fast-preset LOLA-DiCE ``learn`` (1024 games x 50 steps, MLP) with 1 and
   2 torch threads (each in a fresh process, so the thread count takes effect).
2. The paper network's second-order pass (forward, gradient with
   ``create_graph``, Hessian-vector product) on 100 games x 150 steps, with the
   convolutions as dense matrices (``CircularConv3x3``, used) and as
   ``nn.Conv2d`` with circular padding (the obvious alternative).

CPU seconds (``time.process_time``) are reported next to wall seconds: on a
machine shared with other jobs the wall time mostly measures the load.
Results go to ``benchmarks/results/coin/speed.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "coin" / "speed.json"


def timed(fn: Any, repeats: int) -> dict[str, float]:
    fn()  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    return {"wall_seconds": round((time.perf_counter() - wall) / repeats, 3),
            "cpu_seconds": round((time.process_time() - cpu) / repeats, 3)}


def fast_learn(threads: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    import coin_game_env
    from lola_agents.coin_lola import CoinLOLAAgent, preset
    from lola_agents.rollout import collect

    setting = preset("fast")
    agents = [CoinLOLAAgent(setting.agent, seed=s) for s in (0, 1)]
    agents[0].set_opponent(agents[1])
    agents[1].set_opponent(agents[0])
    venv = coin_game_env.make_vec("coin_game_v0", setting.num_envs, seed=0, **setting.env_kwargs())
    batches = collect(venv, agents, setting.max_cycles)
    rollout = timed(lambda: collect(venv, agents, setting.max_cycles), 2)
    learn = timed(lambda: agents[0].learn(batches[0], batches[1]), 3)
    return {"what": f"fast preset LOLA-DiCE learn, {threads} thread(s)", **learn,
            "rollout_wall_seconds": rollout["wall_seconds"], "rollout_cpu_seconds": rollout["cpu_seconds"]}


def conv_second_order(kind: str) -> dict[str, Any]:
    import torch
    from torch import nn
    from torch.func import functional_call

    from lola_agents.coin_policies import CoinConvGRU

    torch.set_num_threads(1)
    net = CoinConvGRU()
    if kind == "conv2d":
        net.conv = nn.Sequential(
            nn.Conv2d(4, 20, 3, padding=1, padding_mode="circular"), nn.ReLU(),
            nn.Conv2d(20, 20, 3, padding=1, padding_mode="circular"), nn.ReLU(), nn.Flatten())
    steps, games = 150, 100
    obs = torch.zeros(steps, games, 4, 3, 3)
    obs[:, :, 0, 0, 0] = 1.0
    starts = torch.zeros(steps, games, dtype=torch.bool)
    starts[0] = True
    params = {k: v.detach().requires_grad_(True) for k, v in net.named_parameters()}

    def second_order() -> None:
        out = functional_call(net, params, (obs, starts))
        grads = torch.autograd.grad(out.pow(2).mean(), list(params.values()), create_graph=True)
        torch.autograd.grad(sum((g * g).sum() for g in grads), list(params.values()))

    return {"what": f"paper net second-order pass, 100x150, convolutions as {kind}", **timed(second_order, 2)}


def main() -> list[dict[str, Any]]:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind = sys.argv[2]
        row = fast_learn(int(kind[len("fast"):])) if kind.startswith("fast") else conv_second_order(kind)
        print(json.dumps(row))
        return [row]
    rows = []
    for kind in ("fast1", "fast2", "dense", "conv2d"):
        out = subprocess.run([sys.executable, "-m", "benchmarks.coin_speed", "--child", kind],
                             capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{row['what']}: {row['cpu_seconds']:.2f} s CPU, {row['wall_seconds']:.2f} s wall", flush=True)
    load = os.getloadavg()[0]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"load_average_1min": load, "rows": rows}, indent=1))
    print(f"load average {load:.1f}")
    return rows


if __name__ == "__main__":
    main()
