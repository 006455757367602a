"""LOLA-OM: LOLA-PG with the opponent's parameters replaced by a fitted model.

The paper's LOLA-OM agent does not read its opponent's policy. It keeps a
memory-1 model of it, fitted by maximum likelihood to the opponent's observed
actions (``opponent_batch.obs``, ``opponent_batch.actions``): plain SGD on the
negative log-likelihood of the observed trajectories, lr 0.1, 50 steps at the
first update and 1 step per update after that (Foerster et al. 2018, appendix).

The loss is the log-likelihood of whole trajectories (sum over the T steps,
mean over the N games). With the per-action mean instead, the paper's 50
steps at lr 0.1 leave the model close to uniform, and the LOLA terms computed
with such a model were off by up to two orders of magnitude in our checks
(the model's score function then has a non-zero mean under the true policy). The LOLA-PG update is
then computed with the model's logits in place of the opponent's, so LOLA-OM
plays against any agent of the rollout interface (fixed strategies, PPO, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from coin_game_env.core import check_number
from lola_agents.learners.pg import LOLAPGAgent, LOLAPGConfig, matrix_states
from lola_agents.policies.tabular import TabularPolicy
from lola_agents.rollout import Batch


@dataclass
class LOLAOMConfig(LOLAPGConfig):
    """LOLA-PG settings plus the opponent model's fitting schedule (paper defaults).

    Attributes:
        om_lr: SGD learning rate of the opponent model (paper 0.1).
        om_first_steps: SGD steps at the first update (paper 50).
        om_steps: SGD steps at every later update (paper 1).
    """

    om_lr: float = 0.1
    om_first_steps: int = 50
    om_steps: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("om_lr", self.om_lr, allow_low=False)
        for name in ("om_first_steps", "om_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def fit_opponent_model(
    model: TabularPolicy,
    optimizer: torch.optim.Optimizer,
    obs: torch.Tensor,
    actions: torch.Tensor,
    steps: int,
) -> float:
    """Maximum-likelihood SGD steps of a memory-1 model on observed trajectories.

    Loss: negative log-likelihood of the trajectories, summed over time and
    averaged over games.

    Args:
        model: the opponent model (its logits are updated in place).
        optimizer: optimiser over ``model.parameters()``.
        obs: the opponent's observations ``[T, N]`` (int64, its own perspective).
        actions: the opponent's actions ``[T, N]``.
        steps: number of SGD steps on the mean negative log-likelihood.

    Returns:
        The negative log-likelihood per action after the last step (for logging).
    """
    for _ in range(steps):
        optimizer.zero_grad()
        loss = -model.log_prob(obs, actions).sum(0).mean()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return float(-model.log_prob(obs, actions).mean())


class LOLAOMAgent(LOLAPGAgent):
    """LOLA-PG whose opponent parameters come from a maximum-likelihood model of its actions."""

    config_class = LOLAOMConfig
    name = "LOLA-OM"

    def __init__(self, config: LOLAOMConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        # Uninformed start: P(action 0) = 1/2 in every state.
        self.opponent_model = TabularPolicy(logits=torch.zeros(5))
        self.model_optimizer = torch.optim.SGD(self.opponent_model.parameters(), lr=self.cfg.om_lr)
        self.model_fits = 0

    def set_opponent(self, opponent: Any) -> None:
        """LOLA-OM does not read the opponent; it only watches its actions."""

    def opponent_params(self, batch: Batch, opponent_batch: Batch) -> torch.Tensor:
        steps = self.cfg.om_first_steps if self.model_fits == 0 else self.cfg.om_steps
        self.last_model_nll = fit_opponent_model(
            self.opponent_model,
            self.model_optimizer,
            matrix_states(opponent_batch.obs),
            opponent_batch.actions,
            steps,
        )
        self.model_fits += 1
        return self.opponent_model.logits.detach().clone()

    def policy_direction(
        self, batch: Batch, opponent_batch: Batch, baseline: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        direction, logs = super().policy_direction(batch, opponent_batch, baseline)
        return direction, {**logs, "model_nll": self.last_model_nll}

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "opponent_model": self.opponent_model.state_dict(),
            "model_optimizer": self.model_optimizer.state_dict(),
            "model_fits": self.model_fits,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.opponent_model.load_state_dict(state["opponent_model"])
        self.model_optimizer.load_state_dict(state["model_optimizer"])
        self.model_fits = int(state["model_fits"])
