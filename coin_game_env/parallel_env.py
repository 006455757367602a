"""One generic PettingZoo ParallelEnv over any game core (one game, ``num_envs = 1``).

The rules live only in the core; this face converts between PettingZoo's
per-agent dicts and the core's arrays, validates actions, tracks the episode's
returns for rendering and refuses to step a finished episode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
from pettingzoo import ParallelEnv

from coin_game_env.core import GameCore

RENDER_MODES = ["human", "rgb_array", "ansi"]
_PLAIN_INTS = (int, np.int64, np.int32)  # fast path of the action type check


class CoreParallelEnv(ParallelEnv):
    """PettingZoo ParallelEnv playing one game of ``core_factory(num_envs=1, **options)``.

    Args:
        core_factory: builds the core; receives ``num_envs=1`` and ``options``.
        env_id: the registered id (for messages and ``metadata["name"]``).
        render_mode: None, ``"human"`` (pygame window), ``"rgb_array"`` or ``"ansi"``.
        options: the game's options (e.g. ``max_cycles``), validated by the core.
    """

    metadata: dict[str, Any] = {"name": "core_env", "render_modes": RENDER_MODES, "render_fps": 4}

    def __init__(
        self,
        core_factory: Callable[..., GameCore],
        env_id: str,
        render_mode: str | None = None,
        **options: Any,
    ) -> None:
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode must be None or one of {RENDER_MODES}, got {render_mode!r}")
        self.core = core_factory(num_envs=1, **options)
        self.env_id = env_id
        self.metadata = {
            "name": env_id,
            "render_modes": RENDER_MODES,
            "render_fps": self.core.render_fps,
            "is_parallelizable": True,
        }
        self.render_mode = render_mode
        self.possible_agents = list(self.core.possible_agents)
        self.agents: list[str] = []
        self._index = {agent: i for i, agent in enumerate(self.possible_agents)}
        self._returns = [0.0] * self.core.num_agents
        self._live: frozenset[str] = frozenset()
        self._rng = np.random.default_rng()
        self._window = None
        self._n_actions = int(self.core.action_space.n)

    def observation_space(self, agent: str) -> gymnasium.spaces.Space:
        self._check_agent(agent)
        return self.core.observation_space

    def action_space(self, agent: str) -> gymnasium.spaces.Space:
        self._check_agent(agent)
        return self.core.action_space

    def _check_agent(self, agent: str) -> None:
        if agent not in self._index:
            raise KeyError(f"unknown agent {agent!r}; agents are {self.possible_agents}")

    def reset(
        self, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, Any], dict[str, dict]]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        obs = self.core.reset(self._rng)
        self.agents = list(self.possible_agents)
        self._live = frozenset(self.agents)
        self._returns = [0.0] * self.core.num_agents
        if self.render_mode == "human":
            self.render()
        return (
            {agent: obs[0, i] for i, agent in enumerate(self.possible_agents)},
            {agent: {} for agent in self.possible_agents},
        )

    def _action_array(self, actions: dict[str, Any]) -> np.ndarray:
        if not isinstance(actions, dict):
            raise TypeError(f"actions must be a dict {{agent: action}}, got {type(actions).__name__}")
        if actions.keys() != self._live:
            missing = sorted(set(self.agents) - actions.keys())
            extra = sorted(actions.keys() - set(self.agents))
            raise ValueError(
                f"actions must name exactly the live agents {self.agents}; "
                f"missing {missing}, unexpected {extra}"
            )
        arr = np.empty((1, len(self.possible_agents)), dtype=np.int64)
        for agent, action in actions.items():
            if type(action) not in _PLAIN_INTS and (
                isinstance(action, bool | np.bool_)
                or not (
                    isinstance(action, int | np.integer)
                    or (isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu")
                )
            ):
                raise ValueError(
                    f"action of {agent} must be an integer in [0, {self._n_actions - 1}], got {action!r}"
                )
            if not 0 <= action < self._n_actions:
                raise ValueError(
                    f"action {int(action)} of {agent} is outside the allowed range "
                    f"[0, {self._n_actions - 1}]"
                )
            arr[0, self._index[agent]] = action
        return arr

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise RuntimeError(
                f"{self.env_id}: step() called after the episode ended (or before reset()); "
                "call reset() first"
            )
        out = self.core.step(self._action_array(actions), self._rng)
        agents = self.possible_agents
        obs_row, reward_row = out.obs[0], out.rewards[0].tolist()
        self._returns = [total + r for total, r in zip(self._returns, reward_row, strict=True)]
        obs = {agent: obs_row[i] for i, agent in enumerate(agents)}
        rewards = dict(zip(agents, reward_row, strict=True))
        terminated = bool(out.terminated[0])
        truncated = bool(out.truncated[0])
        terminations = dict.fromkeys(agents, terminated)
        truncations = dict.fromkeys(agents, truncated)
        infos = (
            {agent: {key: value[0, i] for key, value in out.info.items()} for i, agent in enumerate(agents)}
            if out.info
            else {agent: {} for agent in agents}
        )
        if terminated or truncated:
            self.agents = []
            self._live = frozenset()
        if self.render_mode == "human":
            self.render()
        return obs, rewards, terminations, truncations, infos

    def render(self) -> np.ndarray | str | None:
        if self.render_mode is None:
            gymnasium.logger.warn(
                f"{self.env_id}: render() called without a render_mode; "
                f"pass render_mode= one of {RENDER_MODES}"
            )
            return None
        if self.render_mode == "ansi":
            return self.core.render_ansi(0, np.array(self._returns))
        frame = self.core.render_rgb(0, np.array(self._returns))
        if self.render_mode == "rgb_array":
            return frame
        from coin_game_env.rendering import PygameWindow

        if self._window is None:
            self._window = PygameWindow(self.env_id, self.core.render_fps)
        self._window.show(frame)
        return None

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None

