"""The one rule that turns the user's seed into every generator of a run.

Every random stream has a *path*, a tuple of small integers under a seed, and its
integer seed is :func:`derive_seed` ``(seed, *path)``:

* the empty path is the seed itself;
* any other path is the first 32-bit word of
  ``numpy.random.SeedSequence(seed, spawn_key=path)``, the child that
  ``SeedSequence(seed).spawn`` reaches by the indices in ``path``.

Every generator (``numpy.random.default_rng``, ``torch.Generator``, an env's
``reset(seed=...)``, an agent's ``seed=``) is seeded by such an integer. Streams
with different paths are independent, and runs with different seeds share none.

Under a run's seed ``s`` (``lola-bench --seeds``, ``trainer.train(seed=...)``):

=====================================  ===========================================
stream                                  seed
=====================================  ===========================================
training env resets, torch's global     ``s`` (the empty path)
agent in seat ``i`` (0 or 1)            ``derive_seed(s, i)`` (:func:`agent_seed`)
evaluation games and their fixed        ``derive_seed(s, Stream.EVALUATION)``; seat
strategies                              ``i`` of them ``derive_seed(that, i)``
stand-ins (greedy, past selves)         ``derive_seed(s, Stream.STAND_IN)``; stand-in
                                        ``k`` of them ``derive_seed(that, k)``
=====================================  ===========================================

Under an agent's seed ``a``:

=====================================  ===========================================
parameter initialisation                ``a`` (the empty path; ``torch.manual_seed``)
action sampling                         ``derive_seed(a, Stream.ACTING)``
simulated look-ahead episodes           ``derive_seed(a, Stream.SIMULATION)``
minibatch order (PPO)                   ``derive_seed(a, Stream.MINIBATCH)``
past-self draws                         ``derive_seed(a, Stream.SNAPSHOT_DRAW)``
=====================================  ===========================================

One exception, kept because it is another library's convention: SuperSuit's
vector env (and :mod:`lola_agents.learners.shared_ppo`'s adapter of it) resets
game ``k`` with ``seed + k``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np

from coin_game_env.core import derive_seed

if TYPE_CHECKING:
    import torch

__all__ = ["Stream", "agent_seed", "derive_seed", "numpy_generator", "torch_generator"]


class Stream(IntEnum):
    """The first entry of a stream's path (see the module docstring)."""

    SEAT_0 = 0  # run level: the agents, one stream per seat
    SEAT_1 = 1
    EVALUATION = 2  # run level: evaluation games after training
    STAND_IN = 3  # run level: fixed or past-self stand-ins, then their index
    ACTING = 4  # agent level: sampling actions in the real game
    SIMULATION = 5  # agent level: simulated episodes of a look-ahead
    MINIBATCH = 6  # agent level: minibatch order
    SNAPSHOT_DRAW = 7  # agent level: which past self plays


def agent_seed(seed: int, seat: int) -> int:
    """The seed of the agent in ``seat`` (0 or 1) of the run with seed ``seed``."""
    if seat not in (0, 1):
        raise ValueError(f"seat must be 0 or 1, got {seat!r}")
    return derive_seed(seed, seat)


def numpy_generator(seed: int, *path: int) -> np.random.Generator:
    """``numpy.random.default_rng(derive_seed(seed, *path))``."""
    return np.random.default_rng(derive_seed(seed, *path))


def torch_generator(seed: int, *path: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``derive_seed(seed, *path)``."""
    import torch  # here, so that the bench's command line starts without torch

    return torch.Generator().manual_seed(derive_seed(seed, *path))
