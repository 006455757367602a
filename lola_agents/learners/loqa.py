"""LOQA: Learning with Opponent Q-Learning Awareness (Aghajohari et al., ICLR 2024).

LOQA assumes that the opponent acts by a softmax over its own Q-values,
``pi_2(b | s) = softmax(Q_2(s, .) / tau)_b``, and that those Q-values are estimates of
the opponent's returns, which depend on MY future actions. Making the opponent's
return estimate differentiable in my parameters (REINFORCE, with loaded-DiCE
dependencies) makes the modelled opponent policy differentiable in my parameters, and
the ordinary policy-gradient loss, applied to the opponent's actions, then shapes the
opponent: I make the actions of the opponent that were good for me more rewarding for
it, and the ones that hurt me less rewarding. No opponent update is simulated.

Reads top to bottom:

1. :class:`LOQAConfig`: hyper-parameters, defaults from the published coin-game runs.
2. :func:`loqa_shaping_objective`: the LOQA term on one batch (the paper's idea in one
   function, tested against a hand-computed case).
3. :class:`LOQAAgent`: acting, one update (actor, then the two Q-value critics), checkpoints.
4. :data:`PRESETS` and :func:`train_loqa`: the paper's setting (512 games x 50 steps,
   self-play against a replay buffer of past selves) and a CPU-sized one.

One update on a batch of whole episodes ``[T, N]`` (me = 1, opponent = 2; ``a_t``, ``b_t``
our actions; ``h`` a GRU's summary of the episode so far, seen from each side):

* critics: ``Q_1(h_t, a)`` of my returns and ``Q_2(h_t, b)`` of the opponent's, both
  fitted from my own batch (I never read the opponent's parameters): TD(0) with the
  action actually taken next (the "mean" mode of the official code), Huber loss,
  targets from Polyak-averaged copies (``target_ema``);
* my advantage (TD(0)): ``A_t = r1_t + gamma V_1(h_{t+1}) - V_1(h_t)``,
  ``V_1 = sum_a pi_1(a) Q_1(., a)``, a constant;
* actor: ascend ``mean_{t,n}[A_t log pi_1(a_t)] + entropy_coef * mean H(pi_1)``;
* LOQA term (weight ``shaping_weight``): ascend ``mean_{t,n}[A_t log pi~_2(b_t)]`` where
  ``pi~_2 = softmax(q~_t / tau)`` and ``q~_t`` is ``Q_2(h_t, .)`` (constants) with the entry
  of the taken action replaced by the differentiable return
  ``Q^_t = r2_t + gamma G^_{t+1}``,
  ``G^_t = G2_t + sum_{k>=t} (gamma lambda)^(k-t) (G2_k - V_2(h_k)) (log pi_1(a_k) - stop(log pi_1(a_k)))``.
  Its value is the opponent's Monte-Carlo return ``G2_t``; its gradient is the
  REINFORCE estimate of how my actions from ``t+1`` on change that return (my action at
  ``t`` is simultaneous with ``b_t``), with the dependencies decayed by ``lambda`` =
  ``dice_decay`` and the baseline ``V_2 = sum_b pi~_2(b) Q_2(., b)``;
* the sum of both gradients is clipped to ``max_grad_norm`` and taken by Adam.

Where this differs from the official code (on purpose, each small):

* the opponent's Q-values come from a critic of the opponent's returns that I fit from
  my batch (the official self-play code reads them off the opponent's own Q-head);
* the advantage is a constant in the actor loss (the official loss also sends gradient
  into the value through ``V``, i.e. into the Q-head, via the actor optimiser);
* the critics' bootstrap at a truncated episode end uses my current policy (the
  official code uses the averaged copy of the whole agent, policy included).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from coin_game_env.core import check_int, check_number
from lola_agents.learners.adalign import aligned_advantages
from lola_agents.learners.pg import check_finite
from lola_agents.metrics import joint_own_coin_rate
from lola_agents.policies.coin import canonical_obs
from lola_agents.policies.gru import CoinGRU
from lola_agents.rollout import Batch, StatefulAgent, act_with_policy

# --------------------------------------------------------------------------- 1. hyper-parameters
# Shaping terms of the actor and the learner's name with each.
SHAPING_TERMS = {"loqa": "LOQA", "advantage_alignment": "AdAlign-Q", "lola_policy": "LOLA-PS-Q"}


@dataclass
class LOQAConfig:
    """LOQA's hyper-parameters. Defaults: the published coin-game runs (the official
    repository's 10-seed command: ``hp=loqa_iclr`` with ``batch_size=512``,
    ``lr_loss_actor=0.001``, ``lr_loss_qvalue=0.01``, ``entropy_beta=0.1``, actor
    ``layers_before_gru=2``, ``hidden_size=128``).

    Attributes:
        grid_size: board side; must match the env's (paper 3).
        num_actions: 4 (5 with the env's stay action; the paper has none).
        egocentric_env: the env already gives egocentric planes (paper: shared view).
        actor_hidden: width of the policy's dense layers and GRU (paper 128).
        actor_layers_before_gru: dense layers before the policy's GRU (paper 2).
        critic_hidden: width of each Q-value critic (paper 64).
        critic_layers_before_gru: dense layers before each critic's GRU (paper 2).
        lr: Adam learning rate of the policy (paper 1e-3).
        critic_lr: Adam learning rate of the critics (paper 1e-2).
        gamma: discount of both agents' returns (paper 0.96).
        entropy_coef: weight of the policy's mean entropy (nats) in the actor
            objective (paper 0.1).
        max_grad_norm: the policy gradient (both terms together) is clipped to this
            global norm (paper 1.0; 0 = no clipping).
        target_ema: Polyak weight of the critics' target copies, ``target <-
            target_ema * target + (1 - target_ema) * critic`` after every critic step
            (paper 0.99).
        huber_delta: threshold of the critics' Huber loss (paper 1.0).
        dice_decay: lambda, the decay per step of the dependencies of the opponent's
            return on my actions (loaded DiCE; paper 0.9, 1 = plain REINFORCE).
        opponent_temperature: tau of the modelled opponent policy
            ``softmax(Q_2 / tau)`` (paper 1.0).
        shaping: the opponent-shaping term added to the actor objective: ``"loqa"``
            (the paper's) or ``"advantage_alignment"`` (Duque et al., ICLR 2025:
            my advantage becomes ``A_1,t + shaping_weight (sum_{k<t} gamma^(t-k) A_1,k)
            A_2,t``, :func:`lola_agents.learners.adalign.aligned_advantages`, with the
            opponent's TD(0) advantage ``A_2`` from its Q-value critic; the anchors'
            recipe of advantage alignment on the coin game) or ``"lola_policy"`` (LOLA-DiCE
            with the opponent's look-ahead step in policy space: the opponent modelled as
            ``softmax(Q_2 / tau)`` takes one policy-gradient step of size ``shaping_weight``
            on its logits at every visited step, and I ascend my value after it;
            :meth:`LOQAAgent._lola_policy_descent`).
        shaping_weight: weight of the shaping term (paper 1.0 for LOQA; for advantage
            alignment its beta; for ``"lola_policy"`` the look-ahead rate on the
            opponent's logits; 0 = a naive actor-critic learner).
        shaping_start: updates taken as a naive actor-critic learner before the shaping
            term is switched on (paper 0). A learner that cooperates early fills its
            buffer of past selves with cooperators and rarely meets a theft in training;
            naive updates first put defectors into the buffer, as LOQA's slow start does.
        seed: seeds the initial weights and, through
            :func:`lola_agents.seeding.derive_seed`, the action sampling.
    """

    grid_size: int = 3
    num_actions: int = 4
    egocentric_env: bool = False
    actor_hidden: int = 128
    actor_layers_before_gru: int = 2
    critic_hidden: int = 64
    critic_layers_before_gru: int = 2
    lr: float = 1e-3
    critic_lr: float = 1e-2
    gamma: float = 0.96
    entropy_coef: float = 0.1
    max_grad_norm: float = 1.0
    target_ema: float = 0.99
    huber_delta: float = 1.0
    dice_decay: float = 0.9
    opponent_temperature: float = 1.0
    shaping: str = "loqa"
    shaping_weight: float = 1.0
    shaping_start: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.egocentric_env, bool):
            raise ValueError(f"egocentric_env must be True or False, got {self.egocentric_env!r}")
        check_int("grid_size", self.grid_size, 2)
        if self.num_actions not in (4, 5):
            raise ValueError(f"num_actions must be 4 or 5 (stay action), got {self.num_actions!r}")
        for name in ("actor_hidden", "critic_hidden"):
            check_int(name, getattr(self, name), 1)
        for name in ("actor_layers_before_gru", "critic_layers_before_gru"):
            if getattr(self, name) not in (0, 1, 2):
                raise ValueError(f"{name} must be 0, 1 or 2, got {getattr(self, name)!r}")
        check_int("seed", self.seed, 0)
        check_int("shaping_start", self.shaping_start, 0)
        for name in ("lr", "critic_lr", "huber_delta", "opponent_temperature"):
            check_number(name, getattr(self, name), allow_low=False)
        for name in ("entropy_coef", "max_grad_norm", "shaping_weight"):
            check_number(name, getattr(self, name))
        for name in ("gamma", "target_ema"):
            check_number(name, getattr(self, name), high=1.0)
            if getattr(self, name) >= 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        check_number("dice_decay", self.dice_decay, high=1.0)
        if self.shaping not in SHAPING_TERMS:
            raise ValueError(f"shaping must be one of {tuple(SHAPING_TERMS)}, got {self.shaping!r}")

    @property
    def name(self) -> str:
        if self.shaping_weight == 0:
            return "NL-AC"
        return SHAPING_TERMS[self.shaping]


# --------------------------------------------------------------------------- 2. the LOQA term
def reverse_decayed_sum(values: torch.Tensor, decay: float) -> torch.Tensor:
    """``out_t = sum_{k>=t} decay^(k-t) values_k`` over time, ``[T, N] -> [T, N]`` (one
    episode per column, starting at row 0)."""
    out, running = [], torch.zeros_like(values[0])
    for value in reversed(values.unbind(0)):
        running = value + decay * running
        out.append(running)
    return torch.stack(out[::-1])


def loqa_shaping_objective(
    my_log_probs: torch.Tensor,
    my_advantages: torch.Tensor,
    their_q: torch.Tensor,
    their_actions: torch.Tensor,
    their_rewards: torch.Tensor,
    gamma: float,
    dice_decay: float,
    temperature: float = 1.0,
) -> torch.Tensor:
    """LOQA's shaping objective ``mean_{t,n} A_t log pi~_2(b_t | h_t)`` (module doc), a scalar
    whose gradient in my parameters (through ``my_log_probs``) is the LOQA term.

    Args:
        my_log_probs: ``[T, N]`` ``log pi_1(a_t)``, differentiable in my parameters.
        my_advantages: ``[T, N]`` my advantages ``A_t`` (used as constants).
        their_q: ``[T, N, A]`` the opponent's Q-value estimates (constants).
        their_actions: int64 ``[T, N]`` the opponent's actions ``b_t``.
        their_rewards: ``[T, N]`` the opponent's rewards.
        gamma, dice_decay, temperature: as in :class:`LOQAConfig`.

    Each column is one whole episode (row 0 its first step, row T-1 its last).
    """
    their_q = their_q.detach()
    steps = my_log_probs.shape[0]
    returns = reverse_decayed_sum(their_rewards, gamma)  # G2_t, Monte Carlo
    baseline = (torch.softmax(their_q / temperature, -1) * their_q).sum(-1)  # V_2(h_t)
    loaded = my_log_probs - my_log_probs.detach()  # value 0, gradient grad log pi_1(a_t)
    dependency = reverse_decayed_sum((returns - baseline) * loaded, gamma * dice_decay)
    differentiable_return = returns + dependency  # G^_t (value G2_t)
    taken_q = their_rewards.clone()  # Q^_t = r2_t + gamma G^_{t+1}; the last step has no future
    if steps > 1:
        taken_q = torch.cat([their_rewards[:-1] + gamma * differentiable_return[1:], their_rewards[-1:]])
    taken = F.one_hot(their_actions, their_q.shape[-1]).to(their_q.dtype)
    chosen_q = (their_q * taken).sum(-1)
    modelled_q = their_q + taken * (taken_q - chosen_q).unsqueeze(-1)  # q~_t
    log_pi = torch.log_softmax(modelled_q / temperature, -1)
    their_log_probs = log_pi.gather(-1, their_actions.unsqueeze(-1)).squeeze(-1)
    return (my_advantages.detach() * their_log_probs).mean()


# --------------------------------------------------------------------------- 3. the agent
class _GivenLogits(torch.nn.Module):
    """A parameter-free "policy" whose logits are its input (the opponent modelled by its Q-values)."""

    def forward(self, logits: torch.Tensor, episode_starts: torch.Tensor) -> torch.Tensor:
        return logits


def _polyak(target: torch.nn.Module, online: torch.nn.Module, weight: float) -> None:
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters(), strict=True):
            t.mul_(weight).add_(o, alpha=1.0 - weight)


class LOQAAgent(StatefulAgent):
    """A LOQA learner behind the rollout Agent protocol (coin game).

    Args:
        config: hyper-parameters (default: the paper's); keyword overrides on top,
            e.g. ``LOQAAgent(PRESETS["cpu"].agent, seed=3)``.

    It learns from whole episodes (``learn`` needs a batch whose every column is one
    episode: collect ``max_cycles`` steps with fresh episodes, as the trainer does). It
    needs nothing of the opponent but its observations, actions and rewards in the batch.
    As in the paper, the LOQA term applies in every game, also against opponents that do
    not learn (past selves); ``infos["opponent_learns"]`` is not read.
    """

    config_class = LOQAConfig

    def __init__(self, config: LOQAConfig | None = None, **overrides: Any) -> None:
        from lola_agents.seeding import Stream, torch_generator

        base = asdict(config) if config is not None else {}
        self.cfg = cfg = LOQAConfig(**{**base, **overrides})
        g, actions = cfg.grid_size, cfg.num_actions
        with torch.random.fork_rng():  # seeded weights without touching the caller's generator
            torch.manual_seed(cfg.seed)
            self.policy = CoinGRU(g, actions, actions, cfg.actor_hidden, cfg.actor_layers_before_gru)
            self.q_critic = CoinGRU(g, actions, actions, cfg.critic_hidden, cfg.critic_layers_before_gru,
                                    time_input=True)
            self.opponent_q_critic = CoinGRU(g, actions, actions, cfg.critic_hidden,
                                             cfg.critic_layers_before_gru, time_input=True)
        self.q_target = copy.deepcopy(self.q_critic).requires_grad_(False)
        self.opponent_q_target = copy.deepcopy(self.opponent_q_critic).requires_grad_(False)
        self.policy_optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr)
        critics = [*self.q_critic.parameters(), *self.opponent_q_critic.parameters()]
        self.critic_optimizer = torch.optim.Adam(critics, lr=cfg.critic_lr)
        self.generator = torch_generator(cfg.seed, Stream.ACTING)
        self.seat = 0
        self.updates = 0

    @property
    def name(self) -> str:
        return self.cfg.name

    # -- acting
    def assign_seat(self, agent_index: int) -> None:
        self.seat = int(agent_index)

    def initial_state(self, num_envs: int) -> Any:
        return self.policy.initial_state(num_envs)

    def set_policy_weights(self, weights: dict[str, torch.Tensor]) -> None:
        """Load policy weights (``policy.state_dict()`` layout, e.g. a past snapshot)."""
        self.policy.load_state_dict(weights)

    def _canonical(self, obs: torch.Tensor, seat: int) -> torch.Tensor:
        """Planes ``[me, other, my coin, other's coin]`` ``[..., 4, g, g]`` (flat obs reshaped)."""
        g = self.cfg.grid_size
        if tuple(obs.shape[-3:]) != (4, g, g):
            obs = obs.reshape(*obs.shape[:-1], 4, g, g)
        return canonical_obs(obs.float(), seat, self.cfg.egocentric_env)

    def act(self, obs: np.ndarray, state: Any, episode_starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
        """Sample moves for ``obs`` ``[N, 4, g, g]`` -> (int64 ``[N]``, float32 ``[N]``, new state)."""
        obs_t = self._canonical(torch.as_tensor(np.asarray(obs)), self.seat)
        return act_with_policy(self.policy, obs_t, state, episode_starts, self.generator)

    # -- learning
    def _sequence(self, batch: Batch) -> torch.Tensor:
        """Canonical obs of the episode plus its last observation: ``[T+1, N, 4, g, g]``."""
        seat = batch.agent_index
        return torch.cat([self._canonical(batch.obs, seat), self._canonical(batch.next_obs[-1:], seat)])

    def learn(self, batch: Batch, opponent_batch: Batch) -> dict[str, float]:
        """One update from a batch of whole episodes ``[T, N]`` of both seats; returns logged scalars."""
        cfg = self.cfg
        starts = batch.episode_starts
        if not bool(starts[0].all()) or bool(starts[1:].any()) or not bool(batch.dones[-1].all()):
            raise ValueError(
                "LOQA learns from whole episodes: every game of the batch must hold one episode from its "
                "first step (row 0) to its last (collect max_cycles steps with fresh episodes)")
        games = batch.num_envs
        seq_starts = torch.cat([starts, torch.zeros(1, games, dtype=torch.bool)])
        # Bootstrap from the observation after the last step when the episode was cut by the time limit.
        bootstrap = (batch.truncated[-1] & ~batch.terminated[-1]).float()
        my_seq, their_seq = self._sequence(batch), self._sequence(opponent_batch)
        my_q_in = self.q_critic.encode(my_seq, seq_starts)
        their_q_in = self.opponent_q_critic.encode(their_seq, seq_starts)
        my_actions, their_actions = batch.actions, opponent_batch.actions
        tau = cfg.opponent_temperature

        # Critics on the whole episode plus its last observation (one pass each, reused below).
        my_q = self.q_critic(my_q_in, seq_starts)  # [T+1, N, A]
        their_q = self.opponent_q_critic(their_q_in, seq_starts)

        # Actor: REINFORCE with my TD(0) advantage, entropy bonus, LOQA term: one backward pass.
        logits = self.policy(self.policy.encode(my_seq, seq_starts), seq_starts)  # [T+1, N, A]
        with torch.no_grad():
            probs = torch.softmax(logits, -1)
            values = (probs * my_q).sum(-1)  # V_1, [T+1, N]
            next_values = torch.cat([values[1:-1], values[-1:] * bootstrap])
            advantages = batch.rewards + cfg.gamma * next_values - values[:-1]
        log_pi = torch.log_softmax(logits[:-1], -1)
        my_log_probs = log_pi.gather(-1, my_actions.unsqueeze(-1)).squeeze(-1)
        entropy = -(log_pi.exp() * log_pi).sum(-1).mean()
        shaping = cfg.shaping if cfg.shaping_weight > 0 and self.updates >= cfg.shaping_start else None
        if shaping in ("advantage_alignment", "lola_policy"):
            with torch.no_grad():  # the opponent's TD(0) advantage, V_2 = softmax(Q_2 / tau) . Q_2
                their_values = (torch.softmax(their_q / tau, -1) * their_q).sum(-1)
                their_next = torch.cat([their_values[1:-1], their_values[-1:] * bootstrap])
                their_advantages = opponent_batch.rewards + cfg.gamma * their_next - their_values[:-1]
        self.policy_optimizer.zero_grad()
        if shaping == "lola_policy":
            descent = self._lola_policy_descent(my_seq[:-1], starts, my_actions, their_actions, advantages,
                                                (their_q[:-1] / tau).detach(), their_advantages)
            for name, parameter in self.policy.named_parameters():
                parameter.grad = descent[name]
        else:
            weights = advantages
            if shaping == "advantage_alignment":
                weights = aligned_advantages(advantages, their_advantages, starts, cfg.gamma, cfg.shaping_weight)
            objective = (weights * my_log_probs).mean() + cfg.entropy_coef * entropy
            if shaping == "loqa":
                objective = objective + cfg.shaping_weight * loqa_shaping_objective(
                    my_log_probs, advantages, their_q[:-1], their_actions, opponent_batch.rewards,
                    cfg.gamma, cfg.dice_decay, tau)
            (-objective).backward()  # optimisers minimise; we ascend
        params = list(self.policy.parameters())
        grad_norm = float(torch.nn.utils.clip_grad_norm_(
            params, cfg.max_grad_norm if cfg.max_grad_norm > 0 else float("inf")))
        check_finite(f"LOQA policy gradient (update {self.updates + 1})", grad_norm)
        self.policy_optimizer.step()

        # Critics: TD(0) on the action taken next, Huber loss, Polyak-averaged targets.
        with torch.no_grad():
            my_target = self._td_targets(self.q_target(my_q_in, seq_starts), probs[-1], my_actions,
                                         batch.rewards, bootstrap)
            their_target_q = self.opponent_q_target(their_q_in, seq_starts)
            their_target = self._td_targets(their_target_q, torch.softmax(their_target_q[-1] / tau, -1),
                                            their_actions, opponent_batch.rewards, bootstrap)
        my_loss = F.huber_loss(my_q[:-1].gather(-1, my_actions.unsqueeze(-1)).squeeze(-1), my_target,
                               delta=cfg.huber_delta)
        their_loss = F.huber_loss(their_q[:-1].gather(-1, their_actions.unsqueeze(-1)).squeeze(-1), their_target,
                                  delta=cfg.huber_delta)
        self.critic_optimizer.zero_grad()
        (my_loss + their_loss).backward()
        critic_loss, their_critic_loss = float(my_loss.detach()), float(their_loss.detach())
        check_finite(f"LOQA critic loss (update {self.updates + 1})", critic_loss + their_critic_loss)
        self.critic_optimizer.step()
        _polyak(self.q_target, self.q_critic, cfg.target_ema)
        _polyak(self.opponent_q_target, self.opponent_q_critic, cfg.target_ema)
        self.updates += 1

        logs = {
            "entropy": float(entropy.detach()),
            "grad_norm": grad_norm,
            "critic_loss": critic_loss,
            "opponent_critic_loss": their_critic_loss,
            "advantage_std": float(advantages.std()),
        }
        if "own_coins" in batch.infos and "other_coins" in opponent_batch.infos:
            logs["own_coin_rate"] = joint_own_coin_rate([batch, opponent_batch])
        return logs

    def _lola_policy_descent(self, my_obs: torch.Tensor, starts: torch.Tensor, my_actions: torch.Tensor,
                             their_actions: torch.Tensor, my_advantages: torch.Tensor,
                             their_logits: torch.Tensor, their_advantages: torch.Tensor) -> dict[str, torch.Tensor]:
        """LOLA-DiCE's descent direction of my policy weights with the opponent's look-ahead step taken
        in policy space on its modelled logits ``Q_2 / tau`` (:class:`lola_agents.shaping.LOLA` over
        :class:`lola_agents.learners.lola.SampledValues`).

        Every step of the batch weighs ``1 / T`` (the actor loss of LOQA, a mean over steps and
        games, entropy bonus included); the opponent's step at each visited step is
        ``shaping_weight * A_2,t * (onehot(b_t) - pi_2,t)`` on its logits there, and its value is
        loaded DiCE of ``A_2`` (decay ``dice_decay``) over both players' actions. Inputs ``[T, N, ...]``:
        my canonical observations, episode starts, both players' actions, both TD(0) advantages,
        the opponent's modelled logits. Returns ``{name: tensor}`` like ``policy.named_parameters()``.
        """
        from lola_agents import shaping
        from lola_agents.learners.lola import PolicyView, SampledValues

        steps, games = my_advantages.shape
        me = PolicyView(self.policy, {k: v.detach() for k, v in self.policy.named_parameters()})
        them = PolicyView(_GivenLogits(), {})
        per_step = torch.full((steps, games), 1.0 / steps)
        model = SampledValues(
            me, them, self.policy.encode(my_obs, starts), their_logits, starts, my_actions, their_actions,
            my_advantages, their_advantages, torch.zeros_like(my_advantages), per_step, [slice(None)], [1.0],
            self.cfg.entropy_coef, estimator="dice", dice_decay=self.cfg.dice_decay, policy_space=True)
        # The bundle's rate acts on the mean loss over games and steps: scaled back to a step per visit.
        bundle = shaping.GradientBundle(model, (me.params, {"logits": model.opponent_logits}),
                                        self.cfg.shaping_weight * steps)
        return shaping.LOLA(v_after_lookahead=True).direction(bundle, 0)

    def _td_targets(self, target_q: torch.Tensor, last_probs: torch.Tensor, actions: torch.Tensor,
                    rewards: torch.Tensor, bootstrap: torch.Tensor) -> torch.Tensor:
        """``r_t + gamma Q'(h_{t+1}, a_{t+1})``; at the last step ``r + gamma V'(h_T)`` with
        ``V' = sum_a last_probs(a) Q'(h_T, a)`` where the time limit cut the episode, else ``r``.
        ``target_q`` ``[T+1, N, A]`` of the target critic; returns ``[T, N]``."""
        next_q = target_q[1:-1].gather(-1, actions[1:].unsqueeze(-1)).squeeze(-1)
        last_value = (last_probs * target_q[-1]).sum(-1) * bootstrap
        return rewards + self.cfg.gamma * torch.cat([next_q, last_value.unsqueeze(0)])

    # -- checkpoints (tensors + JSON only)
    def config(self) -> dict[str, Any]:
        return asdict(self.cfg)

    def state_dict(self) -> dict[str, Any]:
        """Everything that changes during training (weights, targets, optimisers, generator)."""
        return {
            "policy": self.policy.state_dict(),
            "q_critic": self.q_critic.state_dict(),
            "q_target": self.q_target.state_dict(),
            "opponent_q_critic": self.opponent_q_critic.state_dict(),
            "opponent_q_target": self.opponent_q_target.state_dict(),
            "policy_optimizer": self.policy_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "updates": self.updates,
            "seat": self.seat,
        }

    def policy_state(self) -> dict[str, Any]:
        """What acting needs: the actor's weights, the sampling generator, updates and seat."""
        return {"policy": self.policy.state_dict(), "generator": self.generator.get_state(),
                "updates": self.updates, "seat": self.seat}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("policy", "q_critic", "q_target", "opponent_q_critic", "opponent_q_target",
                     "policy_optimizer", "critic_optimizer"):
            getattr(self, name).load_state_dict(state[name])
        self.generator.set_state(state["generator"])
        self.updates = int(state["updates"])
        self.seat = int(state["seat"])


class LOQAPolicy(LOQAAgent):
    """A trained LOQA actor without its critics and optimisers: what evaluation, the league
    and the shipped checkpoints need (``state.pt`` about a fifth of the learner's).

    Acts exactly as the :class:`LOQAAgent` it was made from (same weights, seat and
    action-sampling generator); it does not learn: continue training from the run's
    trainer checkpoint instead.
    """

    @classmethod
    def of(cls, learner: LOQAAgent) -> LOQAPolicy:
        """The frozen actor of ``learner`` (a copy: later updates of the learner do not reach it)."""
        frozen = cls(learner.cfg)
        frozen.load_state_dict(copy.deepcopy(learner.policy_state()))
        frozen.updates = learner.updates
        return frozen

    def learn(self, batch: Batch, opponent_batch: Batch) -> dict[str, float]:
        raise TypeError("a LOQAPolicy is a frozen actor and does not learn; resume training from the run's "
                        "trainer checkpoint (lola_agents.learners.loqa.train_loqa(..., resume=True))")

    def state_dict(self) -> dict[str, Any]:
        return self.policy_state()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.generator.set_state(state["generator"])
        self.updates = int(state["updates"])
        self.seat = int(state["seat"])

# --------------------------------------------------------------------------- 4. presets and training
@dataclass
class LOQAPreset:
    """A named LOQA training setting: the batch, the budget, the learner and its past selves.

    Attributes:
        num_envs: games per update (paper 512).
        max_cycles: steps per episode, one episode per game per update (paper 50).
        updates: updates of a full run (paper 6,000: the official checkpoints are those
            of iteration 6000).
        agent: the learner's hyper-parameters.
        past_self_share: share of the learner's games played against a snapshot of its
            past selves, in (0, 1] (paper 1.0: every game).
        past_self_every: updates between snapshots (paper 10).
        past_self_size: capacity of the buffer (paper 10,000: it never fills in 6,000 updates,
            so it reaches back to initialisation).
        past_self_draws: snapshots drawn per batch (None: one per game, as the paper).
    """

    num_envs: int
    max_cycles: int
    updates: int
    agent: LOQAConfig = field(default_factory=LOQAConfig)
    past_self_share: float = 1.0
    past_self_every: int = 10
    past_self_size: int = 10_000
    past_self_draws: int | None = None

    def __post_init__(self) -> None:
        for name in ("num_envs", "max_cycles", "updates", "past_self_every", "past_self_size"):
            check_int(name, getattr(self, name), 1)
        if not isinstance(self.agent, LOQAConfig):
            raise ValueError(f"agent must be a LOQAConfig, got {type(self.agent).__name__}")
        if self.past_self_draws is not None:
            check_int("past_self_draws", self.past_self_draws, 1)
        if not 0 < self.past_self_share <= 1:
            raise ValueError(f"past_self_share must be in (0, 1], got {self.past_self_share!r}")

    def env_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``coin_game_env.make_vec("coin_game_v0", num_envs, **kw)``."""
        return {"max_cycles": self.max_cycles, "grid_size": self.agent.grid_size,
                "stay_action": self.agent.num_actions == 5, "egocentric": self.agent.egocentric_env}


PRESETS: dict[str, LOQAPreset] = {
    # The published coin-game runs (module doc of LOQAConfig): 512 games x 50 steps, 6,000
    # updates, self-play against past selves drawn per game from a buffer of 10,000
    # snapshots taken every 10 updates.
    "paper": LOQAPreset(num_envs=512, max_cycles=50, updates=6000),
    # This machine: the paper's learner and buffer on a quarter of the batch, with 16
    # snapshots drawn per batch instead of one per game (each drawn policy costs a
    # copy of its weights per step).
    "cpu": LOQAPreset(num_envs=128, max_cycles=50, updates=6000, past_self_draws=16),
}


def preset(name: str, **agent_overrides: Any) -> LOQAPreset:
    """A copy of ``PRESETS[name]`` with learner fields replaced, e.g. ``preset("paper", seed=3)``."""
    if name not in PRESETS:
        raise KeyError(f"unknown LOQA preset {name!r}; known: {sorted(PRESETS)}")
    unknown = sorted(set(agent_overrides) - {f.name for f in fields(LOQAConfig)})
    if unknown:
        raise TypeError(f"LOQAConfig has no field(s) {unknown}")
    base = PRESETS[name]
    return replace(base, agent=replace(base.agent, **agent_overrides))


def loqa_players(setting: LOQAPreset, seed: int) -> list[Any]:
    """The two seats of a LOQA run with seed ``seed``: the learner (seed
    ``agent_seed(seed, 0)``) and its past selves (``derive_seed(seed, Stream.STAND_IN)``)."""
    from lola_agents.population import self_play_with_past_selves
    from lola_agents.seeding import Stream, agent_seed, derive_seed

    learner = LOQAAgent(setting.agent, seed=agent_seed(seed, 0))
    return self_play_with_past_selves(
        learner, setting.num_envs, setting.past_self_share, setting.past_self_every, setting.past_self_size,
        seed=derive_seed(seed, Stream.STAND_IN), draws=setting.past_self_draws)


def train_loqa(setting: str | LOQAPreset = "paper", seed: int = 0, updates: int | None = None,
               **train_options: Any) -> Any:
    """Train LOQA in self-play against its past selves on the coin game.

    Args:
        setting: a :data:`PRESETS` name or a :class:`LOQAPreset`.
        seed: the run's seed (env, learner, past selves: :mod:`lola_agents.seeding`).
        updates: overrides the preset's budget.
        train_options: passed to :func:`lola_agents.trainer.train` (``log_dir``,
            ``checkpoint_every``, ``resume``, ``progress``, ``threads``, ``on_update``, ...).

    Returns:
        the :class:`lola_agents.trainer.TrainResult`; ``result.agents[0]`` is the learner.
    """
    from lola_agents.trainer import train

    setting = PRESETS[setting] if isinstance(setting, str) else setting
    players = loqa_players(setting, seed)
    return train("coin_game_v0", *players, updates=updates or setting.updates, steps_per_update=setting.max_cycles,
                 num_envs=setting.num_envs, seed=seed, env_options=setting.env_kwargs(), **train_options)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["shaping_weight=0.5", 'shaping="advantage_alignment"']`` -> ``{field: value}`` (JSON
    values; a bare word that is not JSON is taken as a string)."""
    import json

    known = {f.name for f in fields(LOQAConfig)}
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or key not in known:
            raise SystemExit(f"--set takes FIELD=VALUE with FIELD one of {sorted(known)}, got {pair!r}")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m lola_agents.learners.loqa``: train (or time) a preset; prints the seconds per
    update after the first, the peak memory and the machine's load."""
    import argparse
    import os
    import resource
    import time

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--preset", default="paper", choices=sorted(PRESETS))
    parser.add_argument("--updates", type=int, default=None, help="default: the preset's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--log-dir", default=None)
    parser.add_argument("--checkpoint-every", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                        help="LOQAConfig fields on top of the preset, values in JSON, e.g. "
                             "--set shaping='\"advantage_alignment\"' shaping_weight=1.0")
    args = parser.parse_args(argv)
    overrides = parse_overrides(args.set)
    setting = preset(args.preset, **overrides)
    stamps: list[tuple[float, float]] = []  # (wall, CPU seconds of this process) after each update
    result = train_loqa(setting, args.seed, args.updates, log_dir=args.log_dir, threads=args.threads,
                        checkpoint_every=args.checkpoint_every, resume=args.resume, progress=False,
                        on_update=lambda update, row: stamps.append((time.perf_counter(), time.process_time())))
    last = result.history[-1]
    print(f"{setting.agent.name} preset {args.preset!r}{' with ' + str(overrides) if overrides else ''}, "
          f"seed {args.seed}: {len(result.history)} updates, "
          f"own-coin rate {last.get('agent0/own_coin_rate', float('nan')):.3f}, "
          f"reward/step {last['reward_0']:.3f} / {last['reward_1']:.3f}")
    if len(stamps) > 1:
        wall, cpu = ((stamps[-1][i] - stamps[0][i]) / (len(stamps) - 1) for i in (0, 1))
        print(f"{wall:.2f} s/update wall, {cpu:.2f} s/update CPU (after the first update), "
              f"{args.threads} torch thread(s)")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
          f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
