"""Policies and critics the sampled learners use.

Tabular memory-1 policy for the iterated 2x2 games: 5 logits in the agent's
own perspective, in the observation order ``[CC, CD, DC, DD, start]`` (the
layout of ``lola_agents.learners.exact``), so ``P(action 0 | obs) = sigmoid(logits[obs])``.

Every function that the learners differentiate through takes the logits as
an explicit tensor, so a learner can evaluate the policy at look-ahead
parameters (LOLA, DiCE) or at an opponent model's parameters (LOLA-OM).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from coin_game_env.matrix_game import STATE_NAMES

NUM_LOGITS = 5
LOGIT_NAMES = STATE_NAMES  # = observation index order: CC, CD, DC, DD, start


def memory1_log_prob(logits: torch.Tensor, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Log-probability of ``actions`` in env states ``obs`` under memory-1 ``logits``.

    Args:
        logits: ``[5]`` in ``[CC, CD, DC, DD, start]`` order (any float dtype; differentiable).
        obs: int64 observations (0..4), any shape ``S``.
        actions: int64 ``S``, 0 or 1.

    Returns:
        ``S`` log-probabilities, dtype of ``logits``.
    """
    chosen = logits[obs]
    # log P(a) = log sigmoid(+logit) for a = 0, log sigmoid(-logit) for a = 1.
    sign = 1.0 - 2.0 * actions.to(logits.dtype)
    return nn.functional.logsigmoid(sign * chosen)


