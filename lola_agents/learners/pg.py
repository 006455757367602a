"""Naive policy gradient (NL-PG) and LOLA-PG for tabular memory-1 policies.

Reads top to bottom:

1. Hyper-parameters (:class:`NaivePGConfig`, :class:`LOLAPGConfig`, paper defaults).
2. The estimators, pure functions of time-major tensors ``[T, N]``:
   discounts, returns-to-go, within-episode cumulative sums, the first-order
   policy-gradient surrogate and LOLA's second-order surrogate, and
   :func:`sampled_lola_terms`, which turns one sampled batch into the three
   vectors LOLA needs (checked against ``lola_agents.learners.exact`` in the tests).
3. The agents: :class:`NaivePGAgent` (actor-critic) and :class:`LOLAPGAgent`.

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

import json
from dataclasses import asdict, dataclass
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
from lola_agents.policies.tabular import (
    TabularActor,
    TabularCritic,
    TabularPolicy,
    matrix_states,
    memory1_log_prob,
)
from lola_agents.rollout import BaseAgent, Batch, StatefulAgent
from lola_agents.seeding import Stream, numpy_generator


class NonFiniteUpdateError(FloatingPointError):
    """An update produced a NaN or infinite value; training stops instead of going on silently."""


def check_finite(what: str, value: torch.Tensor | float, hint: str = "") -> None:
    """Raise :class:`NonFiniteUpdateError` naming ``what`` unless every entry is finite."""
    tensor = torch.as_tensor(value)
    if not bool(torch.isfinite(tensor).all()):
        shown = tensor.detach().flatten()[:8].tolist()
        raise NonFiniteUpdateError(
            f"non-finite update: {what} = {shown}. "
            + (hint or "Lower the learning rate or check the rewards; the parameters were not changed.")
        )


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
def rng_state(rng: np.random.Generator) -> str:
    """JSON text of a numpy generator's state (checkpoints store no pickled objects)."""
    return json.dumps(rng.bit_generator.state)


def set_rng_state(rng: np.random.Generator, text: str) -> None:
    rng.bit_generator.state = json.loads(text)


class FixedTabularAgent(BaseAgent):
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

    def act(self, obs: np.ndarray, state: Any, episode_starts: np.ndarray):
        actions, log_probs = self.policy.sample(np.asarray(obs), self.rng)
        return actions, log_probs, state

    def acting_params(self) -> torch.Tensor:
        return self.policy.logits.detach()

    def prob_action0(self) -> np.ndarray:
        return self.policy.prob_action0()

    def config(self) -> dict[str, Any]:
        return {"logits": self.policy.logits.detach().tolist(), "seed": self.seed}


class NaivePGAgent(TabularActor, StatefulAgent):
    """Naive actor-critic (NL-PG) with a tabular memory-1 policy and a tabular critic.

    An :class:`~lola_agents.rollout.Agent`: :meth:`act` samples from the policy,
    :meth:`learn` takes one gradient-ascent step on the sampled value estimate.

    Args:
        config: hyper-parameters (defaults: the paper's); keyword overrides are
            applied on top, e.g. ``NaivePGAgent(lr=0.5)``.
    """

    config_class: type[NaivePGConfig] = NaivePGConfig
    name = "NL-PG"

    def __init__(self, config: NaivePGConfig | None = None, **overrides: Any) -> None:
        base = asdict(config) if config is not None else {}
        self.cfg = self.config_class(**{**base, **overrides})
        init_gen = torch.Generator().manual_seed(self.cfg.seed)
        self.policy = TabularPolicy(init_std=self.cfg.init_std, generator=init_gen)
        self.critic = TabularCritic()
        self.policy_optimizer = torch.optim.SGD(self.policy.parameters(), lr=self.cfg.lr)
        self.critic_optimizer = torch.optim.SGD(self.critic.parameters(), lr=self.cfg.critic_lr)
        self.rng = numpy_generator(self.cfg.seed, Stream.ACTING)
        self._acting_logits = self.policy.logits.detach().clone()
        self.updates = 0

    # -- learning
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

    def learn(self, batch: Batch, opponent_batch: Batch) -> dict[str, float]:
        """One actor-critic update from this agent's batch ``[T, N]``; returns logged scalars."""
        obs = matrix_states(batch.obs)
        returns = returns_to_go(batch.rewards, batch.dones, self.cfg.gamma)
        values = self.critic(obs)
        direction, logs = self.policy_direction(batch, opponent_batch, values.detach())
        check_finite(f"{self.name} policy step (update {self.updates + 1})", direction)
        # Half squared error: a state's step is lr * (its share of samples) * error,
        # so critic_lr = 1 never overshoots even when one state holds every sample.
        critic_loss = 0.5 * (values - returns).pow(2).mean()
        check_finite(f"{self.name} critic loss (update {self.updates + 1})", critic_loss.detach())

        self.policy_optimizer.zero_grad()
        self.policy.logits.grad = -direction.to(self.policy.logits.dtype)  # SGD minimises
        before = self.policy.logits.detach().clone()
        self.policy_optimizer.step()
        if not bool(torch.isfinite(self.policy.logits).all()):
            after = self.policy.logits.detach().clone()
            with torch.no_grad():
                self.policy.logits.copy_(before)  # leave the agent as it was
            check_finite(f"{self.name} logits after update {self.updates + 1}", after)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        self.updates += 1
        return {**logs, "critic_loss": float(critic_loss.detach())}

    # -- checkpoints (tensors + JSON only)
    def config(self) -> dict[str, Any]:
        return asdict(self.cfg)

    def state_dict(self) -> dict[str, Any]:
        """Everything that changes during training: tensors, optimiser states, RNG as JSON text."""
        return {
            "policy": self.policy.state_dict(),
            "critic": self.critic.state_dict(),
            "policy_optimizer": self.policy_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "rng": rng_state(self.rng),
            "acting_logits": self._acting_logits.clone(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.critic.load_state_dict(state["critic"])
        self.policy_optimizer.load_state_dict(state["policy_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        set_rng_state(self.rng, state["rng"])
        self._acting_logits = state["acting_logits"].clone()
        self.updates = int(state["updates"])



class LOLAPGAgent(NaivePGAgent):
    """LOLA-PG: the naive actor-critic step plus ``eta`` times the sampled shaping term.

    The opponent's parameters are read through :meth:`set_opponent` (the paper's
    LOLA-PG knows them). Against agents without readable parameters use LOLA-OM.
    """

    config_class = LOLAPGConfig
    name = "LOLA-PG"

    def __init__(self, config: LOLAPGConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.opponent: OpponentView | None = None

    def set_opponent(self, opponent: Any) -> None:
        """Give the learner read access to the opponent agent's parameters."""
        self.opponent = OpponentView(opponent)

    def opponent_params(self, batch: Batch, opponent_batch: Batch) -> torch.Tensor:
        """The opponent's logits ``[5]`` assumed to have produced ``opponent_batch``."""
        if self.opponent is None:
            raise RuntimeError(
                "LOLAPGAgent has no opponent to read: call agent.set_opponent(other_agent) "
                "(lola_agents.trainer.train does this), or use LOLA-OM"
            )
        return self.opponent.params()

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
