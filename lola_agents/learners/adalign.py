"""Advantage alignment (Duque et al., ICLR 2025): LOLA's first-order successor.

The agent's policy gradient uses, in place of its own advantage ``A_1,t``,

    A_1,t + beta * (sum_{k<t} gamma^(t-k) A_1,k) * A_2,t

(:func:`aligned_advantages`). It is LOLA's shaping term with the opponent's policy
kernel replaced by the identity, so it needs the opponent's advantages (or rewards)
but not its parameters. The coin-game learner (:mod:`lola_agents.learners.coin`)
uses it with ``method="advantage_alignment"``.
"""

from __future__ import annotations

import torch


def aligned_advantages(
    own_advantages: torch.Tensor,
    their_advantages: torch.Tensor,
    episode_starts: torch.Tensor,
    gamma: float,
    beta: float,
) -> torch.Tensor:
    """Advantage alignment (Duque et al. 2024): ``A_1,t + beta (sum_{k<t} gamma^(t-k) A_1,k) A_2,t``.

    All ``[T, N]`` (``episode_starts`` bool). The sum runs over earlier steps of
    the same episode. It is LOLA's shaping term with the opponent's policy
    kernel replaced by the identity: when the interaction has gone well for me,
    favour my actions that help the opponent now; when badly, those that hurt it.
    """
    past = torch.empty_like(own_advantages)
    running = torch.zeros_like(own_advantages[0])
    for t in range(own_advantages.shape[0]):
        if t > 0:
            running = gamma * (running + own_advantages[t - 1])
        running = torch.where(episode_starts[t], torch.zeros_like(running), running)
        past[t] = running
    return own_advantages + beta * past * their_advantages
