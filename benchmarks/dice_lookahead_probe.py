"""Why LOLA-DiCE with one look-ahead step at inner lr 0.1 ends in mutual defection on the IPD.

Prints three measurements (``python -m benchmarks.dice_lookahead_probe``):

1. **The estimator at fixed parameters.** For parameter pairs drawn like the learner's
   initial logits (N(0, 0.4472^2)), the gradient LOLA-DiCE ascends,
   ``d V_1(theta_1, theta_2^k(theta_1)) / d theta_1``, sampled by
   :meth:`LOLADiCEAgent.lookahead_gradient` (batch 64, as in training; mean of many
   batches) against its exact value (the same :func:`lola_agents.shaping.unrolled_lookahead_gradient`
   over the closed-form values of :mod:`lola_agents.learners.exact`). Its "shaping part" is
   the difference to the naive gradient (k = 0). If the k = 1 estimator were defective
   (e.g. the outer objective not differentiated through the look-ahead step, which makes
   it the naive gradient), its mean would miss the exact k = 1 value.
2. **The size of the shaping part** for k = 1, 2, 3 at inner lr 0.1 and k = 1 at 0.3:
   one step of lr 0.1 is about half the look-ahead of two steps.
3. **Exact-gradient dynamics.** Both agents follow the exact k-step look-ahead gradient
   (outer SGD lr 0.2, 200 updates, paper settings without sampling) from the same
   initial logits: whether the k = 1, inner lr 0.1 look-ahead reaches cooperation with no
   sampling noise at all.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import coin_game_env
from lola_agents import shaping
from lola_agents.learners.dice import LOLADiCEAgent
from lola_agents.learners.exact import make_game
from lola_agents.learners.pg import FixedTabularAgent
from lola_agents.rollout import collect

INIT_STD = 0.4472  # LOLADiCEConfig.init_std
GAME = make_game("ipd")


def exact_objective(seat: int):
    """``(own, opponent, step, for_opponent) -> V`` from the closed form, for the player in ``seat``."""

    def objective(own: torch.Tensor, opponent: torch.Tensor, step: int, for_opponent: bool) -> torch.Tensor:
        pair = (own, opponent) if seat == 0 else (opponent, own)
        losses = GAME.loss_pair(pair[0].unsqueeze(0), pair[1].unsqueeze(0))[0]
        subject = 1 - seat if for_opponent else seat
        return -losses[subject]

    return objective


def exact_lookahead(own: torch.Tensor, opponent: torch.Tensor, steps: int, inner_lr: float, seat: int = 0) -> torch.Tensor:
    """Exact ``d V_seat(own, opponent^k(own)) / d own`` ``[5]`` (float64)."""
    return shaping.unrolled_lookahead_gradient(
        exact_objective(seat), own.double().detach().requires_grad_(True), opponent.double(), steps, inner_lr
    )


def sampled_lookahead(
    own: torch.Tensor, opponent: torch.Tensor, steps: int, inner_lr: float, batches: int, seed: int
) -> torch.Tensor:
    """LOLA-DiCE's sampled gradients ``[batches, 5]`` at fixed logits (batch 64 x 150 steps each)."""
    agent = LOLADiCEAgent(lookahead=steps, inner_lr=inner_lr, seed=seed)
    with torch.no_grad():
        agent.policy.logits.copy_(own)
    env = coin_game_env.make_vec("ipd_v0", 64, seed=seed)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(batches):
        mine, theirs = collect(env, [FixedTabularAgent(own, rng), FixedTabularAgent(opponent, rng)], 150)
        out.append(agent.lookahead_gradient(mine, theirs, opponent.float()))
    return torch.stack(out).double()


def exact_dynamics(steps: int, inner_lr: float, inits: torch.Tensor, updates: int = 200, outer_lr: float = 0.2) -> np.ndarray:
    """Reward per step ``[runs]`` (mean of both agents) after ``updates`` exact LOLA-DiCE updates."""
    rewards = []
    for theta in inits:
        params = [theta[0].double().clone(), theta[1].double().clone()]
        for _ in range(updates):
            grads = [exact_lookahead(params[i], params[1 - i], steps, inner_lr, seat=i) for i in (0, 1)]
            params = [params[i] + outer_lr * grads[i] for i in (0, 1)]
        values = -GAME.loss_pair(params[0].unsqueeze(0), params[1].unsqueeze(0))[0]
        rewards.append(float((1 - 0.96) * values.mean()))
    return np.array(rewards)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=3, help="parameter pairs for parts 1-2")
    parser.add_argument("--batches", type=int, default=32, help="sampled batches per point")
    parser.add_argument("--runs", type=int, default=20, help="initialisations for part 3")
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    points = torch.randn(args.points, 2, 5, generator=generator) * INIT_STD
    configs = [(1, 0.1), (2, 0.1), (3, 0.1), (1, 0.3)]

    print("1-2. shaping part = gradient(k) - gradient(0), exact vs sampled (batch 64, mean of "
          f"{args.batches} batches), at {args.points} parameter pairs ~ N(0, {INIT_STD}^2)")
    print(f"{'point':>5} {'k':>2} {'inner':>5} {'|naive|':>8} {'|shaping| exact':>16} {'ratio':>6} "
          f"{'|mean sampled - exact| / |exact| (shaping)':>44} {'noise of one batch / |exact shaping|':>38}")
    for p, (own, opponent) in enumerate(points):
        naive = exact_lookahead(own, opponent, 0, 0.1)
        sampled_naive = sampled_lookahead(own, opponent, 0, 0.1, args.batches, seed=100 + p)
        for steps, inner in configs:
            exact_shaping = exact_lookahead(own, opponent, steps, inner) - naive
            sampled = sampled_lookahead(own, opponent, steps, inner, args.batches, seed=200 + p)
            sampled_shaping = sampled.mean(0) - sampled_naive.mean(0)
            error = float((sampled_shaping - exact_shaping).norm() / exact_shaping.norm())
            noise = float(sampled.std(0).norm() / exact_shaping.norm())
            print(f"{p:>5} {steps:>2} {inner:>5} {float(naive.norm()):>8.3f} {float(exact_shaping.norm()):>16.3f} "
                  f"{float(exact_shaping.norm() / naive.norm()):>6.3f} {error:>44.2f} {noise:>38.1f}")

    inits = torch.randn(args.runs, 2, 5, generator=generator) * INIT_STD
    print(f"\n3. exact-gradient LOLA-DiCE (no sampling), outer lr 0.2, 200 updates, {args.runs} "
          "initialisations: reward per step (mean of both agents)")
    for steps, inner in [(0, 0.1), *configs, (1, 0.2)]:
        rewards = exact_dynamics(steps, inner, inits)
        print(f"k={steps} inner lr {inner}: mean {rewards.mean():.3f}, runs at >= -1.1: "
              f"{int((rewards >= -1.1).sum())}/{len(rewards)}, at <= -1.9: {int((rewards <= -1.9).sum())}")


if __name__ == "__main__":
    main()
