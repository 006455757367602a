"""Naive policy gradient (NL-PG) and LOLA-PG for tabular memory-1 policies.

Reads top to bottom:

1. Hyper-parameters (:class:`NaivePGConfig`, :class:`LOLAPGConfig`, paper defaults).
2. The estimators, pure functions of time-major tensors ``[T, N]``:
   discounts, returns-to-go, within-episode cumulative sums, the first-order
   policy-gradient surrogate and LOLA's second-order surrogate, and
   :func:`sampled_lola_terms`, which turns one sampled batch into the three
   vectors LOLA needs (checked against ``lola_agents.learners.exact`` in the tests).
3. The agents: :class:`NaivePGAgent` (actor-critic) and :class:`LOLAPGAgent`, presets of
   :class:`lola_agents.learners.lola.LOLAAgent` (its update loop and checkpoints) whose
   tabular components (policy, acting stream, the opponent read or modelled) are
   :class:`TabularLearner`.

Estimators (Foerster et al. 2018, section 3.2; ``V_i`` is the un-normalised
discounted value ``E[sum_t gamma^t r_i,t]``, as in ``lola_agents.learners.exact``):

* first order: ``grad_k V_i ~ mean_n sum_t gamma^t A_i,t grad_k log pi_k(a_k,t)``
  with ``A_i,t`` = discounted return-to-go of agent i minus a critic value of the state;
* second order: ``grad_1 grad_2 V_2 ~ mean_n sum_t gamma^t (r_2,t - b_t)
  (sum_{l<=t} grad_1 log pi_1)(sum_{l<=t} grad_2 log pi_2)^T``; the baseline
  ``b_t`` is the batch mean of the reward at step t. It is unbiased because
  ``E[grad L1 grad L2^T] = grad_1 grad_2 E[1] = 0`` for the cumulative log-probs.
* LOLA's shaping term for agent 1: ``grad_1[ stop(grad_2 V_1) . grad_2 V_2 ]``,
  obtained by differentiating the second-order surrogate.

Who knows the opponent's parameters: in the paper's LOLA-PG each agent reads
the other's policy parameters. :meth:`LOLAPGAgent.set_opponent` gives the
learner a reference to the opponent agent (the trainer calls it); the learner
then reads :meth:`acting_params`, the parameters that produced the batch, so
the order in which the two agents learn does not matter. LOLA-OM
(``lola_agents.learners.opponent_model``) replaces that reference by a model fitted to
the opponent's observed actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from coin_game_env.core import check_number
from lola_agents import shaping
from lola_agents.estimators import (
    episode_discounts,
    first_order_surrogate,
    returns_to_go,
    second_order_surrogate,
)
from lola_agents.learners.lola import (  # noqa: F401  (NonFiniteUpdateError: importable from here as before)
    LOLAAgent,
    NonFiniteUpdateError,
    check_finite,
)
from lola_agents.policies.tabular import (
    TabularActor,
    TabularCritic,
    TabularPolicy,
    matrix_states,
    memory1_log_prob,
)
from lola_agents.rollout import BaseAgent, Batch
from lola_agents.seeding import Stream, numpy_generator


# --------------------------------------------------------------------------- 1. hyper-parameters
@dataclass
class NaivePGConfig:
    """Naive actor-critic on a tabular memory-1 policy (paper's IPD-PG settings).

    Attributes:
        lr: policy learning rate (plain gradient ascent on the un-normalised value; paper 1).
        critic_lr: learning rate of the tabular critic (paper 1).
        gamma: discount (IPD 0.96; use 0.9 for IMP as in the paper).
        init_std: initial logits ~ N(0, init_std^2) (paper 1).
        seed: seeds the initial logits and the action sampling.
    """

    lr: float = 1.0
    critic_lr: float = 1.0
    gamma: float = 0.96
    init_std: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        check_number("lr", self.lr, allow_low=False)
        check_number("critic_lr", self.critic_lr)
        check_number("init_std", self.init_std)
        if not (isinstance(self.gamma, int | float) and 0.0 <= self.gamma < 1.0):
            raise ValueError(f"gamma must be in [0, 1), got {self.gamma!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")


@dataclass
class LOLAPGConfig(NaivePGConfig):
    """LOLA-PG: naive actor-critic plus the shaping term (paper: lr 1, eta 1).

    Attributes:
        eta: the opponent's learning rate LOLA assumes in its look-ahead (paper 1).
    """

    eta: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("eta", self.eta)


# --------------------------------------------------------------------------- 2. estimators
@dataclass
class LOLATerms:
    """The three gradient estimates of one LOLA-PG update of agent 1 (opponent 2), each ``[d]``.

    Attributes:
        naive: grad_1 V_1.
        own_value_wrt_opponent: grad_2 V_1 (how the opponent's parameters move my value).
        shaping: grad_1[ stop(grad_2 V_1) . grad_2 V_2 ].
    """

    naive: torch.Tensor
    own_value_wrt_opponent: torch.Tensor
    shaping: torch.Tensor | None


class TabularPGValues:
    """LOLA-PG's value model on one sampled batch, seen from the learner (player 0 = me).

    A :class:`lola_agents.shaping.ValueModel` over memory-1 logits ``{"logits": [5]}``:

    * order 1, my loss: ``-(S(log pi_me) + S(log pi_opp))`` with the first-order
      surrogate ``S`` of my advantages, so its gradients are ``-grad_me V_me`` and
      ``-grad_opp V_me`` (my baseline is a function of my state only, so it stays valid
      for the opponent's actions);
    * order 2, the opponent's loss: ``-`` the paper's second-order surrogate of its
      rewards, whose mixed derivative estimates ``grad_me grad_opp V_opp``.

    Args:
        batch, opponent_batch: the two seats' slices of one rollout ``[T, N]``.
        gamma: discount.
        own_baseline: ``[T, N]`` critic values of my states (None: no baseline).
    """

    parts = (None,)
    same_orders = False
    batch_dims = 0

    def __init__(
        self, batch: Batch, opponent_batch: Batch, gamma: float, own_baseline: torch.Tensor | None = None
    ) -> None:
        self.batch, self.opponent_batch = batch, opponent_batch
        self.own_obs, self.opp_obs = matrix_states(batch.obs), matrix_states(opponent_batch.obs)
        self.discounts = episode_discounts(batch.episode_starts, gamma)
        own_returns = returns_to_go(batch.rewards, batch.dones, gamma)
        self.advantages = own_returns if own_baseline is None else own_returns - own_baseline.detach()

    def loss(self, i: int, params: tuple[Any, Any], order: int, part: Any) -> torch.Tensor:
        own_lp = memory1_log_prob(params[0]["logits"], self.own_obs, self.batch.actions)
        opp_lp = memory1_log_prob(params[1]["logits"], self.opp_obs, self.opponent_batch.actions)
        if i == 0 and order == 1:
            return -(
                first_order_surrogate(own_lp, self.advantages, self.discounts)
                + first_order_surrogate(opp_lp, self.advantages, self.discounts)
            )
        if i == 1 and order == 2:
            return -second_order_surrogate(
                own_lp, opp_lp, self.opponent_batch.rewards, self.discounts, self.batch.episode_starts
            )
        raise ValueError(
            "LOLA-PG's sampled model estimates the learner's gradients (player 0, order 1) and "
            f"the opponent's mixed derivatives (player 1, order 2), not player {i} order {order}"
        )

    def step_scale(self, j: int) -> float:
        return 1.0


def sampled_lola_terms(
    own_params: torch.Tensor,
    opponent_params: torch.Tensor,
    batch: Batch,
    opponent_batch: Batch,
    gamma: float,
    own_baseline: torch.Tensor | None = None,
    with_shaping: bool = True,
) -> LOLATerms:
    """Policy-gradient estimates of LOLA's terms from one sampled batch
    (:class:`TabularPGValues` in a :class:`lola_agents.shaping.GradientBundle`).

    Args:
        own_params, opponent_params: memory-1 logits ``[5]`` (order ``[CC, CD, DC, DD, start]``)
            that generated the batch.
        batch, opponent_batch: the two seats' slices of one rollout ``[T, N]``.
        gamma: discount.
        own_baseline: ``[T, N]`` critic values of my states (None: no baseline).
        with_shaping: also estimate the second-order shaping term.

    Returns:
        :class:`LOLATerms` (gradients of the un-normalised value, float32).
    """
    bundle = lola_bundle(own_params, opponent_params, batch, opponent_batch, gamma, own_baseline)
    naive = -bundle.naive(0)["logits"]
    own_wrt_opp = -bundle.gradient(0, 1)["logits"]
    shaping_term = bundle.shaping(0)["logits"] if with_shaping else None
    return LOLATerms(naive, own_wrt_opp, shaping_term)


def lola_bundle(
    own_params: torch.Tensor,
    opponent_params: torch.Tensor,
    batch: Batch,
    opponent_batch: Batch,
    gamma: float,
    own_baseline: torch.Tensor | None = None,
    eta: float = 1.0,
) -> shaping.GradientBundle:
    """The derivatives LOLA-PG needs at the logits ``[5]`` that generated the batch."""
    model = TabularPGValues(batch, opponent_batch, gamma, own_baseline)
    params = ({"logits": own_params.detach().float()}, {"logits": opponent_params.detach().float()})
    return shaping.GradientBundle(model, params, eta)


# --------------------------------------------------------------------------- opponents
class OpponentView:
    """Read access to an opponent's memory-1 parameters (what LOLA-PG assumes it knows).

    ``params()`` returns the logits ``[5]`` that produced the latest rollout.
    """

    def __init__(self, agent: Any) -> None:
        if hasattr(agent, "acting_params"):
            self._read = agent.acting_params
        elif hasattr(agent, "p_action0_by_obs"):  # lola_agents.fixed.Memory1Agent: fixed table
            probs = torch.as_tensor(np.asarray(agent.p_action0_by_obs, dtype=np.float64))
            # Deterministic entries become large finite logits (P = 1 - 2e-9).
            logits = torch.logit(probs.clamp(1e-9, 1 - 1e-9)).float()
            self._read = lambda: logits
        else:
            raise TypeError(
                f"LOLA-PG needs the opponent's memory-1 parameters, but {type(agent).__name__} "
                "exposes neither acting_params() nor a fixed table p_action0_by_obs; "
                "use LOLA-OM (lola_agents.learners.opponent_model.LOLAOMAgent), which models the "
                "opponent from its actions instead"
            )
        self.agent = agent

    def params(self) -> torch.Tensor:
        value = self._read()
        if isinstance(value, dict):  # a LOLAAgent with a tabular policy: {"logits": [5]}
            if set(value) != {"logits"} or tuple(value["logits"].shape) != (5,):
                raise TypeError(
                    f"{type(self.agent).__name__} has no memory-1 parameters (got {sorted(value)})"
                )
            value = value["logits"]
        return value.detach()


# --------------------------------------------------------------------------- 3. agents
class FixedTabularAgent(TabularActor, BaseAgent):
    """A frozen memory-1 policy given by its logits ``[5]`` (order ``[CC, CD, DC, DD, start]``).

    Plays e.g. the final policy of an exact learner (``lola_agents.learners.exact`` parameters)
    against a sampled learner; LOLA-PG and LOLA-DiCE can read its parameters.

    Args:
        logits: the 5 logits.
        seed: seed of the sampling generator, or an existing numpy generator to share.
    """

    def __init__(self, logits: Any, seed: int | np.random.Generator | None = None) -> None:
        self.policy = TabularPolicy(logits=torch.as_tensor(logits).detach().float())
        self.seed = None if isinstance(seed, np.random.Generator) else seed
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self._acting_logits = self.policy.logits.detach()

    def config(self) -> dict[str, Any]:
        return {"logits": self.policy.logits.detach().tolist(), "seed": self.seed}


class TabularLearner(TabularActor):
    """The tabular parts of the paper's IPD presets of :class:`~lola_agents.learners.lola.LOLAAgent`
    (NL-PG, LOLA-PG, LOLA-OM, LOLA-DiCE), which take the one agent's update loop and checkpoint
    code and replace its components:

    * the policy: a :class:`TabularPolicy`, logits ~ ``N(0, init_std^2)`` drawn from
      ``torch.Generator().manual_seed(seed)``;
    * acting: sampled from a numpy stream (``numpy_generator(seed, Stream.ACTING)``), the
      logits that played kept for the opponent to read (:class:`TabularActor`);
    * the opponent: its logits read through :class:`OpponentView`, or (``models_opponent``)
      a memory-1 :class:`~lola_agents.learners.opponent_model.OpponentModel` fitted to its actions.
    """

    model: Any = None  # an OpponentModel where the preset can model the opponent
    models_opponent = False
    _truth: OpponentView | None = None  # a modelling learner reads the truth for diagnostics only

    def _build_table(self, init_std: float) -> None:
        self.policy = TabularPolicy(init_std=init_std, generator=torch.Generator().manual_seed(self.cfg.seed))
        self.rng = numpy_generator(self.cfg.seed, Stream.ACTING)
        self._acting_logits = self.policy.logits.detach().clone()

    def _build_model(self, schedule: Any) -> None:
        from lola_agents.learners.opponent_model import OpponentModel

        # Uninformed start: P(action 0) = 1/2 in every state.
        self.opponent_model = TabularPolicy(logits=torch.zeros(5))
        self.model = OpponentModel(self.opponent_model, schedule)
        self.model_optimizer = self.model.optimizer

    @property
    def model_fits(self) -> int:
        return self.model.fits

    @model_fits.setter
    def model_fits(self, fits: int) -> None:
        self.model.fits = fits

    def set_opponent(self, opponent: Any) -> None:
        """Read access to the opponent's memory-1 parameters. A learner that models its opponent
        keeps them (if readable) for the logged diagnostics only, never for the update."""
        if not self.models_opponent:
            self.opponent = OpponentView(opponent)
            return
        try:
            self._truth = OpponentView(opponent)
        except TypeError:
            self._truth = None

    def _opponent_logits(self, opponent_batch: Batch) -> torch.Tensor:
        """The opponent's logits ``[5]`` assumed to have produced ``opponent_batch``: read, or
        the model after one fit to its actions."""
        if self.models_opponent:
            states = matrix_states(opponent_batch.obs)
            self.model.fit(lambda: self.opponent_model.log_prob(states, opponent_batch.actions))
            return self.opponent_model.logits.detach().clone()
        if self.opponent is None:
            raise RuntimeError(
                f"{type(self).__name__} has no opponent to read: call agent.set_opponent(other_agent) "
                "(lola_agents.trainer.train does this), or model it from its actions (LOLA-OM)"
            )
        return self.opponent.params()

    def _state_parts(self) -> dict[str, str]:
        parts = {key: key for key in ("policy", "critic", "policy_optimizer", "critic_optimizer", "rng", "updates")}
        parts["acting_logits"] = "_acting_logits"
        if self.model is not None:
            parts.update(opponent_model="opponent_model", model_optimizer="model_optimizer", model_fits="model_fits")
        return parts


class NaivePGAgent(TabularLearner, LOLAAgent):
    """Naive actor-critic (NL-PG) with a tabular memory-1 policy and a tabular critic: a
    preset of :class:`~lola_agents.learners.lola.LOLAAgent` (its update loop and checkpoints).

    An :class:`~lola_agents.rollout.Agent`: :meth:`act` samples from the policy,
    :meth:`learn` takes one gradient-ascent step on the sampled value estimate.

    Args:
        config: hyper-parameters (defaults: the paper's); keyword overrides are
            applied on top, e.g. ``NaivePGAgent(lr=0.5)``.
    """

    config_class: type[NaivePGConfig] = NaivePGConfig
    name = "NL-PG"

    def _build(self) -> None:
        self._build_table(self.cfg.init_std)
        self.critic = TabularCritic()
        self.policy_optimizer = torch.optim.SGD(self.policy.parameters(), lr=self.cfg.lr)
        self.critic_optimizer = torch.optim.SGD(self.critic.parameters(), lr=self.cfg.critic_lr)

    # -- learning (the loop is LOLAAgent.learn)
    def _prepare(self, batch: Batch, opponent_batch: Batch) -> SimpleNamespace:
        returns = returns_to_go(batch.rewards, batch.dones, self.cfg.gamma)
        return SimpleNamespace(batch=batch, opponent_batch=opponent_batch, returns=returns,
                               values=self.critic(matrix_states(batch.obs)))

    def _direction(self, u: SimpleNamespace) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        direction, logs = self.policy_direction(u.batch, u.opponent_batch, u.values.detach())
        return {"logits": direction}, logs

    def _critic_backward(self, u: SimpleNamespace) -> float:
        # Half squared error: a state's step is lr * (its share of samples) * error,
        # so critic_lr = 1 never overshoots even when one state holds every sample.
        critic_loss = 0.5 * (u.values - u.returns).pow(2).mean()
        critic_loss.backward()
        return float(critic_loss.detach())

    def policy_direction(
        self, batch: Batch, opponent_batch: Batch, baseline: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Ascent direction ``[5]`` for the policy logits, plus logged scalars."""
        own = self.acting_params().float().requires_grad_(True)
        log_probs = memory1_log_prob(own, matrix_states(batch.obs), batch.actions)
        discounts = episode_discounts(batch.episode_starts, self.cfg.gamma)
        advantages = returns_to_go(batch.rewards, batch.dones, self.cfg.gamma) - baseline
        (naive,) = torch.autograd.grad(first_order_surrogate(log_probs, advantages, discounts), own)
        return naive, {"grad_norm": float(naive.norm())}


class LOLAPGAgent(NaivePGAgent):
    """LOLA-PG: the naive actor-critic step plus ``eta`` times the sampled shaping term.

    The opponent's parameters are read through :meth:`set_opponent` (the paper's
    LOLA-PG knows them). Against agents without readable parameters use LOLA-OM.
    """

    config_class = LOLAPGConfig
    name = "LOLA-PG"

    def opponent_params(self, batch: Batch, opponent_batch: Batch) -> torch.Tensor:
        """The opponent's logits ``[5]`` assumed to have produced ``opponent_batch``."""
        return self._opponent_logits(opponent_batch)

    def policy_direction(
        self, batch: Batch, opponent_batch: Batch, baseline: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        opponent = self.opponent_params(batch, opponent_batch)
        bundle = lola_bundle(
            self.acting_params(), opponent, batch, opponent_batch, self.cfg.gamma, baseline, self.cfg.eta
        )
        direction = -shaping.LOLA().direction(bundle, 0)["logits"]  # ascent on my value
        return direction, {
            "grad_norm": float(bundle.naive(0)["logits"].norm()),
            "shaping_norm": float(bundle.shaping(0)["logits"].norm()),
        }