class TabularPolicy(nn.Module):
    """Memory-1 policy of an iterated 2x2 game: 5 logits ``[CC, CD, DC, DD, start]``.

    Args:
        logits: initial logits ``[5]``; if None, drawn from ``N(0, init_std^2)``
            with ``generator`` (the paper's initialisation, ``init_std = 1``).
        init_std: standard deviation of the random initial logits.
        generator: torch generator for the initial draw.
    """

    def __init__(
        self,
        logits: torch.Tensor | np.ndarray | list[float] | None = None,
        init_std: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if logits is None:
            initial = torch.randn(NUM_LOGITS, generator=generator) * init_std
        else:
            initial = torch.as_tensor(np.asarray(logits, dtype=np.float32))
            if initial.shape != (NUM_LOGITS,):
                raise ValueError(
                    f"tabular memory-1 logits must have shape (5,) = {LOGIT_NAMES}, "
                    f"got {tuple(initial.shape)}"
                )
        self.logits = nn.Parameter(initial.to(torch.float32).clone())

    def log_prob(
        self, obs: torch.Tensor, actions: torch.Tensor, logits: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``log pi(actions | obs)`` of shape ``obs.shape``; ``logits`` overrides the parameters."""
        return memory1_log_prob(self.logits if logits is None else logits, obs, actions)

    def initial_state(self, num_envs: int) -> None:
        """No recurrent state (the observation is the previous joint action)."""
        return None

    def flat_params(self) -> torch.Tensor:
        """The parameters as one vector ``[5]`` (the tensor itself, not a copy)."""
        return self.logits

    def prob_action0(self) -> np.ndarray:
        """float64 ``[5]`` P(action 0) in order ``[CC, CD, DC, DD, start]``."""
        with torch.no_grad():
            return torch.sigmoid(self.logits.double()).numpy()

    def sample(
        self, obs: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sample actions for env states ``obs`` int ``[N]`` -> (int64 ``[N]``, float32 log-probs ``[N]``)."""
        with torch.no_grad():
            logits = self.logits.detach().double().numpy()
        slot_logits = logits[np.asarray(obs, dtype=np.int64)]
        p0 = 1.0 / (1.0 + np.exp(-slot_logits))
        actions = (rng.random(p0.shape) >= p0).astype(np.int64)
        chosen = np.where(actions == 0, p0, 1.0 - p0)
        return actions, np.log(chosen).astype(np.float32)


class TabularCritic(nn.Module):
    """State-value table ``V(s)`` over the 5 observations ``CC, CD, DC, DD, start``.

    The paper's critic for the tabular policies: one value per state, fitted
    by regression on the discounted returns-to-go with its own learning rate.
    """

    def __init__(self) -> None:
        super().__init__()
        self.values = nn.Parameter(torch.zeros(NUM_LOGITS))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Values of env states ``obs`` (int64, any shape) -> float32, same shape."""
        return self.values[obs]


class TabularActor:
    """Acting of a learner with a :class:`TabularPolicy` ``self.policy`` and a numpy
    generator ``self.rng``: samples actions and keeps the logits that produced them
    (LOLA-style learners read the acting parameters, not later ones)."""

    policy: TabularPolicy
    rng: np.random.Generator
    _acting_logits: torch.Tensor

    def act(
        self, obs: np.ndarray, state: object, episode_starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, object]:
        self._acting_logits = self.policy.logits.detach().clone()
        actions, log_probs = self.policy.sample(np.asarray(obs), self.rng)
        return actions, log_probs, state

    def acting_params(self) -> torch.Tensor:
        """Logits ``[5]`` that produced the latest actions (unchanged by a later ``learn``)."""
        return self._acting_logits

    def prob_action0(self) -> np.ndarray:
        """P(action 0 | state) ``[5]`` in order ``[CC, CD, DC, DD, start]``."""
        return self.policy.prob_action0()



def matrix_states(obs: torch.Tensor) -> torch.Tensor:
    """Matrix-game observations as int64 indices (accepts one-hot ``[..., 5]``)."""
    if obs.is_floating_point():
        if obs.shape[-1] != NUM_LOGITS:
            raise ValueError(f"expected int64 states or one-hot [..., 5] observations, got {list(obs.shape)}")
        return obs.argmax(dim=-1)
    if obs.dtype != torch.int64:
        return obs.long()
    return obs


class MemoryOneNet(nn.Module):
    """A memory-1 policy or value table with the network interface of the coin-game
    policies (``encode``/``forward``/``step``/``initial_state``), so the one LOLA agent
    (:class:`lola_agents.learners.lola.LOLAAgent`) runs on the iterated matrix games.

    As a policy (``num_outputs=None``): one parameter ``logits`` ``[5]`` with
    ``P(action 0 | s) = sigmoid(logits[s])`` (the tabular learners' parameterisation), its
    outputs the two action logits ``[logits[s], 0]``. As a value table: ``values``
    ``[5, num_outputs]``, zeros at first.

    Args:
        num_outputs: None for a policy, else the number of values per state.
        init_std: policy logits ~ N(0, init_std^2) (paper 1), drawn from ``generator``
            (or torch's global generator).
    """

    recurrent = False

    def __init__(
        self, num_outputs: int | None = None, init_std: float = 1.0, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        self.is_policy = num_outputs is None
        if self.is_policy:
            self.logits = nn.Parameter(torch.randn(NUM_LOGITS, generator=generator) * init_std)
        else:
            self.values = nn.Parameter(torch.zeros(NUM_LOGITS, num_outputs))

    def encode(self, obs: torch.Tensor, episode_starts: torch.Tensor) -> torch.Tensor:
        """Observations ``[T, N]`` (or one-hot ``[T, N, 5]``) -> state indices ``[T, N]``."""
        return matrix_states(obs)

    def forward(self, encoded: torch.Tensor, episode_starts: torch.Tensor) -> torch.Tensor:
        """State indices ``[...]`` -> action logits ``[..., 2]`` or values ``[..., num_outputs]``."""
        if not self.is_policy:
            return self.values[encoded]
        chosen = self.logits[encoded]
        return torch.stack([chosen, torch.zeros_like(chosen)], dim=-1)

    def initial_state(self, num_envs: int) -> None:
        return None

    def step(
        self, obs: torch.Tensor, state: None, episode_starts: torch.Tensor
    ) -> tuple[torch.Tensor, None]:
        """One step: observations ``[N]`` -> (outputs ``[N, out]``, None)."""
        return self(self.encode(obs, episode_starts), episode_starts), None

    def prob_action0(self) -> np.ndarray:
        """P(action 0 | state) ``[5]`` of a policy table."""
        return torch.sigmoid(self.logits.detach()).double().numpy()
