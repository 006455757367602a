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

from coin_game_env.core import GameCore, check_seed

RENDER_MODES = ["human", "rgb_array", "ansi"]
# numpy integer types taken as actions without the full check (np.bool_ is not one).
_NUMPY_INTS = frozenset((np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64))


class CoreParallelEnv(ParallelEnv):
    """PettingZoo ParallelEnv playing one game of ``core_factory(num_envs=1, **options)``.

    Observations are numpy arrays: ``Discrete`` observations are 0-d int64 arrays
    (``np.array(4)``, which compare equal to the int), so PettingZoo's tests and
    wrappers see the array they expect.

    Args:
        core_factory: builds the core (a two-player game); receives ``num_envs=1`` and ``options``.
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
        if self.core.num_agents != 2:
            raise ValueError(f"{env_id}: CoreParallelEnv plays two-player cores, got {self.core.possible_agents}")
        self.env_id = env_id
        self.metadata = {
            "name": env_id,
            "render_modes": RENDER_MODES,
            "render_fps": self.core.render_fps,
            "is_parallelizable": True,
        }
        self.render_mode = render_mode
        self.possible_agents = list(self.core.possible_agents)
        self._first, self._second = self.possible_agents
        self.agents: list[str] = []
        self._returns = [0.0, 0.0]  # summed rewards of the episode, kept only for rendering
        self._started = False
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
        if agent not in self.possible_agents:
            raise KeyError(f"unknown agent {agent!r}; agents are {self.possible_agents}")

    def reset(
        self, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, Any], dict[str, dict]]:
        """Start an episode; ``seed`` (None or an integer in [0, 2**64 - 1]) re-seeds
        the generator behind every random draw of the game."""
        if seed is not None:
            self._rng = np.random.default_rng(check_seed(seed))
        obs = self.core.reset(self._rng)
        self.agents = list(self.possible_agents)
        self._live = frozenset(self.agents)
        self._returns = [0.0, 0.0]
        self._started = True
        if self.render_mode == "human":
            self.render()
        return (
            {self._first: obs[0, 0, ...], self._second: obs[0, 1, ...]},
            {self._first: {}, self._second: {}},
        )

    def _integer_action(self, agent: str, action: Any) -> int:
        """``action`` as int if it is an integer (Python, numpy or a 0-d integer array)."""
        if isinstance(action, bool | np.bool_) or not (
            isinstance(action, int | np.integer)
            or (isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu")
        ):
            raise ValueError(
                f"action of {agent} must be an integer in [0, {self._n_actions - 1}], got {action!r}"
            )
        return int(action)

    def _action_row(self, actions: dict[str, Any]) -> list[int]:
        """The validated actions as Python ints in ``possible_agents`` order."""
        if not isinstance(actions, dict):
            raise TypeError(f"actions must be a dict {{agent: action}}, got {type(actions).__name__}")
        if actions.keys() != self._live:
            missing = sorted(set(self.agents) - actions.keys())
            extra = sorted(actions.keys() - set(self.agents))
            raise ValueError(
                f"actions must name exactly the live agents {self.agents}; "
                f"missing {missing}, unexpected {extra}"
            )
        first, second = actions[self._first], actions[self._second]
        # Exact type tests exclude bool; anything unusual gets the full check.
        if type(first) is not int:
            first = int(first) if type(first) in _NUMPY_INTS else self._integer_action(self._first, first)
        if type(second) is not int:
            second = int(second) if type(second) in _NUMPY_INTS else self._integer_action(self._second, second)
        n = self._n_actions
        if not (0 <= first < n and 0 <= second < n):
            agent, action = (self._first, first) if not 0 <= first < n else (self._second, second)
            raise ValueError(f"action {action} of {agent} is outside the allowed range [0, {n - 1}]")
        return [first, second]

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise RuntimeError(
                f"{self.env_id}: step() called after the episode ended (or before reset()); "
                "call reset() first"
            )
        obs, rewards, terminated, truncated, infos = self.core.step_one_game(
            self._action_row(actions), self._rng
        )
        first, second = self._first, self._second
        if self.render_mode is not None:
            self._returns = [self._returns[0] + rewards[0], self._returns[1] + rewards[1]]
        if terminated or truncated:
            self.agents = []
            self._live = frozenset()
        if self.render_mode == "human":
            self.render()
        # Two-player literals: several times faster than comprehensions at this size.
        return (
            {first: obs[0], second: obs[1]},
            {first: rewards[0], second: rewards[1]},
            {first: terminated, second: terminated},
            {first: truncated, second: truncated},
            {first: {}, second: {}} if infos is None else {first: infos[0], second: infos[1]},
        )

    def render(self) -> np.ndarray | str | None:
        if self.render_mode is None:
            gymnasium.logger.warn(
                f"{self.env_id}: render() called without a render_mode; "
                f"pass render_mode= one of {RENDER_MODES}"
            )
            return None
        if not self._started:
            raise RuntimeError(
                f"{self.env_id}: render() called before reset(); there is no game to draw yet, "
                "call reset() first"
            )
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
