"""Cost of the multi-agent layer: Independent PPO vs plain SB3 PPO on the coin game.

    python -m benchmarks.ppo_overhead                 # 16 games, 3 interleaved repeats
    python -m benchmarks.ppo_overhead --num-envs 32 --updates 6

Both sides run rollout + training with the same PPOConfig and the same batched
coin-game core:

* IPPO: :func:`lola_agents.ppo.train` with two :class:`~lola_agents.ppo.PPOAgent`
  (our ``collect`` plays, then each agent fills its SB3 buffer and runs SB3's
  ``train()``);
* plain SB3: ``PPO.learn`` on a same-size single-agent SB3 VecEnv over the same
  core (:class:`SingleAgentCoinVecEnv`: player_0 learns, player_1 moves at
  random, drawn in numpy).

Throughput is measured in trained samples per second (one sample = one agent's
step in one game): IPPO trains two agents on every game step, SB3 one. The
headline ratio is ``IPPO samples/s / SB3 samples/s`` (target >= 0.5: the
multi-agent layer costs at most half); the game-steps ratio (half of it) is
printed too. Runs are interleaved and the median of the repeats is used,
because the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import coin_game_env
from lola_agents.ppo import PPOConfig, SpacesVecEnv, build_sb3_ppo, make_ippo, train
from lola_agents.seeding import Stream, numpy_generator

RESULTS_FILE = Path(__file__).parent / "results" / "ippo" / "ppo_overhead.json"
TARGET_RATIO = 0.5


class SingleAgentCoinVecEnv(SpacesVecEnv):
    """SB3 VecEnv over the batched coin game: player_0 acts, player_1 is uniformly random.

    Time-limit ends are reported as SB3 expects (``TimeLimit.truncated`` and
    ``terminal_observation``), so SB3 bootstraps exactly as our IPPO does.
    """

    def __init__(self, num_envs: int, seed: int = 0, **env_options: Any) -> None:
        self.vec = coin_game_env.make_vec("coin_game_v0", num_envs, seed=seed, **env_options)
        self._opponent_rng = numpy_generator(seed, Stream.SEAT_1)
        self._actions = np.zeros((num_envs, 2), dtype=np.int64)
        super().__init__(num_envs, self.vec.observation_space, self.vec.action_space)

    def reset(self) -> np.ndarray:
        obs, _ = self.vec.reset()
        return obs[:, 0]

    def step_async(self, actions: np.ndarray) -> None:
        self._actions[:, 0] = actions
        self._actions[:, 1] = self._opponent_rng.integers(0, 4, self.num_envs)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, terminated, truncated, info = self.vec.step(self._actions)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(dones):
            infos[i] = {
                "terminal_observation": info["final_obs"][i, 0],
                "TimeLimit.truncated": bool(truncated[i] and not terminated[i]),
            }
        return obs[:, 0], rewards[:, 0].copy(), dones, infos

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.vec, attr_name, None)] * len(self._get_indices(indices))


def time_ippo(config: PPOConfig, num_envs: int, updates: int, seed: int) -> float:
    """Seconds for ``updates`` IPPO updates (rollout + both agents' training)."""
    agents = make_ippo("coin_game_v0", num_envs, seed=seed, config=config)
    start = time.perf_counter()
    train("coin_game_v0", agents, updates * config.n_steps * num_envs, num_envs, seed=seed)
    return time.perf_counter() - start


def time_sb3(config: PPOConfig, num_envs: int, updates: int, seed: int) -> float:
    """Seconds for SB3's own ``learn`` over the same number of updates (one agent)."""
    model = build_sb3_ppo(config, SingleAgentCoinVecEnv(num_envs, seed=seed))
    start = time.perf_counter()
    model.learn(total_timesteps=updates * config.n_steps * num_envs)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--updates", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=600)
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS_FILE, help="JSON file to write")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    config = PPOConfig(batch_size=args.batch_size)
    steps = args.updates * config.n_steps * args.num_envs  # game steps per run
    ippo_seconds, sb3_seconds = [], []
    time_ippo(config, args.num_envs, 1, seed=99)  # warm-up (imports, allocator)
    for rep in range(args.repeats):
        ippo_seconds.append(time_ippo(config, args.num_envs, args.updates, seed=rep))
        sb3_seconds.append(time_sb3(config, args.num_envs, args.updates, seed=rep))
        print(f"repeat {rep}: IPPO {ippo_seconds[-1]:.2f} s, SB3 {sb3_seconds[-1]:.2f} s "
              f"({steps:,} game steps each)", flush=True)
    ippo_s, sb3_s = statistics.median(ippo_seconds), statistics.median(sb3_seconds)
    ippo_samples = 2 * steps / ippo_s  # two agents trained per game step
    sb3_samples = steps / sb3_s
    ratio = ippo_samples / sb3_samples
    result = {
        "command": "python -m benchmarks.ppo_overhead"
        + "".join(f" {a}" for a in (argv or []) if not a.startswith("--out")),
        "num_envs": args.num_envs,
        "updates": args.updates,
        "game_steps_per_run": steps,
        "ppo_config": config.__dict__,
        "ippo_seconds": ippo_seconds,
        "sb3_seconds": sb3_seconds,
        "ippo_samples_per_s": ippo_samples,
        "sb3_samples_per_s": sb3_samples,
        "ippo_game_steps_per_s": steps / ippo_s,
        "sb3_game_steps_per_s": steps / sb3_s,
        "ratio_samples": ratio,
        "ratio_game_steps": (steps / ippo_s) / (steps / sb3_s),
        "target": TARGET_RATIO,
    }
    print(
        f"IPPO (2 agents, {args.num_envs} games): {ippo_samples:,.0f} samples/s "
        f"({steps / ippo_s:,.0f} game steps/s)\n"
        f"SB3 PPO (1 agent, {args.num_envs} envs): {sb3_samples:,.0f} samples/s\n"
        f"ratio IPPO / SB3, samples/s: {ratio:.2f} (target >= {TARGET_RATIO}: "
        f"{'met' if ratio >= TARGET_RATIO else 'MISSED'}); "
        f"game steps/s: {result['ratio_game_steps']:.2f}"
    )
    if not args.no_save:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
