"""Batched face of a game core for training: arrays with a game axis and an agent axis.

Layout: observations ``[num_envs, num_agents, *obs_shape]``,
actions int64 ``[num_envs, num_agents]``, rewards float32 ``[num_envs, num_agents]``,
episode ends bool ``[num_envs]``. Games that end are reset in the same call
(same-step auto-reset); the last observation of the finished episode is in
``info["final_obs"]`` and its summed rewards in ``info["episode_return"]``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from coin_game_env.core import GameCore, check_seed, validate_actions


class VecEnv:
    """``num_envs`` games of one core stepped together.

    Args:
        core: the game's batched rules.
        seed: seed of the generator behind every random draw: None (fresh entropy)
            or an integer in ``[0, 2**64 - 1]``.
        render_mode: None, ``"rgb_array"`` or ``"ansi"`` (renders game 0).
    """

    def __init__(
        self,
        core: GameCore,
        seed: int | None = None,
        render_mode: str | None = None,
        env_id: str | None = None,
    ) -> None:
        if render_mode not in (None, "rgb_array", "ansi"):
            raise ValueError(
                f"render_mode of a VecEnv must be None, 'rgb_array' or 'ansi', got {render_mode!r}"
            )
        self.core = core
        self.env_id = env_id
        self.render_mode = render_mode
        self.num_envs = core.num_envs
        self.possible_agents = list(core.possible_agents)
        self.num_agents = core.num_agents
        self.observation_space = core.observation_space
        self.action_space = core.action_space
        self._seed = check_seed(seed)
        self._rng = np.random.default_rng(self._seed)
        self._returns = np.zeros((self.num_envs, self.num_agents), dtype=np.float64)
        self._needs_reset = True

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start new episodes in every game. ``seed`` re-seeds the generator.

        Returns ``(obs [num_envs, num_agents, *obs_shape], info)``.
        """
        if seed is not None:
            self._rng = np.random.default_rng(check_seed(seed))
        obs = self.core.reset(self._rng)
        self._returns[:] = 0.0
        self._needs_reset = False
        return obs, {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Advance every game one step and auto-reset the games that ended.

        Args:
            actions: integers ``[num_envs, num_agents]`` in ``[0, action_space.n)``.

        Returns:
            ``(obs, rewards, terminated, truncated, info)``: obs of the NEXT step
            (the new episode's first obs where a game ended), rewards float32
            ``[num_envs, num_agents]``, terminated/truncated bool ``[num_envs]``,
            info with the core's per-step arrays and, on any end,
            ``final_obs`` (the ended episodes' last obs) and ``episode_return``
            float64 ``[num_envs, num_agents]`` (zero for games that did not end).
        """
        if self._needs_reset:
            raise RuntimeError("VecEnv.step() called before reset(); call reset() first")
        actions = validate_actions(actions, self.num_envs, self.num_agents, self.action_space.n)
        out = self.core.step(actions, self._rng)
        self._returns += out.rewards
        info: dict[str, Any] = dict(out.info)
        ended = out.terminated | out.truncated
        obs = out.obs
        if ended.any():
            info["final_obs"] = obs
            info["episode_return"] = np.where(ended[:, None], self._returns, 0.0)
            obs = self.core.reset(self._rng, mask=None if ended.all() else ended)
            self._returns[ended] = 0.0
        return obs, out.rewards, out.terminated, out.truncated, info

    @property
    def rng_state(self) -> str:
        """The state of the generator behind every random draw, as JSON text
        (for checkpoints: restoring it replays the same draws)."""
        return json.dumps(self._rng.bit_generator.state)

    @rng_state.setter
    def rng_state(self, state: str) -> None:
        self._rng.bit_generator.state = json.loads(state)

    def render(self) -> np.ndarray | str | None:
        """Picture of game 0 in the chosen render_mode."""
        if self.render_mode is not None and self._needs_reset:
            raise RuntimeError(
                "VecEnv.render() called before reset(); there is no game to draw yet, call reset() first"
            )
        if self.render_mode == "rgb_array":
            return self.core.render_rgb(0, self._returns[0])
        if self.render_mode == "ansi":
            return self.core.render_ansi(0, self._returns[0])
        return None

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"VecEnv({self.env_id or self.core.name}, num_envs={self.num_envs})"
