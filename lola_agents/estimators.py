"""Value estimators of sampled learners, one copy each.

Pure functions of time-major tensors ``[T, N]`` (T steps, N games), used by every
sampled learner and by :mod:`lola_agents.shaping`'s sampled value models:

- discounts and returns: :func:`episode_discounts`, :func:`returns_to_go`,
  :func:`gae` (generalised advantage estimates), :func:`episode_cumsum`;
- policy-gradient surrogates (LOLA-PG): :func:`first_order_surrogate` (its gradient is
  the policy gradient), :func:`second_order_surrogate` (its mixed second derivative
  is the paper's estimate of ``grad_1 grad_2 V``), :func:`policy_objective`
  (first-order surrogate plus an entropy bonus);
- DiCE (Foerster et al. 2018b): :func:`magic_box`, :func:`dice_objective`, and the
  "loaded" form with dependencies decayed per step (Farquhar et al. 2019):
  :func:`decayed_cumsum`, :func:`dependency_decay_matrix`, :func:`loaded_dice_objective`.

Every value is the un-normalised discounted value ``E[sum_t gamma^t r_t]`` averaged
over games, as in the exact learners.
"""

from __future__ import annotations

import torch


def episode_discounts(episode_starts: torch.Tensor, gamma: float) -> torch.Tensor:
    """``gamma ** (steps since the episode began)``, float32 ``[T, N]``.

    Row 0 counts as an episode start (a batch that continues an episode
    discounts from its first row).
    """
    steps, num_envs = episode_starts.shape
    powers = torch.pow(
        torch.tensor(gamma, dtype=torch.float64), torch.arange(steps, dtype=torch.float64)
    )
    if not bool(episode_starts[1:].any()):  # fast path: every episode fills the batch
        return powers.float().unsqueeze(1).expand(steps, num_envs)
    starts = episode_starts.clone()
    starts[0] = True
    time = torch.arange(steps).unsqueeze(1).expand(steps, num_envs)
    last_start = torch.cummax(torch.where(starts, time, torch.zeros_like(time)), dim=0).values
    return powers.float()[time - last_start]


def returns_to_go(rewards: torch.Tensor, dones: torch.Tensor, gamma: float) -> torch.Tensor:
    """Discounted return-to-go within each episode: ``G_t = r_t + gamma G_{t+1}`` (0 after an end).

    ``rewards`` float ``[T, N]``, ``dones`` bool ``[T, N]`` -> float32 ``[T, N]``.
    Episodes cut by the batch end are not bootstrapped (the paper's episodes
    fill the batch exactly).
    """
    out = torch.empty_like(rewards, dtype=torch.float32)
    running = torch.zeros(rewards.shape[1], dtype=torch.float32)
    keep = (~dones).float()
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = rewards[t] + gamma * running * keep[t]
        out[t] = running
    return out


def episode_cumsum(values: torch.Tensor, episode_starts: torch.Tensor) -> torch.Tensor:
    """Sum of ``values`` from the start of the current episode up to and including t.

    ``values`` ``[T, N]`` (differentiable), ``episode_starts`` bool ``[T, N]`` -> ``[T, N]``.
    One cumsum over time; no loop over episodes.
    """
    total = torch.cumsum(values, dim=0)
    if not bool(episode_starts[1:].any()):  # fast path: every episode fills the batch
        return total
    before = total - values  # sum over steps < t
    starts = episode_starts.clone()
    starts[0] = True
    time = torch.arange(values.shape[0]).unsqueeze(1).expand_as(values)
    last_start = torch.cummax(torch.where(starts, time, torch.zeros_like(time)), dim=0).values
    return total - torch.gather(before, 0, last_start)


def first_order_surrogate(
    log_probs: torch.Tensor, advantages: torch.Tensor, discounts: torch.Tensor
) -> torch.Tensor:
    """Scalar whose gradient is the policy-gradient estimate ``mean_n sum_t gamma^t A_t grad log pi``.

    ``log_probs`` ``[T, N]`` differentiable; ``advantages``, ``discounts`` ``[T, N]`` (no gradient).
    """
    return (discounts * advantages.detach() * log_probs).sum(0).mean()


def second_order_surrogate(
    log_probs_a: torch.Tensor,
    log_probs_b: torch.Tensor,
    rewards: torch.Tensor,
    discounts: torch.Tensor,
    episode_starts: torch.Tensor,
    baseline: torch.Tensor | None = None,
) -> torch.Tensor:
    """Scalar whose mixed derivative ``d^2 / d theta_a d theta_b`` estimates ``grad_a grad_b V``.

    ``mean_n sum_t gamma^t (r_t - b_t) (sum_{l<=t} log pi_a)(sum_{l<=t} log pi_b)``
    with the per-step batch-mean baseline ``b_t``. ``log_probs_a`` depends only on
    theta_a and ``log_probs_b`` only on theta_b; all inputs ``[T, N]``; ``rewards``
    are those of the agent whose value is differentiated. ``baseline`` ``[T, 1]``
    replaces the batch mean when given (the coin-game learner passes the mean of
    the full batch, so slices of games sum to the full-batch value).
    """
    centred = rewards - (rewards.mean(dim=1, keepdim=True) if baseline is None else baseline)
    cross = episode_cumsum(log_probs_a, episode_starts) * episode_cumsum(
        log_probs_b, episode_starts
    )
    return (discounts * centred * cross).sum(0).mean()


