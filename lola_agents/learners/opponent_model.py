"""LOLA-OM: LOLA with the opponent's parameters replaced by a fitted model, and the
one opponent-model fit every LOLA-OM learner of the package uses.

The paper's LOLA-OM agent does not read its opponent's policy. It keeps a model of it
(a policy of the same form: here a memory-1 table, in :class:`lola_agents.learners.lola.LOLAAgent`
a network like its own), fitted by maximum likelihood to the opponent's observed actions
with plain SGD: lr 0.1, 50 steps at the first update and 1 step per update after that
(Foerster et al. 2018, appendix). The LOLA update is then computed with the model's
parameters in place of the opponent's, so LOLA-OM plays against any agent of the
rollout interface (fixed strategies, PPO, ...).

The loss and its scale (:func:`opponent_model_loss`)
-----------------------------------------------------
Maximum likelihood fixes the minimiser, not the scale: any positive multiple
``c * NLL`` has the same maximum-likelihood model, and SGD on ``c * NLL`` with lr ``a``
is SGD on ``NLL`` with lr ``c * a``. So choosing the scale is choosing what the
learning rate means. The package uses the **mean negative log-likelihood per observed
action**,

    ``loss(phi) = -(1 / (N T)) sum_{n, t} log pi_phi(a_{n,t} | s_{n,t})``   (N games, T steps),

because it is the one scale whose step does not depend on the episode length or the
batch size. For a memory-1 table (logit ``phi_s`` per state ``s``, ``p_s = sigmoid(phi_s)``,
``w_s`` the share of the batch's actions taken in ``s``, ``f_s`` the share of them that are
action 0):

    ``d loss / d phi_s = w_s (p_s - f_s)``,   ``d^2 loss / d phi_s^2 = w_s p_s (1 - p_s) <= w_s / 4``.

One SGD step moves each state's logit by ``lr * w_s * (f_s - p_s)``: the same for any T
and N (a statistic of the batch, not of its size), and gradient descent is stable for
any ``lr < 8`` (the curvature is at most 1/4). The earlier choice, the log-likelihood of
whole trajectories (sum over the T steps, mean over games), is ``T`` times this loss: at
T = 150 the paper's lr 0.1 on it is lr 15 here, a step that grows with the episode
length and, for a state holding more than half of the actions (``15 w_s / 4 > 2``),
overshoots while the model is near 1/2. The per-action mean is also the form of the
official LOLA-DiCE code's opponent-model loss, and the loss the network model of
:class:`~lola_agents.learners.lola.LOLAAgent` always had.

The price: with the paper's schedule (lr 0.1, 50 steps, then 1 per update) a logit
moves by less than ``lr * w_s`` per step, at most ``5 w_s`` over the first 50 steps, so
rarely visited states stay near 1/2 and one step per update tracks a changing opponent
slowly. The schedule is an option
(:class:`OpponentModelSchedule`: steps at the first update, steps per update, lr,
warm start) and ``om_lr = 15`` reproduces the step of the trajectory-sum loss at
T = 150 (docs/sampled_learners.md has the measured results of both).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from coin_game_env.core import check_number
from lola_agents import shaping
from lola_agents.learners.pg import (
    LOLAPGAgent,
    LOLAPGConfig,
    lola_bundle,
    matrix_states,
)
from lola_agents.policies.tabular import TabularPolicy
from lola_agents.rollout import Batch


@dataclass(frozen=True)
class OpponentModelSchedule:
    """How an opponent model is fitted at each update (defaults: the paper's schedule).

    Attributes:
        lr: learning rate on :func:`opponent_model_loss` (per-action mean NLL; paper 0.1).
        first_steps: optimiser steps at the first fit (paper 50).
        steps: optimiser steps at every later fit (paper 1).
        warm_start: continue from the previous fit (paper); False re-initialises the
            model and its optimiser before every fit and takes ``first_steps`` each time.
    """

    lr: float = 0.1
    first_steps: int = 50
    steps: int = 1
    warm_start: bool = True

    def __post_init__(self) -> None:
        check_number("om_lr", self.lr, allow_low=False)
        for name in ("first_steps", "steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"om_{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.warm_start, bool):
            raise ValueError(f"om_warm_start must be True or False, got {self.warm_start!r}")

    def steps_at(self, fits_so_far: int) -> int:
        """Optimiser steps of the next fit, after ``fits_so_far`` earlier fits."""
        return self.first_steps if fits_so_far == 0 or not self.warm_start else self.steps


def opponent_model_loss(log_probs: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood per observed action (the derivation is in the module doc).

    Args:
        log_probs: ``[T, N]`` (or any shape) log-probabilities of the opponent's observed
            actions under the model, differentiable in the model's parameters.

    Returns:
        Scalar, nats per action; the same scale for any episode length and batch size.
    """
    return -log_probs.mean()


class OpponentModel:
    """A model of the opponent's policy and its fit: the one used by every LOLA-OM learner.

    Args:
        module: the model (its parameters are fitted in place): a
            :class:`~lola_agents.policies.tabular.TabularPolicy`, a ``MemoryOneNet`` or a
            coin-game network.
        schedule: the fitting schedule.
        optimizer: an optimiser over ``module``'s parameters (None: SGD at ``schedule.lr``,
            the paper's).
    """

    def __init__(
        self,
        module: nn.Module,
        schedule: OpponentModelSchedule,
        optimizer: torch.optim.Optimizer | None = None,
    ) -> None:
        self.module = module
        self.schedule = schedule
        self.optimizer = optimizer or torch.optim.SGD(module.parameters(), lr=schedule.lr)
        self.initial_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        self.fits = 0
        self.last_nll = float("nan")

    def fit(self, log_probs: Callable[[], torch.Tensor]) -> float:
        """One fit by the schedule; returns the NLL per action after it (nats).

        Args:
            log_probs: ``() -> [T, N]`` log-probabilities of the observed actions under the
                module's current parameters (called once per step and once after).
        """
        if not self.schedule.warm_start and self.fits > 0:
            self.module.load_state_dict(self.initial_state)
            self.optimizer.state.clear()  # no momentum / Adam moments from the previous fit
        for _ in range(self.schedule.steps_at(self.fits)):
            loss = opponent_model_loss(log_probs())
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        with torch.no_grad():
            self.last_nll = float(opponent_model_loss(log_probs()))
        self.fits += 1
        return self.last_nll

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "optimizer": self.optimizer.state_dict(),
                "fits": self.fits}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.fits = int(state["fits"])


