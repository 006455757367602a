"""Play agent A (player_0) against agent B (player_1) and measure the result.

Each metric is defined once, as a function of a :class:`~lola_agents.rollout.Batch`
(so training logs and evaluations use the same definitions):

* :func:`reward_per_step` - mean reward per step (undiscounted);
* :func:`action_given_state` - matrix games: P(action 0 | state) and visit counts;
* :func:`own_coin_rate` - coin game: own-colour pickups / all of the agent's pickups;
* :func:`pickups_per_step` - coin game: coins the agent picked per step;
* :func:`joint_own_coin_rate` - coin game: coins picked by their own colour's agent /
  all coins picked, over both seats (the paper's "own coin" figure).

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


def batch_metrics(batches: list[Batch], matrix_game: bool | None = None) -> dict[str, Any]:
    """Every metric that applies to these per-seat batches, as JSON-ready numbers.

    ``matrix_game`` None: decided from the batches (coin pickups in the infos
    -> coin game; integer or 5-wide one-hot obs -> matrix game).
    """
    coin_game = all("own_coins" in b.infos for b in batches)
    if matrix_game is None:
        first = batches[0].obs
        matrix_game = not coin_game and (first.dim() == 2 or first.shape[-1] == 5)
    out: dict[str, Any] = {}
    for batch in batches:
        seat: dict[str, Any] = {"reward_per_step": reward_per_step(batch)}
        if matrix_game:
            seat.update(action_given_state(batch))
        if coin_game:
            seat["own_coin_rate"] = _json_float(own_coin_rate(batch))
            seat["pickups_per_step"] = pickups_per_step(batch)
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
        coin game ``own_coin_rate`` and ``pickups_per_step``.
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
    result.update(batch_metrics(batches, matrix_game=matrix_game))
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
