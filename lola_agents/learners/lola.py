"""The one LOLA agent: naive PG, LOLA-PG, LOLA-DiCE (parameter or policy space),
LOLA-OM and advantage alignment over any policy, tabular or neural.

Reads top to bottom:

1. :class:`LOLAConfig`: hyper-parameters (``method`` picks the rule, ``network`` the
   policy: ``"tabular"`` memory-1 tables for the iterated matrix games, ``"mlp"`` or
   ``"conv_gru"`` for the coin game).
2. :class:`SampledValues`: both players' losses on one batch as functions of their
   parameters, the :class:`lola_agents.shaping.ValueModel` the update differentiates.
3. :class:`LOLAAgent`: acting, the opponent (its true parameters or a fitted model),
   one update, checkpoints.

The update of agent 1 against opponent 2 (parameters theta_1, theta_2; V_i the
discounted value of agent i estimated from one batch) is :class:`lola_agents.shaping.LOLA`:

* naive: ``d = grad_1 V_1`` (policy gradient with GAE advantages);
* LOLA-PG (paper): ``d = grad_1 V_1 + eta grad_1[ stop(grad_2 V_1) . grad_2 V_2 ]``
  with the paper's second-order estimator of ``grad_1 grad_2 V_2``;
* LOLA-DiCE: the opponent takes one look-ahead step
  ``theta_2' = theta_2 + eta grad_2 V_2(theta_1, theta_2)`` on the same
  trajectories and ``d = grad_1 V_1 + eta grad_1[ stop(grad_2' V_1(theta_1, theta_2')) . grad_2 V_2 ]``,
  with V estimated by loaded DiCE (advantages, dependencies decayed per step);
  ``lookahead_space="policy"`` takes that step on the opponent's logits at every
  visited step instead of its weights;
* LOLA-OM: either rule with theta_2 replaced by a policy of my own architecture
  fitted by maximum likelihood to the opponent's actions;
* advantage alignment (:mod:`lola_agents.learners.adalign`): the naive rule with my
  advantage ``A_1,t + beta (sum_{k<t} gamma^(t-k) A_1,k) A_2,t``.

Every term is linear in a mean over games once its stop-gradient vectors are known,
so each pass runs over slices of ``chunk_games`` games and sums: the peak memory is
one slice's double-backward graph and the result equals the full-batch update.

The opponent's advantages come from my own critic (a second value output trained on
the opponent's observed rewards), so LOLA needs nothing of the opponent but its
policy (LOLA) or its actions (LOLA-OM).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from coin_game_env.core import check_int, check_number
from lola_agents import shaping
from lola_agents.estimators import (
    dependency_decay_matrix,
    episode_discounts,
    gae,
    loaded_dice_objective,
    policy_objective,
    second_order_surrogate,
)
from lola_agents.learners.adalign import aligned_advantages
from lola_agents.learners.opponent_model import (
    OpponentModel,
    OpponentModelSchedule,
    shaping_agreement,
    visited_kl,
)
from lola_agents.learners.pg import check_finite
from lola_agents.metrics import joint_own_coin_rate
from lola_agents.policies.coin import NETWORKS, canonical_obs, game_slices
from lola_agents.policies.tabular import MemoryOneNet, matrix_states
from lola_agents.rollout import Batch, StatefulAgent
from lola_agents.seeding import Stream, torch_generator

METHODS = ("naive", "lola_pg", "lola_dice", "advantage_alignment")
NETWORK_NAMES = ("tabular", *NETWORKS)
OPTIMIZERS = ("sgd", "adam")


# --------------------------------------------------------------------------- 1. hyper-parameters
@dataclass
class LOLAConfig:
    """One LOLA learner over any policy. Defaults: the paper's coin-game LOLA-PG (official settings).

    Attributes:
        method: ``"naive"``, ``"lola_pg"`` (paper's estimator), ``"lola_dice"`` or
            ``"advantage_alignment"`` (the first-order successor of Duque et al. 2024).
        opponent_model: LOLA-OM: model the opponent from its actions instead of
            reading its parameters (no effect with ``"naive"`` or
            ``"advantage_alignment"``, which need only the opponent's rewards).
        network: ``"conv_gru"`` (paper's coin-game network), ``"mlp"`` (fast), or
            ``"tabular"`` (memory-1 tables of the iterated matrix games, logits ~ N(0, 1)
            as in the paper; needs ``num_actions=2``).
        grid_size, num_actions, egocentric_env: must match the env's options (coin game).
        mlp_hidden: hidden widths of the MLP.
        mlp_history: previous observations the MLP sees (1 = one step back); a
            longer history lets it hold a grudge for a few steps, which a
            reciprocal (tit-for-tat-like) coin-game strategy needs.
        conv_channels, gru_hidden: paper network sizes (20, 32).
        optimizer: policy optimiser, ``"sgd"`` (paper) or ``"adam"``.
        lr: policy learning rate (paper 0.005).
        critic_lr: critic learning rate (paper 1, plain SGD).
        critic_optimizer: ``"sgd"`` or ``"adam"``.
        gamma: discount (paper 0.96).
        gae_lambda: GAE lambda of the advantages (1 = returns minus the critic's value).
        dice_decay: loaded-DiCE dependency decay per step (1 = full DiCE).
        lookahead_lr: eta, the opponent learning rate LOLA assumes (paper 1).
        entropy_coef: weight of an entropy bonus: the policy's entropy (nats) at
            each step, discounted like the rewards, is added to my objective
            (0 = none, as in the paper).
        entropy_coef_decay: the bonus's weight is multiplied by this after every
            update, ``entropy_coef * entropy_coef_decay ** updates`` (1 = constant):
            the bonus keeps early exploration from collapsing and then fades, so
            the policy can become as sharp as its best response needs.
        lookahead_space: where LOLA-DiCE's opponent takes its look-ahead step:
            ``"parameters"`` (its network's weights, as in the paper) or
            ``"policy"`` (its logits at each visited step, like the tabular
            learner's per-state logits; needs ``method="lola_dice"``).
        shaping_clip: bound the LOLA shaping term's norm to this multiple of the
            naive gradient's norm (0 = no bound, as in the paper); against a
            nearly deterministic opponent model the term can be 100-1000x larger.
        alignment_signal: what of the opponent's my past advantages are aligned with:
            ``"advantage"`` (its advantage A_2,t, as Duque et al.) or ``"reward"`` (its
            reward at step t, r_2,t: only my moves that change its reward this step, such as
            taking its coin, count; a respawned coin does not).
        alignment_beta: beta of advantage alignment, the weight of
            ``(sum_{k<t} gamma^(t-k) A_1,k) * A_2,t`` added to my advantage.
        chunk_games: games per slice of each gradient pass (0 = all at once).
        max_grad_norm: clip the policy direction to this norm (0 = no clipping).
        om_lr, om_first_steps, om_steps: opponent-model fitting (paper SGD 0.1,
            50 steps at the first update, then 1).
        om_optimizer: ``"sgd"`` or ``"adam"``.
        seed: seeds the initial weights and the action sampling.
    """

    method: str = "lola_pg"
    opponent_model: bool = False
    network: str = "conv_gru"
    grid_size: int = 3
    num_actions: int = 4
    egocentric_env: bool = False
    mlp_hidden: tuple[int, ...] = (64, 64)
    mlp_history: int = 1
    conv_channels: int = 20
    gru_hidden: int = 32
    optimizer: str = "sgd"
    lr: float = 0.005
    critic_lr: float = 1.0
    critic_optimizer: str = "sgd"
    gamma: float = 0.96
    gae_lambda: float = 1.0
    dice_decay: float = 1.0
    lookahead_lr: float = 1.0
    alignment_beta: float = 0.3
    alignment_signal: str = "advantage"
    entropy_coef: float = 0.0
    entropy_coef_decay: float = 1.0
    shaping_clip: float = 0.0
    lookahead_space: str = "parameters"
    chunk_games: int = 0
    max_grad_norm: float = 0.0
    om_lr: float = 0.1
    om_first_steps: int = 50
    om_steps: int = 1
    om_optimizer: str = "sgd"
    seed: int = 0

    def __post_init__(self) -> None:
        self.mlp_hidden = tuple(self.mlp_hidden)  # JSON gives lists
        for name, allowed in (("method", METHODS), ("network", NETWORK_NAMES),
                              ("lookahead_space", ("parameters", "policy")),
                              ("alignment_signal", ("advantage", "reward")),
                              ("optimizer", OPTIMIZERS), ("critic_optimizer", OPTIMIZERS),
                              ("om_optimizer", OPTIMIZERS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("opponent_model", "egocentric_env"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.lookahead_space == "policy" and self.method != "lola_dice":
            raise ValueError(f"lookahead_space='policy' needs method='lola_dice', got method={self.method!r}")
        check_int("grid_size", self.grid_size, 2)
        if self.network == "tabular" and self.num_actions != 2:
            raise ValueError(f"network='tabular' plays the 2-action matrix games: num_actions must be 2, "
                             f"got {self.num_actions!r}")
        if self.network != "tabular" and self.num_actions not in (4, 5):
            raise ValueError(f"num_actions must be 4 or 5 (stay action) for the coin-game network "
                             f"{self.network!r}, got {self.num_actions!r}")
        if not self.mlp_hidden or any(not isinstance(w, int) or w < 1 for w in self.mlp_hidden):
            raise ValueError(f"mlp_hidden must be positive integer widths, got {self.mlp_hidden!r}")
        for name in ("conv_channels", "gru_hidden", "om_steps", "mlp_history"):
            check_int(name, getattr(self, name), 1)
        for name in ("chunk_games", "om_first_steps", "seed"):
            check_int(name, getattr(self, name), 0)
        for name in ("lr", "om_lr"):
            check_number(name, getattr(self, name), allow_low=False)
        for name in ("critic_lr", "lookahead_lr", "max_grad_norm", "alignment_beta", "entropy_coef", "shaping_clip"):
            check_number(name, getattr(self, name))
        check_number("gamma", self.gamma, high=1.0)
        if self.gamma >= 1.0:
            raise ValueError(f"gamma must be in [0, 1), got {self.gamma!r}")
        check_number("gae_lambda", self.gae_lambda, high=1.0)
        check_number("dice_decay", self.dice_decay, high=1.0)
        check_number("entropy_coef_decay", self.entropy_coef_decay, high=1.0)

    @property
    def name(self) -> str:
        """Short label: NL, AdAlign, LOLA-PG, LOLA-DiCE, LOLA-OM (PG), LOLA-OM (DiCE)."""
        if self.method == "naive":
            return "NL"
        if self.method == "advantage_alignment":
            return "AdAlign"
        base = {"lola_pg": "PG", "lola_dice": "DiCE"}[self.method]
        if self.lookahead_space == "policy":
            base += "-PS"  # policy-space look-ahead
        return f"LOLA-OM ({base})" if self.opponent_model else f"LOLA-{base}"



# --------------------------------------------------------------------------- 2. value model and agent
def _optimizer(kind: str, params: Any, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr) if kind == "adam" else torch.optim.SGD(params, lr=lr)


def _build_network(cfg: LOLAConfig, num_outputs: int, policy: bool) -> nn.Module:
    """The policy (``policy=True``: ``num_outputs`` action logits) or a value network."""
    if cfg.network == "tabular":
        return MemoryOneNet(None if policy else num_outputs)
    if cfg.network == "mlp":
        return NETWORKS["mlp"](cfg.grid_size, cfg.num_actions, num_outputs, cfg.mlp_hidden, cfg.mlp_history)
    return NETWORKS["conv_gru"](cfg.grid_size, cfg.num_actions, num_outputs, cfg.conv_channels, cfg.gru_hidden)


ParamDict = dict[str, torch.Tensor]


@dataclass
class PolicyView:
    """A policy the learner can evaluate at any parameters: its module and its current parameters."""

    module: nn.Module
    params: ParamDict

    def log_probs(self, params: ParamDict, encoded: torch.Tensor, starts: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``log pi(actions)`` ``[T, n]`` at ``params`` for encoded obs ``[T, n, F]``."""
        return self.log_probs_and_entropy(params, encoded, starts, actions)[0]

    def log_probs_and_entropy(
        self, params: ParamDict, encoded: torch.Tensor, starts: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``log pi(actions)`` and the policy's entropy (nats), each ``[T, n]``."""
        log_pi = torch.log_softmax(functional_call(self.module, params, (encoded, starts)), dim=-1)
        entropy = -(log_pi.exp() * log_pi).sum(-1)
        return log_pi.gather(-1, actions.unsqueeze(-1)).squeeze(-1), entropy


class SampledValues:
    """The coin-game learner's value model on one batch (player 0 = me, 1 = the opponent).

    A :class:`lola_agents.shaping.ValueModel`; losses are ``-`` weighted means over games,
    summed over the slices ``parts`` (so one slice's double-backward graph is alive at a time):

    * order 1, mine: ``-(policy_objective(log pi_me, A_me) + S(log pi_opp, A_me))``: its
      gradients are my policy gradient (with the entropy bonus) and ``grad_opp V_me``;
    * order 1, the opponent's: ``-S(log pi_opp, A_opp)`` (its naive step);
    * order 2, the opponent's: LOLA-PG's second-order surrogate of its rewards
      (``estimator="pg"``) or loaded DiCE of its advantages (``"dice"``), whose mixed
      derivative estimates ``grad_me grad_opp V_opp``.

    With ``policy_space=True`` the opponent's parameters are its logits at every visited
    step, ``{"logits": [T, N, A]}`` (:attr:`opponent_logits` holds their current value),
    and each game takes its own look-ahead step: :meth:`step_scale` is the number of games.
    """

    same_orders = False
    batch_dims = 0

    def __init__(
        self, me: PolicyView, them: PolicyView, my_encoded: torch.Tensor, their_encoded: torch.Tensor,
        starts: torch.Tensor, my_actions: torch.Tensor, their_actions: torch.Tensor,
        my_adv: torch.Tensor, their_adv: torch.Tensor, their_rewards: torch.Tensor,
        discounts: torch.Tensor, slices: list[slice], weights: list[float], entropy_coef: float,
        estimator: str, dice_decay: float, policy_space: bool,
    ) -> None:
        self.me, self.them = me, them
        self.my_encoded, self.their_encoded, self.starts = my_encoded, their_encoded, starts
        self.my_actions, self.their_actions = my_actions, their_actions
        self.my_adv, self.their_adv, self.discounts = my_adv, their_adv, discounts
        self.parts = list(zip(slices, weights, strict=True))
        self.entropy_coef = entropy_coef
        self.estimator = estimator
        self.policy_space = policy_space
        self.num_games = starts.shape[1]
        self.decay = dependency_decay_matrix(starts.shape[0], dice_decay) if estimator == "dice" else None
        self.their_rewards = their_rewards
        self.reward_baseline = their_rewards.mean(dim=1, keepdim=True)  # of the full batch
        self.opponent_logits: torch.Tensor | None = None
        if policy_space:
            with torch.no_grad():
                self.opponent_logits = torch.cat(
                    [functional_call(them.module, them.params, (their_encoded[:, s], starts[:, s])) for s in slices],
                    dim=1,
                )

    def _their_log_probs(self, params: ParamDict, s: slice) -> torch.Tensor:
        if self.policy_space:
            log_pi = torch.log_softmax(params["logits"][:, s], dim=-1)
            return log_pi.gather(-1, self.their_actions[:, s].unsqueeze(-1)).squeeze(-1)
        return self.them.log_probs(params, self.their_encoded[:, s], self.starts[:, s], self.their_actions[:, s])

    def loss(self, i: int, params: tuple[Any, Any], order: int, part: tuple[slice, float]) -> torch.Tensor:
        s, w = part
        discounts = self.discounts[:, s]
        their_lp = self._their_log_probs(params[1], s)
        if i == 1 and order == 1:
            return -w * (discounts * self.their_adv[:, s].detach() * their_lp).sum(0).mean()
        my_lp, my_entropy = self.me.log_probs_and_entropy(
            params[0], self.my_encoded[:, s], self.starts[:, s], self.my_actions[:, s]
        )
        if i == 0 and order == 1:
            mine = policy_objective(my_lp, my_entropy, self.my_adv[:, s], discounts, self.entropy_coef)
            return -w * (mine + (discounts * self.my_adv[:, s].detach() * their_lp).sum(0).mean())
        if i == 1 and order == 2:
            if self.decay is not None:
                value = loaded_dice_objective(my_lp + their_lp, self.their_adv[:, s], discounts, self.decay)
            else:
                value = second_order_surrogate(my_lp, their_lp, self.their_rewards[:, s], discounts,
                                               self.starts[:, s], baseline=self.reward_baseline)
            return -w * value
        raise ValueError(f"the coin-game value model has no order-{order} loss for player {i}")

    def step_scale(self, j: int) -> float:
        return float(self.num_games) if (j == 1 and self.policy_space) else 1.0


class LOLAAgent(StatefulAgent):
    """A coin-game learner (NL, LOLA-PG, LOLA-DiCE, LOLA-OM, AdAlign) behind the rollout Agent protocol.

    Args:
        config: hyper-parameters (default: the paper's LOLA-PG); keyword
            overrides on top, e.g. ``LOLAAgent(PRESETS["fast"].agent, seed=3)``.

    Exact LOLA reads the opponent's policy through :meth:`set_opponent` (a
    :class:`LOLAAgent`); LOLA-OM, NL and AdAlign play against any agent.
    """

    config_class = LOLAConfig

    def __init__(self, config: LOLAConfig | None = None, **overrides: Any) -> None:
        base = asdict(config) if config is not None else {}
        self.cfg = LOLAConfig(**{**base, **overrides})
        with torch.random.fork_rng():  # seeded weights without touching the caller's generator
            torch.manual_seed(self.cfg.seed)
            self.policy = _build_network(self.cfg, self.cfg.num_actions, policy=True)
            self.critic = _build_network(self.cfg, 2, policy=False)  # values of (me, opponent)
            self.opponent_model = (
                _build_network(self.cfg, self.cfg.num_actions, policy=True) if self.cfg.opponent_model else None
            )
        self.policy_optimizer = _optimizer(self.cfg.optimizer, self.policy.parameters(), self.cfg.lr)
        self.critic_optimizer = _optimizer(self.cfg.critic_optimizer, self.critic.parameters(), self.cfg.critic_lr)
        self.model_optimizer = (
            _optimizer(self.cfg.om_optimizer, self.opponent_model.parameters(), self.cfg.om_lr)
            if self.opponent_model is not None
            else None
        )
        self.generator = torch_generator(self.cfg.seed, Stream.ACTING)
        self.seat = 0
        self.opponent: Any = None
        # The module through which a tabular learner evaluates a fixed memory-1 opponent.
        self._table_view = MemoryOneNet(generator=torch.Generator()) if self.cfg.network == "tabular" else None
        self.updates = 0
        self._acting_params = self._snapshot()
        self._params_changed = False

    @property
    def name(self) -> str:
        return self.cfg.name

    # -- acting
    def assign_seat(self, agent_index: int) -> None:
        self.seat = int(agent_index)

    def _snapshot(self) -> ParamDict:
        return {k: v.detach().clone() for k, v in self.policy.named_parameters()}

    def set_policy_weights(self, weights: dict[str, torch.Tensor]) -> None:
        """Load policy weights (e.g. a past snapshot, ``policy.state_dict()`` layout); the next
        step acts with them."""
        self.policy.load_state_dict(weights)
        self._acting_params = self._snapshot()
        self._params_changed = False

    def acting_params(self) -> ParamDict:
        """Policy parameters that produced the latest rollout (a :meth:`learn` does not change them
        until the next rollout starts), so the two agents may learn in either order."""
        return self._acting_params

    def initial_state(self, num_envs: int) -> torch.Tensor:
        return self.policy.initial_state(num_envs)

    def prob_action0(self) -> np.ndarray:
        """P(action 0 | state) ``[5]`` of a tabular policy (order ``[CC, CD, DC, DD, start]``)."""
        if self.cfg.network != "tabular":
            raise AttributeError("prob_action0: only a tabular (memory-1) policy has a table")
        return self.policy.prob_action0()

    def _canonical(self, obs: torch.Tensor, seat: int) -> torch.Tensor:
        """The policy's input: matrix-game states (already in my own perspective), or the
        coin-game planes with my agent first."""
        if self.cfg.network == "tabular":
            return matrix_states(obs)
        g = self.cfg.grid_size
        if tuple(obs.shape[-3:]) != (4, g, g):  # flat obs [..., 4*g*g]
            obs = obs.reshape(*obs.shape[:-1], 4, g, g)
        return canonical_obs(obs, seat, self.cfg.egocentric_env)

    def act(
        self, obs: np.ndarray, state: Any, episode_starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        """Sample moves for ``obs`` ``[N, 4, g, g]`` -> (int64 ``[N]``, float32 ``[N]``, new state)."""
        if self._params_changed:  # first step after an update: the new acting parameters
            self._acting_params = self._snapshot()
            self._params_changed = False
        with torch.no_grad():
            obs_t = torch.as_tensor(np.asarray(obs))
            obs_t = self._canonical(obs_t if self.cfg.network == "tabular" else obs_t.float(), self.seat)
            starts = torch.as_tensor(np.asarray(episode_starts, dtype=bool))
            if state is None:
                state = self.policy.initial_state(len(obs_t))
            logits, state = self.policy.step(obs_t, state, starts)
            log_probs = torch.log_softmax(logits, dim=-1)
            actions = torch.multinomial(log_probs.exp(), 1, generator=self.generator).squeeze(-1)
            chosen = log_probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        return actions.numpy(), chosen.numpy().astype(np.float32), state

    # -- the opponent
    def set_opponent(self, opponent: Any) -> None:
        """Read access to the opponent's policy (exact LOLA); LOLA-OM and NL ignore it."""
        self.opponent = opponent

    def _opponent_view(self, encoded: torch.Tensor, starts: torch.Tensor, actions: torch.Tensor) -> PolicyView:
        """The opponent's policy as LOLA sees it: its true parameters, or the fitted model."""
        if self.opponent_model is not None:
            if getattr(self, "_model_fit", None) is None:
                schedule = OpponentModelSchedule(self.cfg.om_lr, self.cfg.om_first_steps, self.cfg.om_steps)
                self._model_fit = OpponentModel(self.opponent_model, schedule, self.model_optimizer)
            self._model_fit.fits = self.updates  # the schedule counts this agent's updates (also after a resume)
            params = dict(self.opponent_model.named_parameters())
            view = PolicyView(self.opponent_model, params)
            self.last_model_nll = self._model_fit.fit(lambda: view.log_probs(params, encoded, starts, actions))
            return PolicyView(self.opponent_model, {k: v.detach() for k, v in params.items()})
        return PolicyView(*self._opponent_policy())

    #: LOLA-OM: log ``model_kl``, ``shaping_cosine``, ``shaping_norm_ratio`` each update when
    #: the opponent's parameters are readable. It costs a second shaping term per update,
    #: so None (the default) turns it on for tabular policies only; True / False force it.
    log_model_diagnostics: bool | None = None

    def _diagnostics_on(self) -> bool:
        if self.log_model_diagnostics is None:
            return self.cfg.network == "tabular"
        return bool(self.log_model_diagnostics)

    def _model_diagnostics(self, with_model: ParamDict, me: PolicyView, model: PolicyView,
                           their_obs: torch.Tensor, my_encoded: torch.Tensor, model_encoded: torch.Tensor,
                           starts: torch.Tensor, *shaped_args: Any) -> dict[str, float]:
        """Model error ``KL(true || model)`` over the visited steps, and the shaping term with
        the model vs with the opponent's true parameters (read here only, never for the update)."""
        try:
            module, params = self._opponent_policy()
        except TypeError:
            return {}
        true_encoded = module.encode(their_obs, starts)
        truth = PolicyView(module, params)
        _, with_truth, _ = self._shaping_terms(me, truth, my_encoded, true_encoded, starts, *shaped_args)
        with torch.no_grad():
            true_log_pi = torch.log_softmax(functional_call(module, params, (true_encoded, starts)), dim=-1)
            model_log_pi = torch.log_softmax(
                functional_call(model.module, model.params, (model_encoded, starts)), dim=-1)
        return {"model_kl": visited_kl(true_log_pi, model_log_pi),
                **shaping_agreement(with_model, with_truth)}

    # -- learning
    def learn(self, batch: Batch, opponent_batch: Batch) -> dict[str, float]:
        """One update from a batch of full episodes ``[T, N]`` of both seats; returns logged scalars."""
        cfg = self.cfg
        starts = batch.episode_starts
        if not bool(starts[0].all()) or not bool(batch.dones[-1].all()):
            raise ValueError(
                "coin-game LOLA learns from whole episodes: the batch must start at episode starts and "
                "end at episode ends (collect max_cycles steps with reset=True)"
            )
        my_obs = self._canonical(batch.obs, batch.agent_index)
        their_obs = self._canonical(opponent_batch.obs, opponent_batch.agent_index)
        my_encoded = self.policy.encode(my_obs, starts)
        my_actions, their_actions = batch.actions, opponent_batch.actions
        slices = game_slices(batch.num_envs, cfg.chunk_games)
        weights = [(s.stop - s.start) / batch.num_envs for s in slices]

        # Critic values of (me, opponent) -> GAE advantages, no gradient.
        with torch.no_grad():
            values = torch.cat([self.critic(my_encoded[:, s], starts[:, s]) for s in slices], dim=1)
        my_adv, my_targets = gae(batch.rewards, values[..., 0], batch.dones, cfg.gamma, cfg.gae_lambda)
        their_adv, their_targets = gae(opponent_batch.rewards, values[..., 1], batch.dones, cfg.gamma, cfg.gae_lambda)
        discounts = episode_discounts(starts, cfg.gamma)

        me = PolicyView(self.policy, self.acting_params())
        entropy_coef = self.entropy_coef_now()
        logs: dict[str, float] = {"entropy_coef": entropy_coef}
        # Games against a fixed opponent (population training): it takes no learning step,
        # so there is nothing to shape and the shaping term is dropped in those games.
        shaped_games = self._shaped_games(batch)
        if cfg.method in ("naive", "advantage_alignment"):
            if cfg.method == "advantage_alignment":
                signal = their_adv if cfg.alignment_signal == "advantage" else opponent_batch.rewards
                shaped_adv = signal if shaped_games is None else signal * shaped_games
                my_adv = aligned_advantages(my_adv, shaped_adv, starts, cfg.gamma, cfg.alignment_beta)
            direction = self._first_order(me, me.params, my_encoded, starts, my_actions, my_adv, discounts, slices,
                                          weights, entropy_coef)
        else:
            them_module = self.opponent_model if self.opponent_model is not None else self._opponent_policy()[0]
            their_encoded = them_module.encode(their_obs, starts)
            them = self._opponent_view(their_encoded, starts, their_actions)
            shaped_args = (my_actions, their_actions, my_adv, their_adv, opponent_batch.rewards,
                           discounts, slices, weights, entropy_coef, shaped_games)
            naive, chi, eta = self._shaping_terms(me, them, my_encoded, their_encoded, starts, *shaped_args)
            direction, shaping_logs = self._shaped_direction(naive, chi, eta)
            logs.update(shaping_logs)
            if self.opponent_model is not None:
                logs["model_nll"] = self.last_model_nll
                if self._diagnostics_on():
                    logs.update(self._model_diagnostics(
                        chi, me, them, their_obs, my_encoded, their_encoded, starts, *shaped_args))
        grad_norm = float(torch.sqrt(sum((d.double() ** 2).sum() for d in direction.values())))
        check_finite(f"{cfg.name} policy direction (update {self.updates + 1})", grad_norm)
        if cfg.max_grad_norm > 0 and grad_norm > cfg.max_grad_norm:
            direction = {k: d * (cfg.max_grad_norm / grad_norm) for k, d in direction.items()}

        self.policy_optimizer.zero_grad()
        for name, param in self.policy.named_parameters():
            param.grad = -direction[name]  # optimisers minimise; we ascend the value
        self.policy_optimizer.step()
        self._params_changed = True

        # Critic regression on the GAE targets of both agents (slice by slice).
        self.critic_optimizer.zero_grad()
        critic_loss = 0.0
        targets = torch.stack([my_targets, their_targets], dim=-1)
        for s, w in zip(slices, weights, strict=True):
            loss = w * (self.critic(my_encoded[:, s], starts[:, s]) - targets[:, s]).pow(2).mean()
            loss.backward()
            critic_loss += float(loss.detach())
        check_finite(f"{cfg.name} critic loss (update {self.updates + 1})", critic_loss)
        self.critic_optimizer.step()
        self.updates += 1
        logs.update(grad_norm=grad_norm, critic_loss=critic_loss)
        if "own_coins" in batch.infos and "other_coins" in opponent_batch.infos:
            logs["own_coin_rate"] = joint_own_coin_rate([batch, opponent_batch])
        return logs

    def _shaped_games(self, batch: Batch) -> torch.Tensor | None:
        """float ``[N]``: 1 in games whose opponent learns, 0 against a fixed one (from
        ``batch.infos["opponent_learns"]``, set by :mod:`lola_agents.population`); None = all learn."""
        learns = batch.infos.get("opponent_learns")
        if learns is None:
            return None
        if learns.dtype != torch.bool or tuple(learns.shape) != (batch.num_steps, batch.num_envs):
            raise ValueError(f"infos['opponent_learns'] must be bool [T, N] = [{batch.num_steps}, "
                             f"{batch.num_envs}], got {learns.dtype} {tuple(learns.shape)}")
        if bool(learns.all()):
            return None
        if self.cfg.method in ("lola_pg", "lola_dice") and self.cfg.lookahead_space == "parameters":
            raise ValueError(
                f"{self.cfg.name} (look-ahead on the opponent's weights) cannot drop its shaping term per game; "
                "games against a fixed opponent are supported for method='naive', 'advantage_alignment' "
                "and lookahead_space='policy'")
        return learns[0].float()

    def entropy_coef_now(self) -> float:
        """Weight of the entropy bonus at the next update: ``entropy_coef * entropy_coef_decay ** updates``."""
        return self.cfg.entropy_coef * self.cfg.entropy_coef_decay ** self.updates

    def _opponent_policy(self) -> tuple[nn.Module, ParamDict]:
        """The opponent's policy module and the parameters that played the batch: another
        LOLAAgent's, or (tabular) any memory-1 agent's 5 logits (a learner's or a fixed table)."""
        opponent = self.opponent
        if isinstance(opponent, LOLAAgent):
            return opponent.policy, opponent.acting_params()
        if self.cfg.network == "tabular" and opponent is not None:
            from lola_agents.learners.pg import OpponentView

            try:
                logits = OpponentView(opponent).params()
            except TypeError:
                pass
            else:
                return self._table_view, {"logits": logits.float()}
        raise TypeError(
            f"{self.cfg.name} needs the opponent's policy parameters: call set_opponent() with a "
            "LOLAAgent (or, on a matrix game, any agent with memory-1 parameters), or use "
            f"opponent_model=True (LOLA-OM) to model any opponent; got {type(opponent).__name__}"
        )

    def _first_order(
        self, view: PolicyView, params: ParamDict, encoded: torch.Tensor, starts: torch.Tensor,
        actions: torch.Tensor, advantages: torch.Tensor, discounts: torch.Tensor,
        slices: list[slice], weights: list[float], entropy_coef: float = 0.0,
    ) -> ParamDict:
        """``grad V`` ~ ``mean_n sum_t gamma^t A_t grad log pi(a_t)`` w.r.t. ``params`` (of ``view``),
        plus ``entropy_coef`` times the gradient of ``mean_n sum_t gamma^t H_t`` (entropy bonus)."""
        leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        total = {k: torch.zeros_like(v) for k, v in leaves.items()}
        for s, w in zip(slices, weights, strict=True):
            log_probs, entropy = view.log_probs_and_entropy(leaves, encoded[:, s], starts[:, s], actions[:, s])
            objective = w * policy_objective(log_probs, entropy, advantages[:, s], discounts[:, s], entropy_coef)
            grads = torch.autograd.grad(objective, list(leaves.values()))
            for k, g in zip(leaves, grads, strict=True):
                total[k] += g
        return total

    def _shaping_terms(
        self, me: PolicyView, them: PolicyView, my_encoded: torch.Tensor, their_encoded: torch.Tensor,
        starts: torch.Tensor, my_actions: torch.Tensor, their_actions: torch.Tensor,
        my_adv: torch.Tensor, their_adv: torch.Tensor, their_rewards: torch.Tensor,
        discounts: torch.Tensor, slices: list[slice], weights: list[float], entropy_coef: float,
        shaped_games: torch.Tensor | None,
    ) -> tuple[ParamDict, ParamDict, float]:
        """``(grad_1 L_1, chi, eta)`` of :class:`lola_agents.shaping.LOLA` over
        :class:`SampledValues` (see the module doc): the naive gradient and the shaping term
        of my loss ``L_1 = -V_1``, and the opponent's look-ahead rate on them.

        ``shaped_games`` (float ``[N]``, None = all) weights each game's shaping term; only
        the policy-space look-ahead, whose opponent parameters are per game, can do that.
        """
        cfg = self.cfg
        model = SampledValues(
            me, them, my_encoded, their_encoded, starts, my_actions, their_actions, my_adv, their_adv,
            their_rewards, discounts, slices, weights, entropy_coef,
            estimator="pg" if cfg.method == "lola_pg" else "dice", dice_decay=cfg.dice_decay,
            policy_space=cfg.lookahead_space == "policy",
        )
        their_params = them.params if cfg.lookahead_space == "parameters" else {"logits": model.opponent_logits}
        bundle = shaping.GradientBundle(model, (me.params, their_params), cfg.lookahead_lr)
        rule = shaping.LOLA(v_after_lookahead=cfg.method == "lola_dice")
        v = rule.v(bundle, 0)
        if shaped_games is not None:
            v = {"logits": v["logits"] * shaped_games.view(1, -1, 1)}
        return bundle.naive(0), bundle.shaping(0, v), bundle.step_eta(1)

    def _shaped_direction(
        self, naive: ParamDict, chi: ParamDict, eta: float
    ) -> tuple[ParamDict, dict[str, float]]:
        """The ascent direction ``-(naive - eta * chi)`` of my weights, with the shaping term
        bounded by ``shaping_clip`` when set; plus logged scalars."""
        cfg = self.cfg
        logs: dict[str, float] = {}
        factor = 1.0
        if cfg.shaping_clip > 0:  # bound |eta chi| by shaping_clip * |naive|
            naive_norm = float(shaping.norm(naive, 0))
            shaping_norm = eta * float(shaping.norm(chi, 0))
            factor = min(1.0, cfg.shaping_clip * naive_norm / shaping_norm) if shaping_norm > 0 else 1.0
            logs = {"shaping_ratio": shaping_norm / max(naive_norm, 1e-12), "shaping_scale": factor}
        descent = shaping.combine(naive, chi, -eta * factor)
        return {k: -d for k, d in descent.items()}, logs

    # -- checkpoints (tensors + JSON only)
    def config(self) -> dict[str, Any]:
        out = asdict(self.cfg)
        out["mlp_hidden"] = list(self.cfg.mlp_hidden)
        return out

    def state_dict(self) -> dict[str, Any]:
        """Everything that changes during training (tensors, optimiser states, generator state)."""
        state = {
            "policy": self.policy.state_dict(),
            "critic": self.critic.state_dict(),
            "policy_optimizer": self.policy_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "acting_params": dict(self._acting_params),
            "updates": self.updates,
            "params_changed": self._params_changed,
            "seat": self.seat,
        }
        if self.opponent_model is not None:
            state["opponent_model"] = self.opponent_model.state_dict()
            state["model_optimizer"] = self.model_optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.critic.load_state_dict(state["critic"])
        self.policy_optimizer.load_state_dict(state["policy_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        self.generator.set_state(state["generator"])
        self._acting_params = {k: v.clone() for k, v in state["acting_params"].items()}
        self.updates = int(state["updates"])
        self._params_changed = bool(state["params_changed"])
        self.seat = int(state["seat"])
        if self.opponent_model is not None:
            self.opponent_model.load_state_dict(state["opponent_model"])
            self.model_optimizer.load_state_dict(state["model_optimizer"])
