"""Play agent A (player_0) against agent B (player_1) and measure the result.

Each metric is defined once, as a function of a :class:`~lola_agents.rollout.Batch`
(so training logs and evaluations use the same definitions):

* :func:`reward_per_step` - mean reward per step (undiscounted);
* :func:`action_given_state` - matrix games: P(action 0 | state) and visit counts;
* :func:`own_coin_rate` - coin game: own-colour pickups / all of the agent's pickups;
* :func:`pickups_per_step` - coin game: coins the agent picked per step;
* :func:`joint_own_coin_rate` - coin game: coins picked by their own colour's agent /
  all coins picked, over both seats (the paper's "own coin" figure);
* :func:`retaliation` - coin game: how often the agent takes the other's coin
  in the few steps after the other took one of its own, and at other times
  (a reciprocal agent takes it far more often after a theft).

Pickups come from the env's per-step info arrays (``own_coins``, ``other_coins``),
so no rule of the game is re-derived here. Exact (closed-form) metrics live in
``lola_agents.metrics``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

import coin_game_env
from coin_game_env.matrix_game import STATE_NAMES
from lola_agents.rollout import Agent, Batch, Rollout

MATRIX_STATE_NAMES = STATE_NAMES  # observation order: CC, CD, DC, DD, start


def reward_per_step(batch: Batch) -> float:
    """Mean reward per step and game (undiscounted), over the whole batch."""
    return float(batch.rewards.double().mean())


def _matrix_states(batch: Batch) -> torch.Tensor:
    obs = batch.obs
    return obs.argmax(dim=-1) if obs.dim() == 3 else obs  # one-hot [T, N, 5] or ints [T, N]


def action_given_state(batch: Batch) -> dict[str, dict[str, Any]]:
    """Matrix games: empirical P(action 0 | state) and visits per state.

    Returns ``{"p_action0": {state: p or None}, "visits": {state: count}}``
    with states ``CC, CD, DC, DD, start`` from this agent's side; ``None``
    where a state was never visited.
    """
    states = _matrix_states(batch).reshape(-1)
    actions = batch.actions.reshape(-1)
    visits = torch.bincount(states, minlength=5)
    zeros = torch.bincount(states[actions == 0], minlength=5)
    p_action0 = {
        name: (float(zeros[i]) / float(visits[i]) if visits[i] > 0 else None)
        for i, name in enumerate(MATRIX_STATE_NAMES)
    }
    return {"p_action0": p_action0, "visits": {n: int(visits[i]) for i, n in enumerate(MATRIX_STATE_NAMES)}}


def _pickups(batch: Batch) -> tuple[float, float]:
    if "own_coins" not in batch.infos or "other_coins" not in batch.infos:
        raise KeyError(
            f"batch has no coin pickups in its infos (keys: {sorted(batch.infos)}); "
            "own_coins/other_coins come from coin_game_v0"
        )
    return float(batch.infos["own_coins"].sum()), float(batch.infos["other_coins"].sum())


def own_coin_rate(batch: Batch) -> float:
    """Coin game: the agent's own-colour pickups / all its pickups (NaN if it picked none)."""
    own, other = _pickups(batch)
    return own / (own + other) if own + other > 0 else math.nan


def pickups_per_step(batch: Batch) -> float:
    """Coin game: coins this agent picked (either colour) per step and game."""
    own, other = _pickups(batch)
    return (own + other) / (batch.num_steps * batch.num_envs)


def joint_own_coin_rate(batches: list[Batch]) -> float:
    """Coin game: coins picked by their own colour's agent / all coins picked by anyone
    (a coin both agents step on counts once for each). NaN if no coin was picked."""
    own = sum(_pickups(b)[0] for b in batches)
    total = sum(sum(_pickups(b)) for b in batches)
    return own / total if total > 0 else math.nan


RETALIATION_WINDOW = 3


