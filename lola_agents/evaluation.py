"""Play agent A (player_0) against agent B (player_1) and measure the result.

:func:`evaluate` plays full episodes and :func:`batch_metrics` composes the
per-batch metrics that apply to a game. The metrics themselves are defined once,
in :mod:`lola_agents.metrics` (formulas: docs/metrics.md); their old names stay
importable from here:

* :func:`reward_per_step` = :func:`lola_agents.metrics.batch_reward_per_step`
  (sampled mean reward per step of a batch; not the exact ``(1 - gamma) V``);
* :func:`action_given_state`, :func:`own_coin_rate`, :func:`pickups_per_step`,
  :func:`joint_own_coin_rate`, :func:`retaliation` (same names in
  :mod:`lola_agents.metrics`).
"""

from __future__ import annotations

import math
from typing import Any

import coin_game_env
from coin_game_env.matrix_game import STATE_NAMES
from lola_agents.metrics import (
    RETALIATION_WINDOW,
    action_given_state,
    batch_reward_per_step,
    joint_own_coin_rate,
    mean_and_std,
    own_coin_rate,
    pickups_per_step,
    retaliation,
)
from lola_agents.rollout import Agent, Batch, Rollout
from lola_agents.seeding import derive_seed

MATRIX_STATE_NAMES = STATE_NAMES  # observation order: CC, CD, DC, DD, start
reward_per_step = batch_reward_per_step  # old name of the sampled mean reward per step

__all__ = [
    "MATRIX_STATE_NAMES",
    "RETALIATION_WINDOW",
    "action_given_state",
    "batch_metrics",
    "evaluate",
    "joint_own_coin_rate",
    "own_coin_rate",
    "pickups_per_step",
    "retaliation",
    "reward_per_step",
    "summarize",
]


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
        seat: dict[str, Any] = {"reward_per_step": batch_reward_per_step(batch)}
        if matrix_game:
            seat.update(action_given_state(batch))
        if coin_game:
            seat["own_coin_rate"] = _json_float(own_coin_rate(batch))
            seat["pickups_per_step"] = pickups_per_step(batch)
            if len(batches) == 2 and batch.obs.dim() == 5:  # planes (not obs_type="flat")
                rates = retaliation(batch, batches[1 - index], egocentric=egocentric)
                seat["takes_other_coin_after_theft"] = _json_float(rates["after_theft"])
                seat["takes_other_coin_otherwise"] = _json_float(rates["otherwise"])
                seat["steps_after_theft"] = rates["steps_after_theft"]
                seat["steps_otherwise"] = rates["steps_otherwise"]
        out[f"player_{batch.agent_index}"] = seat
    out["reward_per_step"] = [batch_reward_per_step(b) for b in batches]
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
        ``takes_other_coin_after_theft`` / ``takes_other_coin_otherwise`` (:func:`retaliation`)
        with the steps each rate is over (``steps_after_theft`` / ``steps_otherwise``).
        Rewards are per step (undiscounted means over all steps and games).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    vec_env = coin_game_env.make_vec(env_id, num_envs=episodes, seed=seed, **env_options)
    for offset, agent in enumerate((agent_a, agent_b)):
        reseed = getattr(agent, "reseed", None)
        if callable(reseed):
            reseed(derive_seed(seed, offset))
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
    """Mean and standard deviation (ddof=0, :func:`lola_agents.metrics.mean_and_std`) of one
    metric over several ``evaluate`` results, e.g. ``summarize(rs, ("reward_per_step", 0))``
    or ``("player_1", "own_coin_rate")``; None entries are skipped."""
    values = []
    for r in results:
        v: Any = r
        for k in key_path:
            v = v[k]
        if v is not None:
            values.append(float(v))
    return mean_and_std(values)
