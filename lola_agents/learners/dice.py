"""LOLA-DiCE: LOLA with k look-ahead steps through the DiCE estimator.

Reads top to bottom: hyper-parameters (:class:`LOLADiCEConfig`, paper's IPD
defaults) and the agent (:class:`LOLADiCEAgent`), a preset of
:class:`lola_agents.learners.lola.LOLAAgent`; the DiCE objective is
:func:`lola_agents.estimators.dice_objective`.

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

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import torch

import coin_game_env
from coin_game_env.core import check_int, check_number
from lola_agents import shaping
from lola_agents.estimators import dice_objective, episode_discounts, returns_to_go
from lola_agents.learners.lola import LOLAAgent
from lola_agents.learners.opponent_model import OpponentModelSchedule
from lola_agents.learners.pg import FixedTabularAgent, TabularLearner, matrix_states
from lola_agents.policies.tabular import TabularCritic, memory1_log_prob
from lola_agents.rollout import Batch, collect
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


# --------------------------------------------------------------------------- agent
class LOLADiCEAgent(TabularLearner, LOLAAgent):
    """LOLA-DiCE learner with a tabular memory-1 policy (any seat, any opponent): a preset of
    :class:`~lola_agents.learners.lola.LOLAAgent` whose direction is the k-step look-ahead
    gradient on fresh episodes and whose critics are two tables (mine and the opponent's).

    Against an agent that exposes its parameters (:meth:`acting_params`, e.g.
    another LOLA-DiCE or LOLA-PG agent, or a fixed memory-1 table) the look-ahead
    uses them; otherwise set ``opponent_model=True``.

    Args:
        config: hyper-parameters; keyword overrides are applied on top.
    """

    config_class = LOLADiCEConfig
    name = "LOLA-DiCE"

    def _build(self) -> None:
        cfg = self.cfg
        self._build_table(cfg.init_std)
        self.critic = TabularCritic()  # my returns
        self.opponent_critic = TabularCritic()  # the opponent's returns (its inner-step baseline)
        optimizer = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.SGD
        self.policy_optimizer = optimizer(self.policy.parameters(), lr=cfg.outer_lr)
        critic_params = [*self.critic.parameters(), *self.opponent_critic.parameters()]
        self.critic_optimizer = torch.optim.SGD(critic_params, lr=cfg.critic_lr)
        self._build_model(cfg.schedule())
        self.models_opponent = cfg.opponent_model
        self.sim_rng = numpy_generator(cfg.seed, Stream.SIMULATION)  # simulated look-ahead episodes
        self.sim_env: Any = None
        self.sim_env_rng: str | None = None  # restored into the sim env when it is built

    # -- the look-ahead
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

    # -- learning (the loop is LOLAAgent.learn)
    def _prepare(self, batch: Batch, opponent_batch: Batch) -> SimpleNamespace:
        return SimpleNamespace(batch=batch, opponent_batch=opponent_batch)

    def _direction(self, u: SimpleNamespace) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """The look-ahead gradient from the real batch ``[T, N]`` (plus simulated episodes)."""
        opponent_start = self._opponent_logits(u.opponent_batch).float()
        gradient = self.lookahead_gradient(u.batch, u.opponent_batch, opponent_start)
        return {"logits": gradient}, {"grad_norm": float(gradient.norm())}

    def _critic_backward(self, u: SimpleNamespace) -> float:
        # Both critics regress on the real batch's returns-to-go (half squared error, as in NL-PG).
        losses = []
        for critic, subject in ((self.critic, u.batch), (self.opponent_critic, u.opponent_batch)):
            returns = returns_to_go(subject.rewards, subject.dones, self.cfg.gamma)
            losses.append(0.5 * (critic(matrix_states(subject.obs)) - returns).pow(2).mean())
        (losses[0] + losses[1]).backward()
        return float(losses[0].detach())

    # -- checkpoints: LOLAAgent's, with this layout
    def _state_parts(self) -> dict[str, str]:
        parts = super()._state_parts()
        parts.update(optimizer="policy_optimizer", opponent_critic="opponent_critic", sim_rng="sim_rng",
                     sim_env_rng="_sim_env_rng_text")
        del parts["policy_optimizer"]
        return parts

    @property
    def _sim_env_rng_text(self) -> str:
        """The simulation env's generator state as JSON text ("" before the first simulation)."""
        return (self.sim_env.rng_state if self.sim_env is not None else self.sim_env_rng) or ""

    @_sim_env_rng_text.setter
    def _sim_env_rng_text(self, text: str) -> None:
        self.sim_env = None  # rebuilt on the next update, with its generator restored
        self.sim_env_rng = text or None