def retaliation(batch: Batch, opponent_batch: Batch, window: int = RETALIATION_WINDOW,
                egocentric: bool = False) -> dict[str, Any]:
    """Coin game: P(this agent takes the other's coin at step t | that coin is on the board),
    in the ``window`` steps after the opponent took one of this agent's coins (same episode)
    and at all other steps.

    Args:
        batch, opponent_batch: the two seats of one rollout (coin-game infos, planes obs
            ``[T, N, 4, g, g]``).
        window: steps after a theft that count as "after", >= 1.
        egocentric: the obs planes are ``[me, other, my coin, other's coin]`` (else the
            shared ``[red, blue, red coin, blue coin]``).

    Returns ``{"after_theft", "otherwise"}`` (NaN where no such step) and the step counts
    ``{"steps_after_theft", "steps_otherwise"}``. A tit-for-tat agent takes the other's coin
    after a theft and never otherwise; an agent whose play does not depend on thefts
    (greedy, own-coin-only) has about the same rate in both.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    theft = opponent_batch.infos["other_coins"] > 0  # [T, N]: the opponent took my coin at step t
    takes = batch.infos["other_coins"] > 0
    plane = 3 if egocentric else 3 - batch.agent_index
    other_coin_out = batch.obs[:, :, plane].flatten(2).amax(-1) > 0
    since = torch.full((batch.num_envs,), window, dtype=torch.long)  # steps since the last theft
    after = torch.zeros_like(theft)
    for t in range(batch.num_steps):
        since = torch.where(batch.episode_starts[t], torch.full_like(since, window), since)
        after[t] = since < window
        since = torch.where(theft[t], torch.zeros_like(since), since + 1)
    out: dict[str, Any] = {}
    for name, steps in (("after_theft", after & other_coin_out), ("otherwise", ~after & other_coin_out)):
        count = int(steps.sum())
        out[name] = float(takes[steps].double().mean()) if count else math.nan
        out["steps_" + name] = count
    return out


def batch_metrics(batches: list[Batch], matrix_game: bool | None = None, egocentric: bool = False) -> dict[str, Any]:
    """Every metric that applies to these per-seat batches, as JSON-ready numbers.

    ``matrix_game`` None: decided from the batches (coin pickups in the infos
    -> coin game; integer or 5-wide one-hot obs -> matrix game). ``egocentric``:
    coin-game planes are egocentric (for :func:`retaliation`).
    """
    coin_game = all("own_coins" in b.infos for b in batches)
    if matrix_game is None:
        first = batches[0].obs
        matrix_game = not coin_game and (first.dim() == 2 or first.shape[-1] == 5)
    out: dict[str, Any] = {}
    for index, batch in enumerate(batches):
        seat: dict[str, Any] = {"reward_per_step": reward_per_step(batch)}
        if matrix_game:
            seat.update(action_given_state(batch))
        if coin_game:
            seat["own_coin_rate"] = _json_float(own_coin_rate(batch))
            seat["pickups_per_step"] = pickups_per_step(batch)
            if len(batches) == 2 and batch.obs.dim() == 5:  # planes (not obs_type="flat")
                rates = retaliation(batch, batches[1 - index], egocentric=egocentric)
                seat["takes_other_coin_after_theft"] = _json_float(rates["after_theft"])
                seat["takes_other_coin_otherwise"] = _json_float(rates["otherwise"])
        out[f"player_{batch.agent_index}"] = seat
    out["reward_per_step"] = [reward_per_step(b) for b in batches]
    if coin_game:
        out["own_coin_rate"] = _json_float(joint_own_coin_rate(batches))
        out["pickups_per_step"] = sum(pickups_per_step(b) for b in batches)
    return out


def evaluate(
    env_id: str,
    agent_a: Agent,
    agent_b: Agent,
    episodes: int = 100,
    seed: int = 0,
    **env_options: Any,
) -> dict[str, Any]:
    """Play ``episodes`` full episodes of ``env_id`` (in parallel), A as player_0, B as player_1.

    Args:
        env_id: registered id, e.g. ``"ipd_v0"``, ``"coin_game_v0"``.
        agent_a, agent_b: any :class:`~lola_agents.rollout.Agent`; agents with a
            ``reseed`` method (the fixed strategies) are reseeded from ``seed``.
        episodes: number of games, all played at once (one episode each).
        seed: seeds the env (and reseedable agents) so results are reproducible.
        env_options: game options, e.g. ``max_cycles=50``.

    Returns:
        ``{"env_id", "episodes", "steps", "seed", "reward_per_step": [r0, r1],
        "player_0": {...}, "player_1": {...}}`` plus, on the coin game,
        ``own_coin_rate`` and ``pickups_per_step`` over both seats. Per seat:
        ``reward_per_step``; matrix games ``p_action0`` and ``visits`` per state;
        coin game ``own_coin_rate``, ``pickups_per_step`` and (planes obs)
        ``takes_other_coin_after_theft`` / ``takes_other_coin_otherwise`` (:func:`retaliation`).
        Rewards are per step (undiscounted means over all steps and games).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    vec_env = coin_game_env.make_vec(env_id, num_envs=episodes, seed=seed, **env_options)
    for offset, agent in enumerate((agent_a, agent_b)):
        reseed = getattr(agent, "reseed", None)
        if callable(reseed):
            reseed(seed * 2 + offset + 1)
    rollout = Rollout(vec_env, [agent_a, agent_b])
    rollout.reset(seed=seed)
    episode_length = int(getattr(vec_env.core, "max_cycles", 0))
    if episode_length < 1:
        raise ValueError(f"{env_id} has no fixed episode length (max_cycles) to evaluate over")
    batches = rollout.collect(episode_length)
    if not bool(batches[0].dones[-1].all()) or bool(batches[0].dones[:-1].any()):
        raise RuntimeError(
            f"{env_id}: episodes did not all end exactly after max_cycles={episode_length} steps"
        )
    matrix_game = isinstance(vec_env.core, coin_game_env.MatrixGameCore)
    result: dict[str, Any] = {
        "env_id": env_id,
        "episodes": episodes,
        "steps": episode_length,
        "seed": seed,
        "env_options": dict(env_options),
    }
    result.update(batch_metrics(batches, matrix_game=matrix_game, egocentric=bool(env_options.get("egocentric", False))))
    return result


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def summarize(results: list[dict[str, Any]], key_path: tuple[str | int, ...]) -> tuple[float, float]:
    """Mean and standard deviation (ddof=0) of one metric over several ``evaluate`` results,
    e.g. ``summarize(rs, ("reward_per_step", 0))`` or ``("player_1", "own_coin_rate")``."""
    values = []
    for r in results:
        v: Any = r
        for k in key_path:
            v = v[k]
        if v is not None:
            values.append(float(v))
    if not values:
        return math.nan, math.nan
    return float(np.mean(values)), float(np.std(values))