def fit_opponent_model(
    model: TabularPolicy,
    optimizer: torch.optim.Optimizer,
    obs: torch.Tensor,
    actions: torch.Tensor,
    steps: int,
) -> float:
    """``steps`` optimiser steps of a memory-1 model on :func:`opponent_model_loss` (one
    :meth:`OpponentModel.fit` of ``steps`` steps).

    Args:
        model: the opponent model (its logits are updated in place).
        optimizer: optimiser over ``model.parameters()``.
        obs: the opponent's observations ``[T, N]`` (matrix-game states, its own perspective).
        actions: the opponent's actions ``[T, N]``.
        steps: number of optimiser steps, >= 1.

    Returns:
        The negative log-likelihood per action after the last step (nats).
    """
    states = matrix_states(obs)
    fit = OpponentModel(model, OpponentModelSchedule(first_steps=steps, steps=steps), optimizer)
    return fit.fit(lambda: model.log_prob(states, actions))


# --------------------------------------------------------------------------- diagnostics
def bernoulli_log_pi(logits: torch.Tensor) -> torch.Tensor:
    """``[..., 2]`` log-probabilities of actions (0, 1) from memory-1 logits ``[...]``
    (``P(action 0) = sigmoid(logit)``)."""
    return torch.stack([F.logsigmoid(logits), F.logsigmoid(-logits)], dim=-1)


def visited_kl(true_log_pi: torch.Tensor, model_log_pi: torch.Tensor) -> float:
    """Model error: ``KL(true policy || model)`` in nats, averaged over the visited steps.

    Args:
        true_log_pi, model_log_pi: ``[T, N, A]`` log-probabilities of every action at the
            states the opponent visited (so states count by how often they were visited).
    """
    with torch.no_grad():
        return float((true_log_pi.exp() * (true_log_pi - model_log_pi)).sum(-1).mean())


