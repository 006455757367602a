"""``lola-watch``: watch two agents play the coin game, write a GIF, and score them.

    lola-watch --agent-0 checkpoints/coin/lola/player_0 --agent-1 checkpoints/coin/lola/player_1 --gif lola.gif
    lola-watch --agent-0 greedy --agent-1 own-coin --window
    lola-watch --agent-0 PATH --agent-1 greedy --episodes 200     # evaluation only

An agent is a coin-game fixed strategy (``random-coin`` or its old name ``random``,
``greedy``, ``own-coin``, ``tft-coin``: the names of :data:`lola_agents.agents.AGENTS`) or a
checkpoint folder saved by a learner (see :func:`lola_agents.agents.load_agent`). A corrupt
or mismatched checkpoint is reported with the file and the problem (exit status 2).
Besides the rendered episode it prints the evaluation metrics of
``--episodes`` games (reward per step, own-coin rate, pickups per step).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from coin_game_env.record import record_episode
from lola_agents.agents import as_policy, load_agent
from lola_agents.evaluation import evaluate
from lola_agents.seeding import agent_seed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lola-watch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent-0", required=True, help="red: fixed strategy name or checkpoint folder")
    parser.add_argument("--agent-1", required=True, help="blue: fixed strategy name or checkpoint folder")
    parser.add_argument("--gif", default=None, help="write the episode as an animated GIF here")
    parser.add_argument("--window", action="store_true", help="show the episode in a pygame window")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="render only this many steps")
    parser.add_argument("--fps", type=int, default=4)
    parser.add_argument("--episodes", type=int, default=100, help="games for the evaluation (0: none)")
    parser.add_argument("--max-cycles", type=int, default=150, help="episode length")
    parser.add_argument("--grid-size", type=int, default=3)
    args = parser.parse_args(argv)
    if args.episodes < 0:
        parser.error(f"--episodes must be >= 0, got {args.episodes}")
    try:
        agents = [load_agent(path, seed=agent_seed(args.seed, seat)) for seat, path in enumerate((args.agent_0, args.agent_1))]
    except (ValueError, FileNotFoundError) as err:
        print(f"lola-watch: {err}", file=sys.stderr)
        return 2
    options = {"max_cycles": args.max_cycles, "grid_size": args.grid_size}
    if args.gif or args.window:
        if not args.window and not os.environ.get("DISPLAY"):
            os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        policies = [as_policy(agent, seat) for seat, agent in enumerate(agents)]
        frames = record_episode(args.gif, policies, seed=args.seed, steps=args.steps, fps=args.fps, show=args.window, **options)
        if args.gif:
            print(f"lola-watch: wrote {args.gif} ({len(frames) - 1} steps)")
    if args.episodes:
        result = evaluate("coin_game_v0", agents[0], agents[1], episodes=args.episodes, seed=args.seed, **options)
        keep = ("reward_per_step", "own_coin_rate", "pickups_per_step", "player_0", "player_1")
        print(json.dumps({k: result[k] for k in keep if k in result}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