def magic_box(x: torch.Tensor) -> torch.Tensor:
    """``exp(x - stop_grad(x))``: 1 in the forward pass, ``d/dx = 1 * MagicBox`` in every order."""
    return torch.exp(x - x.detach())


def decayed_cumsum(
    values: torch.Tensor, episode_starts: torch.Tensor, decay: float
) -> torch.Tensor:
    """``d_t = decay * d_{t-1} + values_t`` within episodes, ``[T, N] -> [T, N]``."""
    out = []
    running = torch.zeros_like(values[0])
    for t in range(values.shape[0]):
        keep = (~episode_starts[t]).to(values.dtype) if t > 0 else torch.zeros_like(values[0])
        running = decay * running * keep + values[t]
        out.append(running)
    return torch.stack(out)


def dice_objective(
    own_log_probs: torch.Tensor,
    other_log_probs: torch.Tensor,
    rewards: torch.Tensor,
    discounts: torch.Tensor,
    episode_starts: torch.Tensor,
    baseline: torch.Tensor | None = None,
    loaded_decay: float | None = None,
) -> torch.Tensor:
    """DiCE objective of one agent, averaged over the N games (a scalar).

    Args:
        own_log_probs, other_log_probs: ``[T, N]`` log-probabilities of both agents'
            actions, differentiable in whatever parameters they depend on.
        rewards: ``[T, N]`` rewards of the agent whose objective this is.
        discounts: ``[T, N]`` ``gamma ** t`` within episodes.
        episode_starts: bool ``[T, N]``.
        baseline: ``[T, N]`` value estimates of the agent's states (no gradient), or None.
        loaded_decay: decay of the dependencies per step (None: full DiCE).

    Returns:
        Scalar equal to the mean discounted return in the forward pass.
    """
    step = own_log_probs + other_log_probs
    if loaded_decay is None:
        deps = episode_cumsum(step, episode_starts)
    else:
        deps = decayed_cumsum(step, episode_starts, loaded_decay)
    objective = (discounts * rewards * magic_box(deps)).sum(0).mean()
    if baseline is not None:
        before = deps - step  # dependencies on the actions strictly before t
        weights = magic_box(before) - magic_box(deps)
        objective = objective + (discounts * baseline.detach() * weights).sum(0).mean()
    return objective


def gae(
    rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and value targets, ``[T, N]`` each.

    ``rewards``, ``values`` float ``[T, N]``; ``dones`` bool ``[T, N]`` (an episode
    end is terminal: the episodes are finite). The batch must end at episode ends.
    """
    advantages = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[0])
    next_value = torch.zeros_like(rewards[0])
    keep = (~dones).to(rewards.dtype)
    for t in range(rewards.shape[0] - 1, -1, -1):
        delta = rewards[t] + gamma * next_value * keep[t] - values[t]
        running = delta + gamma * lam * keep[t] * running
        advantages[t] = running
        next_value = values[t]
    return advantages, advantages + values


def dependency_decay_matrix(steps: int, decay: float) -> torch.Tensor:
    """``D[t, s] = decay ** (t - s)`` for ``s <= t`` else 0, float32 ``[T, T]``."""
    time = torch.arange(steps, dtype=torch.float64)
    lag = time[:, None] - time[None, :]
    return torch.where(lag >= 0, torch.pow(decay, lag.clamp(min=0)), torch.zeros(())).float()


def loaded_dice_objective(
    log_probs: torch.Tensor,
    advantages: torch.Tensor,
    discounts: torch.Tensor,
    decay_matrix: torch.Tensor,
) -> torch.Tensor:
    """Loaded DiCE (Farquhar et al. 2019): ``mean_n sum_t gamma^t A_t [box(w_t) - box(w_t - l_t)]``.

    ``log_probs`` ``[T, N]``: the sum of both agents' log-probabilities at step t
    (differentiable); ``w_t = sum_{s<=t} decay^(t-s) l_s``; ``advantages``,
    ``discounts`` ``[T, N]``; ``decay_matrix`` ``[T, T]`` from
    :func:`dependency_decay_matrix` (episodes start at row 0 of the batch).
    Its first derivative is the plain policy gradient; its second derivatives
    keep the cross terms of actions up to decay^lag apart.
    """
    weights = decay_matrix @ log_probs
    terms = magic_box(weights) - magic_box(weights - log_probs)
    return (discounts * advantages.detach() * terms).sum(0).mean()


def policy_objective(
    log_probs: torch.Tensor,
    entropy: torch.Tensor,
    advantages: torch.Tensor,
    discounts: torch.Tensor,
    entropy_coef: float,
) -> torch.Tensor:
    """``mean_n sum_t gamma^t (A_t log pi(a_t) + entropy_coef H_t)``, all ``[T, N]``: its
    gradient is the policy gradient plus the entropy bonus's (advantages are constants)."""
    return (discounts * (advantages.detach() * log_probs + entropy_coef * entropy)).sum(0).mean()
