"""Small demo: fixed memory-1 strategies play the iterated prisoner's dilemma.

    python -m coin_game_env.demo [--episodes 20] [--seed 0]

Plays every pair of AllC, AllD, TFT and Random in the ``ipd_v0`` ParallelEnv
and prints the mean reward per step of each side.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

import coin_game_env

# A memory-1 strategy maps the own-perspective state (CC=0, CD=1, DC=2, DD=3, start=4)
# to an action (0 = cooperate, 1 = defect).
Strategy = Callable[[int, np.random.Generator], int]
STRATEGIES: dict[str, Strategy] = {
    "AllC": lambda state, rng: 0,
    "AllD": lambda state, rng: 1,
    "TFT": lambda state, rng: 0 if state == 4 else int(state % 2),  # copy the other's last move
    "Random": lambda state, rng: int(rng.integers(2)),
}


def play(name_0: str, name_1: str, episodes: int, seed: int) -> tuple[float, float]:
    """Mean reward per step of (player_0, player_1) over ``episodes`` ipd_v0 episodes."""
    env = coin_game_env.make("ipd_v0")
    rng = np.random.default_rng(seed)
    strategy = {"player_0": STRATEGIES[name_0], "player_1": STRATEGIES[name_1]}
    totals, steps = np.zeros(2), 0
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed if episode == 0 else None)  # seed once, as gymnasium does
        while env.agents:
            actions = {agent: strategy[agent](int(obs[agent]), rng) for agent in env.agents}
            obs, rewards, *_ = env.step(actions)
            totals += [rewards["player_0"], rewards["player_1"]]
            steps += 1
    return tuple(totals / steps)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    print(f"ipd_v0, {args.episodes} episodes of 150 steps: mean reward per step")
    print(f"{'player_0':<8} {'player_1':<8} {'player_0':>9} {'player_1':>9}")
    for name_0 in STRATEGIES:
        for name_1 in STRATEGIES:
            r0, r1 = play(name_0, name_1, args.episodes, args.seed)
            print(f"{name_0:<8} {name_1:<8} {r0:>9.3f} {r1:>9.3f}")


if __name__ == "__main__":
    main()
