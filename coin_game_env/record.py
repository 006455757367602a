"""Play one coin-game episode and write it as an animated GIF.

    python -m coin_game_env.record --out game.gif --seed 0 \\
        --policy-0 random --policy-1 random --steps 150

A policy is a callable ``obs -> action`` (the agent's own observation in,
an int action out). On the command line it is ``random`` or an import path
``package.module:function`` to such a callable. Frames are drawn off-screen,
so this works headless (``SDL_VIDEODRIVER=dummy`` is set if no display).
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from coin_game_env.core import derive_seed

Policy = Callable[[np.ndarray], int]


def random_policy(num_actions: int, seed: int | None = None) -> Policy:
    """A policy that ignores its observation and plays uniformly random actions."""
    rng = np.random.default_rng(seed)

    def act(obs: np.ndarray) -> int:
        return int(rng.integers(num_actions))

    return act


def load_policy(spec: str, num_actions: int, seed: int | None) -> Policy:
    """``"random"`` or ``"package.module:function"`` -> a policy callable."""
    if spec == "random":
        return random_policy(num_actions, seed)
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"policy must be 'random' or 'package.module:function', got {spec!r}")
    policy = getattr(importlib.import_module(module_name), attr, None)
    if not callable(policy):
        raise ValueError(f"policy {spec!r} is not a callable in module {module_name!r}")
    return policy


def record_episode(
    out: str | Path | None,
    policies: Sequence[Policy | None] = (None, None),
    seed: int | None = 0,
    steps: int | None = None,
    fps: int = 4,
    show: bool = False,
    **options: Any,
) -> list[np.ndarray]:
    """Play one episode of ``coin_game_v0``; save its frames as a GIF and/or show them.

    Args:
        out: path of the GIF to write (None: write none).
        policies: one ``obs -> action`` callable per agent (player_0 red, player_1
            blue); None plays random actions (seeded from ``seed``).
        seed: seeds the game (and the random policies).
        steps: stop after this many steps (default: the whole episode).
        fps: frames per second of the GIF.
        show: also show the episode in a pygame window at ``fps``.
        options: coin-game options (``grid_size``, ``num_coins``, ...).

    Returns:
        The frames, uint8 ``[height, width, 3]`` each (the reset board first).
    """
    from PIL import Image

    from coin_game_env.registry import make

    if len(policies) != 2:
        raise ValueError(f"policies must give one policy per agent (2), got {len(policies)}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be an integer >= 1 or None, got {steps!r}")
    if isinstance(fps, bool) or not isinstance(fps, int) or fps < 1:
        raise ValueError(f"fps must be an integer >= 1, got {fps!r}")
    env = make("coin_game_v0", render_mode="rgb_array", **options)
    num_actions = int(env.action_space("player_0").n)
    acting = [
        policy if policy is not None else random_policy(num_actions, None if seed is None else derive_seed(seed, i))
        for i, policy in enumerate(policies)
    ]
    window = None
    if show:
        from coin_game_env.rendering import PygameWindow

        window = PygameWindow("coin_game_v0", fps)
    obs, _ = env.reset(seed=seed)
    frames = [env.render()]
    taken = 0
    while env.agents and (steps is None or taken < steps):
        actions = {agent: acting[i](obs[agent]) for i, agent in enumerate(env.possible_agents)}
        obs, *_ = env.step(actions)
        frames.append(env.render())
        if window is not None:
            window.show(frames[-1])
        taken += 1
    env.close()
    if window is not None:
        window.close()
    if out is not None:
        images = [Image.fromarray(frame) for frame in frames]
        images[0].save(
            out, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0
        )
    return frames


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m coin_game_env.record --out game.gif ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m coin_game_env.record",
        description="Play one coin-game episode and write an animated GIF.",
    )
    parser.add_argument("--out", required=True, help="path of the GIF to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of the game and random policies")
    parser.add_argument("--policy-0", default="random", help="red: 'random' or 'module:function'")
    parser.add_argument("--policy-1", default="random", help="blue: 'random' or 'module:function'")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    parser.add_argument("--fps", type=int, default=4)
    parser.add_argument("--grid-size", type=int, default=3)
    parser.add_argument("--max-cycles", type=int, default=150)
    parser.add_argument("--num-coins", type=int, default=1, choices=(1, 2))
    parser.add_argument("--stay-action", action="store_true")
    parser.add_argument("--egocentric", action="store_true")
    args = parser.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    num_actions = 5 if args.stay_action else 4
    policies = [
        load_policy(path, num_actions, derive_seed(args.seed, seat))
        for seat, path in enumerate((args.policy_0, args.policy_1))
    ]
    frames = record_episode(
        args.out,
        policies,
        seed=args.seed,
        steps=args.steps,
        fps=args.fps,
        grid_size=args.grid_size,
        max_cycles=args.max_cycles,
        num_coins=args.num_coins,
        stay_action=args.stay_action,
        egocentric=args.egocentric,
    )
    print(f"wrote {args.out}: {len(frames)} frames ({len(frames) - 1} steps)")


if __name__ == "__main__":
    main()
