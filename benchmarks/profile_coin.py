"""Where a coin-game update spends its time: acting, environment and learning, per learner.

    python -m benchmarks.profile_coin                          # every learner, print the split
    python -m benchmarks.profile_coin --learners AdAlign IPPO --updates 6
    python -m benchmarks.profile_coin --baseline /tmp/old-tree --record after
    python -m benchmarks.profile_coin --learners LOLA-DiCE-PS --cprofile 25

Each learner trains a pair at the main job's (``lola-bench``, quick scale) batch sizes,
through the same loops the job uses:

* LOLA-DiCE, LOLA-DiCE-PS, AdAlign, NL-PG: the coin presets of
  :mod:`lola_agents.learners.coin` (1024 games x 50 steps per update), trained by
  :func:`lola_agents.trainer.train`;
* IPPO: two SB3 PPO agents (:func:`lola_agents.ppo.make_ippo`), 32 games x 50 steps per
  update, trained by :func:`lola_agents.ppo.train`;
* shared PPO: one SB3 PPO on SuperSuit's vector env (:func:`lola_agents.shared_ppo.train_shared_ppo`),
  64 agent slots x 50 steps per update, SB3's own ``learn`` loop.

The methods that act (``agent.act``; SB3's policy forward in shared PPO), step the
games (``VecEnv.step``; SuperSuit's ``step_async``/``step_wait``) and learn
(``agent.learn``; SB3's ``train``) are wrapped with timers; ``other`` is the rest of
an update (rollout buffers, logged metrics). Each update of BOTH agents is split;
the median over ``--updates`` updates after ``--warmup`` is printed, in CPU seconds
(``time.process_time``) and wall seconds, at 1 torch thread. Every learner runs in a
fresh process. CPU seconds are the figure to compare on a shared machine; wall
seconds mostly measure the load, which is printed (``uptime``).

``--baseline DIR`` also runs the same probe on the package in DIR (e.g. an unpacked
``git archive`` of an older commit), interleaved with this tree, and prints the
before/after ratio of each part. ``--record LABEL`` writes the figures to
``benchmarks/results/coin/profile.json`` under LABEL (with ``--note``). ``--cprofile N``
prints the N functions with the most cumulative time (cProfile) of one learner instead.
Figures and what they led to: docs/coin_game_lola.md, "Speed and memory".
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "coin" / "profile.json"
HERE = Path(__file__).resolve().parent.parent
# name -> (preset, method) of the LOLA-family learners (as the coin suite trains them).
COIN_LEARNERS = {
    "AdAlign": ("adalign", "advantage_alignment"),
    "LOLA-DiCE-PS": ("lola_policy", "lola_dice"),
    "LOLA-DiCE": ("fast", "lola_dice"),
    "NL-PG": ("fast", "naive"),
}
LEARNERS = (*COIN_LEARNERS, "IPPO", "shared PPO")
PARTS = ("acting", "env", "learning", "other", "total")
PPO_GAMES, PPO_STEPS, PPO_BATCH = 32, 50, 400  # the coin suite's PPO baselines


class Clock:
    """CPU and wall seconds spent inside wrapped methods, by part, for the current update."""

    def __init__(self) -> None:
        self.cpu = dict.fromkeys(PARTS, 0.0)
        self.wall = dict.fromkeys(PARTS, 0.0)
        self.updates: list[dict[str, dict[str, float]]] = []
        self._mark = (time.process_time(), time.perf_counter())

    def wrap(self, obj: Any, method: str, part: str) -> None:
        """Replace ``obj.method`` (on the instance) by a timed call adding to ``part``."""
        inner = getattr(obj, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            cpu, wall = time.process_time(), time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.cpu[part] += time.process_time() - cpu
                self.wall[part] += time.perf_counter() - wall

        setattr(obj, method, timed)

    def end_update(self) -> None:
        """Close the current update: its total is the time since the previous one ended."""
        cpu, wall = time.process_time(), time.perf_counter()
        self.cpu["total"], self.wall["total"] = cpu - self._mark[0], wall - self._mark[1]
        for clock in (self.cpu, self.wall):
            clock["other"] = clock["total"] - clock["acting"] - clock["env"] - clock["learning"]
        self.updates.append({"cpu": dict(self.cpu), "wall": dict(self.wall)})
        self.cpu, self.wall = dict.fromkeys(PARTS, 0.0), dict.fromkeys(PARTS, 0.0)
        self._mark = (time.process_time(), time.perf_counter())

    def start(self) -> None:
        """Discard what was timed so far (set-up before the first update)."""
        self.cpu, self.wall = dict.fromkeys(PARTS, 0.0), dict.fromkeys(PARTS, 0.0)
        self._mark = (time.process_time(), time.perf_counter())


def _coin_learner(name: str, updates: int, clock: Clock, games: int | None) -> dict[str, Any]:
    import coin_game_env
    from lola_agents.coin_lola import CoinLOLAAgent, preset
    from lola_agents.trainer import train

    preset_name, method = COIN_LEARNERS[name]
    setting = preset(preset_name, method=method)
    games = setting.num_envs if games is None else games
    agents = [CoinLOLAAgent(setting.agent, seed=seat) for seat in (0, 1)]
    venv = coin_game_env.make_vec("coin_game_v0", games, seed=0, **setting.env_kwargs())
    for agent in agents:
        clock.wrap(agent, "act", "acting")
        clock.wrap(agent, "learn", "learning")
    clock.wrap(venv, "step", "env")
    clock.start()
    train(venv, *agents, updates=updates, steps_per_update=setting.max_cycles, seed=0, progress=False,
          on_update=lambda update, row: clock.end_update(), threads=1)
    return {"games": games, "steps": setting.max_cycles}


def _ippo(updates: int, clock: Clock) -> dict[str, Any]:
    import coin_game_env
    from lola_agents.ppo import PPOConfig, make_ippo, train

    config = PPOConfig(n_steps=PPO_STEPS, batch_size=PPO_BATCH)
    agents = make_ippo("coin_game_v0", PPO_GAMES, 0, config, max_cycles=PPO_STEPS)
    for agent in agents:
        clock.wrap(agent, "act", "acting")
        clock.wrap(agent, "learn", "learning")
    make_vec = coin_game_env.make_vec

    def timed_make_vec(*args: Any, **kwargs: Any) -> Any:
        venv = make_vec(*args, **kwargs)
        clock.wrap(venv, "step", "env")
        return venv

    coin_game_env.make_vec = timed_make_vec  # the trainer builds its VecEnv through it
    try:
        clock.start()
        train("coin_game_v0", agents, updates * PPO_GAMES * PPO_STEPS, PPO_GAMES, seed=0,
              callback=lambda *args: clock.end_update(), max_cycles=PPO_STEPS)
    finally:
        coin_game_env.make_vec = make_vec
    return {"games": PPO_GAMES, "steps": PPO_STEPS}


def _shared_ppo(updates: int, clock: Clock) -> dict[str, Any]:
    import torch

    from lola_agents import shared_ppo
    from lola_agents.ppo import PPOConfig

    build, make_env = shared_ppo.build_sb3_ppo, shared_ppo.make_supersuit_vec_env

    def timed_env(*args: Any, **kwargs: Any) -> Any:
        venv = make_env(*args, **kwargs)
        clock.wrap(venv, "step_async", "env")
        clock.wrap(venv, "step_wait", "env")
        return venv

    def timed_build(*args: Any, **kwargs: Any) -> Any:
        model = build(*args, **kwargs)
        clock.wrap(model.policy, "forward", "acting")  # SB3's collect_rollouts calls policy(obs)
        train_step = model.train

        def learn_and_close() -> None:
            cpu, wall = time.process_time(), time.perf_counter()
            train_step()
            clock.cpu["learning"] += time.process_time() - cpu
            clock.wall["learning"] += time.perf_counter() - wall
            clock.end_update()

        model.train = learn_and_close
        clock.start()
        return model

    shared_ppo.build_sb3_ppo, shared_ppo.make_supersuit_vec_env = timed_build, timed_env
    try:
        torch.set_num_threads(1)
        config = PPOConfig(n_steps=PPO_STEPS, batch_size=PPO_BATCH)
        shared_ppo.train_shared_ppo("coin_game_v0", updates * PPO_GAMES * PPO_STEPS, PPO_GAMES, seed=0,
                                    config=config, max_cycles=PPO_STEPS)
    finally:
        shared_ppo.build_sb3_ppo, shared_ppo.make_supersuit_vec_env = build, make_env
    return {"games": PPO_GAMES, "steps": PPO_STEPS, "agent_slots": 2 * PPO_GAMES}


def run_learner(name: str, updates: int, warmup: int, games: int | None = None) -> dict[str, Any]:
    """Train ``name`` for ``warmup + updates`` updates; the median split of the last ``updates``:
    ``{"cpu_s": {part: seconds}, "wall_s": {...}, sizes}`` with parts :data:`PARTS` (per update
    of both agents). ``games`` replaces the coin presets' 1024 games (for a quick check)."""
    import torch

    torch.set_num_threads(1)
    clock = Clock()
    if name in COIN_LEARNERS:
        sizes = _coin_learner(name, warmup + updates, clock, games)
    elif name == "IPPO":
        sizes = _ippo(warmup + updates, clock)
    elif name == "shared PPO":
        sizes = _shared_ppo(warmup + updates, clock)
    else:
        raise ValueError(f"unknown learner {name!r}; known: {list(LEARNERS)}")
    measured = clock.updates[warmup:]
    if len(measured) < updates:
        raise RuntimeError(f"{name}: timed {len(clock.updates)} updates, expected {warmup + updates}")
    median = {kind: {part: round(statistics.median(u[kind][part] for u in measured), 4) for part in PARTS}
              for kind in ("cpu", "wall")}
    return {"learner": name, **sizes, "updates_timed": len(measured), "threads": torch.get_num_threads(),
            "cpu_s": median["cpu"], "wall_s": median["wall"]}


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def run_child(name: str, updates: int, warmup: int, tree: Path) -> dict[str, Any]:
    """:func:`run_learner` in a fresh process importing the package from ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    command = [sys.executable, str(Path(__file__).resolve()), "--child", name,
               "--updates", str(updates), "--warmup", str(warmup)]
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tree)
    if out.returncode != 0:
        raise RuntimeError(f"{name} on {tree} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _row(label: str, result: dict[str, Any]) -> str:
    cpu, wall = result["cpu_s"], result["wall_s"]
    parts = "  ".join(f"{p} {cpu[p]:6.3f}/{wall[p]:6.3f}" for p in PARTS)
    return f"{result['learner']:<13} {label:<8} {parts}"


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=LEARNERS)
    parser.add_argument("--updates", type=int, default=4, help="updates timed per learner (after warm-up)")
    parser.add_argument("--warmup", type=int, default=1, help="updates run first and not timed")
    parser.add_argument("--baseline", type=Path, help="also profile the package in this directory, interleaved")
    parser.add_argument("--repeats", type=int, default=1, help="fresh processes per learner and tree")
    parser.add_argument("--record", help="write the figures under this label to " + str(RESULTS.relative_to(HERE)))
    parser.add_argument("--note", help="a note stored with --record (what the trees hold, the load)")
    parser.add_argument("--cprofile", type=int, metavar="N", help="print cProfile's top N of the first learner")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.updates < 1 or args.warmup < 0 or args.repeats < 1:
        parser.error("--updates and --repeats must be >= 1, --warmup >= 0")
    if args.child:
        print(json.dumps(run_learner(args.child, args.updates, args.warmup)))
        return []
    if args.cprofile:
        import torch

        torch.set_num_threads(1)
        profiler = cProfile.Profile()
        profiler.runcall(run_learner, args.learners[0], args.updates, args.warmup)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.cprofile)
        return []
    trees = {"this": HERE} if args.baseline is None else {"baseline": args.baseline.resolve(), "this": HERE}
    print(f"before: {uptime()}", flush=True)
    print("per update of both agents, median; CPU/wall seconds, 1 torch thread", flush=True)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name in args.learners:
        for _ in range(args.repeats):
            for label, tree in trees.items():  # interleaved, so both see the same load
                result = run_child(name, args.updates, args.warmup, tree)
                results.setdefault(name, {}).setdefault(label, []).append(result)
                print(_row(label, result), flush=True)
    summary = []
    for name, by_tree in results.items():
        entry: dict[str, Any] = {"learner": name}
        for label, runs in by_tree.items():
            entry[label] = {kind: {p: round(statistics.median(r[kind][p] for r in runs), 4) for p in PARTS}
                            for kind in ("cpu_s", "wall_s")}
            entry["sizes"] = {k: runs[0][k] for k in ("games", "steps", "updates_timed", "threads")}
        if "baseline" in by_tree:
            base, new = entry["baseline"]["cpu_s"], entry["this"]["cpu_s"]
            entry["cpu_ratio_before_over_after"] = {p: round(base[p] / new[p], 2) if new[p] > 0 else None
                                                    for p in ("acting", "env", "learning", "total")}
            print(f"{name:<13} CPU before/after: " + "  ".join(
                f"{p} {r:.2f}x" for p, r in entry["cpu_ratio_before_over_after"].items() if r is not None))
        summary.append(entry)
    load = uptime()
    print(f"after: {load}")
    if args.record:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        recorded = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        recorded[args.record] = {
            "command": "python -m benchmarks.profile_coin " + " ".join(argv if argv is not None else sys.argv[1:]),
            "uptime_after": load, "trees": {k: str(v) for k, v in trees.items()}, "learners": summary,
        }
        if args.note:
            recorded[args.record]["note"] = args.note
        RESULTS.write_text(json.dumps(recorded, indent=1) + "\n")
        print(f"wrote {RESULTS.relative_to(HERE)} [{args.record}]")
    return summary


if __name__ == "__main__":
    main()
