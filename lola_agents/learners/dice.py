"""LOLA-DiCE: LOLA with k look-ahead steps through the DiCE estimator.

Reads top to bottom: hyper-parameters (:class:`LOLADiCEConfig`, paper's IPD
defaults), the DiCE objective (:func:`magic_box`, :func:`dice_objective`), and
the agent (:class:`LOLADiCEAgent`).

DiCE (Foerster et al. 2018b): the objective of agent i on sampled episodes is
``sum_t gamma^t r_i,t * MagicBox(sum_{t'<=t} sum_agents log pi(a_t'))`` with
``MagicBox(x) = exp(x - stop_grad(x))``. It evaluates to the sampled return,
and every derivative of it, of any order and with respect to either agent's
parameters, is an unbiased estimate of the same derivative of the true value.

Look-ahead (the agent "imagines" its opponent learning): starting from the
opponent's parameters ``theta_2^0`` (read from the opponent, or a fitted model
of it), the agent applies ``k`` simulated opponent steps
``theta_2^{m+1} = theta_2^m + inner_lr * grad_2 DiCE_2(theta_1, theta_2^m)``,
keeping the graph, so ``theta_2^k`` is a differentiable function of its own
``theta_1``. Its update ascends ``DiCE_1(theta_1, theta_2^k)``. Each step needs
episodes played by the parameters of that step: the first inner step uses the
real batch (played by ``theta_1, theta_2^0``); later inner steps and the outer
objective use episodes the agent samples itself in a private copy of the game
(``game``), as the official implementation does. With ``lookahead = 0`` this is
a naive DiCE policy-gradient learner on the real batch.

Variance reduction: a state-value baseline (tabular critic) enters as
``sum_t gamma^t b_t (MagicBox(deps_{<t}) - MagicBox(deps_{<=t}))`` (the baseline
of Mao et al. 2019, which keeps higher-order derivatives unbiased); optionally
the dependencies decay by ``loaded_decay`` per step ("loaded" DiCE style,
Farquhar et al. 2019), which trades bias for variance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

import coin_game_env
from coin_game_env.core import check_int, check_number
from lola_agents import shaping
from lola_agents.estimators import dice_objective, episode_discounts, returns_to_go
from lola_agents.learners.opponent_model import OpponentModel, OpponentModelSchedule
from lola_agents.learners.pg import (
    FixedTabularAgent,
    OpponentView,
    check_finite,
    matrix_states,
    rng_state,
    set_rng_state,
)
from lola_agents.policies.tabular import (
    TabularActor,
    TabularCritic,
    TabularPolicy,
    memory1_log_prob,
)
from lola_agents.rollout import Batch, StatefulAgent, collect
from lola_agents.seeding import Stream, numpy_generator

OPTIMIZERS = ("adam", "sgd")
BASELINES = ("critic", "batch_mean", "none")


@dataclass
class LOLADiCEConfig:
    """LOLA-DiCE hyper-parameters; defaults = the paper's IPD runs (batch 64 is the trainer's
    ``num_envs``); where the paper is silent, the official ``run_lola_dice.py`` (plain SGD,
    batch-mean baseline, Sonnet's default initialisation of the logits, std 1/sqrt(5)).

    Attributes:
        lookahead: k, simulated opponent steps (paper 2; 0 = naive DiCE learner).
        inner_lr: the opponent's learning rate in the look-ahead (paper 0.1).
        outer_lr: the agent's own learning rate (paper 0.2).
        optimizer: ``"sgd"`` (official script) or ``"adam"``.
        critic_lr: SGD learning rate of the tabular baseline critics.
        baseline: ``"critic"`` (state values of a tabular critic, Mao et al.'s
            form), ``"batch_mean"`` (subtract each step's batch-mean reward, as the
            official script does; unbiased for derivatives of every order) or ``"none"``.
        loaded_decay: None for plain DiCE; a factor in (0, 1] to decay the
            dependencies on past actions per step (loaded-DiCE style).
        gamma: discount (IPD 0.96).
        game: env id of the private game copy used for the look-ahead episodes.
        sim_envs: episodes per simulated rollout (None: as many as the real batch; paper 64).
        opponent_model: model the opponent from its actions (LOLA-OM style)
            instead of reading its parameters.
        om_lr, om_first_steps, om_steps, om_warm_start: the opponent model's fitting
            schedule (:class:`lola_agents.learners.opponent_model.OpponentModelSchedule`;
            the loss is the per-action mean NLL, as for LOLA-OM).
        init_std: initial logits ~ N(0, init_std^2).
        seed: seeds the initial logits and all sampling.
    """

    lookahead: int = 2
    inner_lr: float = 0.1
    outer_lr: float = 0.2
    optimizer: str = "sgd"
    critic_lr: float = 1.0
    baseline: str = "batch_mean"
    loaded_decay: float | None = None
    gamma: float = 0.96
    game: str = "ipd_v0"
    sim_envs: int | None = None
    opponent_model: bool = False
    om_lr: float = 0.1
    om_first_steps: int = 50
    om_steps: int = 1
    om_warm_start: bool = True
    init_std: float = 0.4472
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("lookahead", self.lookahead, 0)
        for name in ("inner_lr", "outer_lr", "om_lr"):
            check_number(name, getattr(self, name), allow_low=False)
        check_number("critic_lr", self.critic_lr)
        check_number("init_std", self.init_std)
        self.schedule()  # validates the om_* fields
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {self.baseline!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.loaded_decay is not None and not (0.0 < self.loaded_decay <= 1.0):
            raise ValueError(f"loaded_decay must be None or in (0, 1], got {self.loaded_decay!r}")
        if not (0.0 <= self.gamma < 1.0):
            raise ValueError(f"gamma must be in [0, 1), got {self.gamma!r}")
        coin_game_env.get_spec(self.game)  # unknown ids raise, listing the known ones
        if self.sim_envs is not None and (not isinstance(self.sim_envs, int) or self.sim_envs < 1):
            raise ValueError(f"sim_envs must be None or an integer >= 1, got {self.sim_envs!r}")

    def schedule(self) -> OpponentModelSchedule:
        return OpponentModelSchedule(self.om_lr, self.om_first_steps, self.om_steps, self.om_warm_start)


# --------------------------------------------------------------------------- DiCE objective






# --------------------------------------------------------------------------- agent
class LOLADiCEAgent(TabularActor, StatefulAgent):
    """LOLA-DiCE learner with a tabular memory-1 policy (any seat, any opponent).

    Against an agent that exposes its parameters (:meth:`acting_params`, e.g.
    another LOLA-DiCE or LOLA-PG agent, or a fixed memory-1 table) the look-ahead
    uses them; otherwise set ``opponent_model=True``.

    Args:
        config: hyper-parameters; keyword overrides are applied on top.
    """

    config_class = LOLADiCEConfig

    name = "LOLA-DiCE"

    def __init__(self, config: LOLADiCEConfig | None = None, **overrides: Any) -> None:
        base = asdict(config) if config is not None else {}
        self.cfg = LOLADiCEConfig(**{**base, **overrides})
        init_gen = torch.Generator().manual_seed(self.cfg.seed)
        self.policy = TabularPolicy(init_std=self.cfg.init_std, generator=init_gen)
        self.critic = TabularCritic()  # my returns
        self.opponent_critic = TabularCritic()  # the opponent's returns (its inner-step baseline)
        if self.cfg.optimizer == "adam":
            self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.cfg.outer_lr)
        else:
            self.optimizer = torch.optim.SGD(self.policy.parameters(), lr=self.cfg.outer_lr)
        critic_params = [*self.critic.parameters(), *self.opponent_critic.parameters()]
        self.critic_optimizer = torch.optim.SGD(critic_params, lr=self.cfg.critic_lr)
        self.opponent_model = TabularPolicy(logits=torch.zeros(5))
        self.model = OpponentModel(self.opponent_model, self.cfg.schedule())
        self.rng = numpy_generator(self.cfg.seed, Stream.ACTING)  # acting in the real game
        self.sim_rng = numpy_generator(self.cfg.seed, Stream.SIMULATION)  # simulated look-ahead episodes
        self.sim_env: Any = None
        self.sim_env_rng: str | None = None  # restored into the sim env when it is built
        self._acting_logits = self.policy.logits.detach().clone()
        self.opponent: OpponentView | None = None
        self.updates = 0

    @property
    def model_fits(self) -> int:
        return self.model.fits

    def set_opponent(self, opponent: Any) -> None:
        """Read access to the opponent's parameters (ignored with ``opponent_model=True``)."""
        if not self.cfg.opponent_model:
            self.opponent = OpponentView(opponent)

    # -- the look-ahead
    def _opponent_start(self, opponent_batch: Batch) -> torch.Tensor:
        if self.cfg.opponent_model:
            states = matrix_states(opponent_batch.obs)
            self.model.fit(lambda: self.opponent_model.log_prob(states, opponent_batch.actions))
            return self.opponent_model.logits.detach().clone()
        if self.opponent is None:
            raise RuntimeError(
                "LOLADiCEAgent has no opponent to read: call agent.set_opponent(other_agent) "
                "(the trainer does this) or set opponent_model=True"
            )
        return self.opponent.params().float()

    def _simulate(
        self, own: torch.Tensor, opponent: torch.Tensor, seat: int, steps: int, num_envs: int
    ) -> tuple[Batch, Batch]:
        """Episodes of my policy ``own`` vs ``opponent`` in the private game copy (mine, theirs)."""
        if self.sim_env is None or self.sim_env.num_envs != num_envs:
            self.sim_env = coin_game_env.make_vec(
                self.cfg.game, num_envs, seed=self.cfg.seed, max_cycles=steps
            )
            if self.sim_env_rng is not None:
                self.sim_env.rng_state = self.sim_env_rng
        actors = [FixedTabularAgent(own, self.sim_rng), FixedTabularAgent(opponent, self.sim_rng)]
        if seat == 1:
            actors.reverse()
        batches = collect(self.sim_env, actors, steps)
        return batches[seat], batches[1 - seat]

    def _objective(
        self,
        own: torch.Tensor,
        opponent: torch.Tensor,
        mine: Batch,
        theirs: Batch,
        for_opponent: bool,
    ) -> torch.Tensor:
        """DiCE objective of me (or of the opponent) on one pair of batches."""
        own_lp = memory1_log_prob(own, matrix_states(mine.obs), mine.actions)
        opp_lp = memory1_log_prob(opponent, matrix_states(theirs.obs), theirs.actions)
        subject = theirs if for_opponent else mine
        critic = self.opponent_critic if for_opponent else self.critic
        rewards = subject.rewards
        baseline = None
        if self.cfg.baseline == "critic":
            baseline = critic(matrix_states(subject.obs)).detach()
        elif self.cfg.baseline == "batch_mean":
            rewards = rewards - rewards.mean(dim=1, keepdim=True)
        discounts = episode_discounts(subject.episode_starts, self.cfg.gamma)
        first, second = (opp_lp, own_lp) if for_opponent else (own_lp, opp_lp)
        return dice_objective(
            first, second, rewards, discounts, subject.episode_starts,
            baseline, self.cfg.loaded_decay,
        )

    def lookahead_gradient(self, batch: Batch, opponent_batch: Batch, opponent_start: torch.Tensor) -> torch.Tensor:
        """Gradient ``[5]`` of ``DiCE_1(theta_1, theta_2^k)`` w.r.t. my logits (ascent direction),
        by :func:`lola_agents.shaping.unrolled_lookahead_gradient`."""
        seat, steps = batch.agent_index, batch.num_steps
        sim_envs = self.cfg.sim_envs or batch.num_envs

        def objective(own: torch.Tensor, opponent: torch.Tensor, step: int, for_opponent: bool) -> torch.Tensor:
            # The first inner step uses the real batch; later steps (and the outer objective
            # after a look-ahead) use episodes played by that step's parameters.
            if step == 0:
                mine, theirs = batch, opponent_batch
            else:
                mine, theirs = self._simulate(own.detach(), opponent.detach(), seat, steps, sim_envs)
            return self._objective(own, opponent, mine, theirs, for_opponent)

        return shaping.unrolled_lookahead_gradient(
            objective, self.policy.logits, opponent_start, self.cfg.lookahead, self.cfg.inner_lr
        )

    def learn(self, batch: Batch, opponent_batch: Batch) -> dict[str, float]:
        """One LOLA-DiCE update from the real batch ``[T, N]`` (plus simulated look-ahead episodes)."""
        opponent_start = self._opponent_start(opponent_batch)
        gradient = self.lookahead_gradient(batch, opponent_batch, opponent_start)
        check_finite(f"{self.name} policy gradient (update {self.updates + 1})", gradient)

        self.optimizer.zero_grad()
        self.policy.logits.grad = -gradient  # optimisers minimise
        before = self.policy.logits.detach().clone()
        self.optimizer.step()
        if not bool(torch.isfinite(self.policy.logits).all()):
            after = self.policy.logits.detach().clone()
            with torch.no_grad():
                self.policy.logits.copy_(before)
            check_finite(f"{self.name} logits after update {self.updates + 1}", after)

        # Critics regress on the real batch's returns-to-go (half squared error, as in NL-PG).
        losses = []
        for critic, subject in ((self.critic, batch), (self.opponent_critic, opponent_batch)):
            returns = returns_to_go(subject.rewards, subject.dones, self.cfg.gamma)
            losses.append(0.5 * (critic(matrix_states(subject.obs)) - returns).pow(2).mean())
        self.critic_optimizer.zero_grad()
        (losses[0] + losses[1]).backward()
        self.critic_optimizer.step()
        self.updates += 1
        return {"grad_norm": float(gradient.norm()), "critic_loss": float(losses[0].detach())}

    # -- checkpoints (tensors + JSON text only)
    def config(self) -> dict[str, Any]:
        return asdict(self.cfg)

    def state_dict(self) -> dict[str, Any]:
        sim_rng = (
            self.sim_env.rng_state if self.sim_env is not None
            else self.sim_env_rng
        )
        return {
            "policy": self.policy.state_dict(),
            "critic": self.critic.state_dict(),
            "opponent_critic": self.opponent_critic.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "opponent_model": self.opponent_model.state_dict(),
            "model_optimizer": self.model.optimizer.state_dict(),
            "model_fits": self.model.fits,
            "rng": rng_state(self.rng),
            "sim_rng": rng_state(self.sim_rng),
            "sim_env_rng": sim_rng or "",
            "acting_logits": self._acting_logits.clone(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.critic.load_state_dict(state["critic"])
        self.opponent_critic.load_state_dict(state["opponent_critic"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        self.model.load_state_dict(
            {"module": state["opponent_model"], "optimizer": state["model_optimizer"],
             "fits": state["model_fits"]}
        )
        set_rng_state(self.rng, state["rng"])
        set_rng_state(self.sim_rng, state["sim_rng"])
        self.sim_env = None  # rebuilt on the next update, with its generator restored
        self.sim_env_rng = state["sim_env_rng"] or None
        self._acting_logits = state["acting_logits"].clone()
        self.updates = int(state["updates"])