def shaping_agreement(with_model: shaping.Tree, with_truth: shaping.Tree) -> dict[str, float]:
    """How the shaping term computed with the model compares with the one computed with the
    opponent's true parameters (both from :meth:`lola_agents.shaping.GradientBundle.shaping`,
    one learner's parameters each, no run axis).

    Returns:
        ``shaping_cosine`` (cosine similarity) and ``shaping_norm_ratio`` (|model| / |true|).
    """
    norm_model = float(shaping.norm(with_model, 0))
    norm_true = float(shaping.norm(with_truth, 0))
    cosine = float(shaping.dot(with_model, with_truth, 0)) / max(norm_model * norm_true, 1e-30)
    return {"shaping_cosine": cosine, "shaping_norm_ratio": norm_model / max(norm_true, 1e-30)}


@dataclass
class LOLAOMConfig(LOLAPGConfig):
    """LOLA-PG settings plus the opponent model's fitting schedule (paper defaults).

    Attributes:
        om_lr: SGD learning rate on the per-action mean NLL (paper 0.1).
        om_first_steps: SGD steps at the first update (paper 50).
        om_steps: SGD steps at every later update (paper 1).
        om_warm_start: continue from the previous fit (paper); False refits from
            uniform with ``om_first_steps`` at every update.
    """

    om_lr: float = 0.1
    om_first_steps: int = 50
    om_steps: int = 1
    om_warm_start: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        self.schedule()  # validates the om_* fields

    def schedule(self) -> OpponentModelSchedule:
        return OpponentModelSchedule(self.om_lr, self.om_first_steps, self.om_steps, self.om_warm_start)


class LOLAOMAgent(LOLAPGAgent):
    """LOLA-PG whose opponent parameters come from a maximum-likelihood model of its actions
    (a preset of :class:`~lola_agents.learners.lola.LOLAAgent`: LOLA-PG with the opponent modelled)."""

    config_class = LOLAOMConfig
    name = "LOLA-OM"
    models_opponent = True
    #: log ``model_kl``, ``shaping_cosine``, ``shaping_norm_ratio`` when the opponent's
    #: parameters are readable
    log_model_diagnostics = True
    #: the shaping comparison costs two more shaping terms (about as much as the update
    #: itself): compute it at updates 1, 1 + k, 1 + 2k, ...; ``model_kl`` (cheap) every update
    shaping_diagnostics_every = 1

    def _build(self) -> None:
        super()._build()
        self._build_model(self.cfg.schedule())

    def policy_direction(
        self, batch: Batch, opponent_batch: Batch, baseline: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        direction, logs = super().policy_direction(batch, opponent_batch, baseline)
        logs = {**logs, "model_nll": self.model.last_nll}
        if self.log_model_diagnostics and self._truth is not None:
            every = self.shaping_diagnostics_every
            if not isinstance(every, int) or isinstance(every, bool) or every < 1:
                raise ValueError(f"shaping_diagnostics_every must be an integer >= 1, got {every!r}")
            logs.update(self.model_diagnostics(batch, opponent_batch, baseline,
                                               shaping_terms=self.updates % every == 0))
        return direction, logs

    def model_diagnostics(
        self, batch: Batch, opponent_batch: Batch, baseline: torch.Tensor, shaping_terms: bool = True
    ) -> dict[str, float]:
        """Model error and, with ``shaping_terms``, the shaping term with the model vs with the
        true parameters (:func:`visited_kl`, :func:`shaping_agreement`) on this update's batch."""
        assert self._truth is not None
        truth = self._truth.params().float()
        model = self.opponent_model.logits.detach()
        states = matrix_states(opponent_batch.obs)
        logs = {"model_kl": visited_kl(bernoulli_log_pi(truth[states]), bernoulli_log_pi(model[states]))}
        if shaping_terms:
            terms = [
                lola_bundle(self.acting_params(), opponent, batch, opponent_batch, self.cfg.gamma,
                            baseline, self.cfg.eta).shaping(0)
                for opponent in (model, truth)
            ]
            logs.update(shaping_agreement(*terms))
        return logs
