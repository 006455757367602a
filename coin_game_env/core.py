"""The contract between a game's batched rules (a *core*) and the env faces.

A core holds the state of ``num_envs`` games as numpy arrays and advances all of
them at once; it contains every rule of its game and nothing else. The two faces
(:class:`coin_game_env.parallel_env.CoreParallelEnv` for PettingZoo users,
:class:`coin_game_env.vector_env.VecEnv` for training) only validate input,
convert layouts, auto-reset and render. Both call the same ``reset``/``step``, so
the two faces cannot disagree about the rules.
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium
import numpy as np

POSSIBLE_AGENTS: tuple[str, str] = ("player_0", "player_1")
# Seeds are what numpy's SeedSequence and torch.manual_seed both take without
# change: non-negative integers below 2**64.
MAX_SEED = 2**64 - 1

# What one game step returns for a single game (the ParallelEnv's path), on
# Python values: (obs per agent, reward per agent, terminated, truncated, info per agent).
OneGameStep = tuple[list[Any], Sequence[float], bool, bool, list[dict[str, Any]] | None]


@dataclass
class CoreStep:
    """What one batched step returns.

    Attributes:
        obs: observations, ``[num_envs, num_agents, *obs_shape]``.
        rewards: float32 ``[num_envs, num_agents]``.
        terminated: bool ``[num_envs]``; the game reached a terminal state.
        truncated: bool ``[num_envs]``; the game hit its step limit.
        info: per-step arrays with a leading ``[num_envs, num_agents]`` layout
            (e.g. coin pickups), documented by each core.
    """

    obs: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    info: dict[str, np.ndarray] = field(default_factory=dict)


class GameCore(ABC):
    """Batched rules of one two-player game.

    Subclasses set ``name``, ``observation_space`` and ``action_space`` (per
    agent, single game; the same objects for the core's lifetime) in
    ``__init__`` and validate their options there with clear errors.
    """

    name: str = "game"
    possible_agents: tuple[str, ...] = POSSIBLE_AGENTS
    render_fps: int = 4
    observation_space: gymnasium.spaces.Space
    action_space: gymnasium.spaces.Discrete

    def __init__(self, num_envs: int) -> None:
        self.num_envs = check_int("num_envs", num_envs, minimum=1)

    def check_memory(self, bytes_per_game: int) -> None:
        """Refuse a ``num_envs`` whose arrays cannot fit in this machine's memory.

        Args:
            bytes_per_game: a lower bound of the bytes one game needs (its state
                and one step's observations), computed by the core from its options.

        Raises a ValueError naming ``num_envs``, the memory it would need and the
        machine's memory, instead of a MemoryError deep inside numpy.
        """
        needed = self.num_envs * bytes_per_game
        available = physical_memory_bytes()
        if available is not None and needed > available:
            raise ValueError(
                f"num_envs={self.num_envs} needs at least {format_bytes(needed)} "
                f"({bytes_per_game} bytes per game for the state and one step's observations), "
                f"more than this machine's {format_bytes(available)} of memory; use a smaller num_envs"
            )

    @property
    def num_agents(self) -> int:
        return len(self.possible_agents)

    @abstractmethod
    def reset(self, rng: np.random.Generator, mask: np.ndarray | None = None) -> np.ndarray:
        """Start new episodes in the games where ``mask`` (bool ``[num_envs]``) is
        true, or in all games if ``mask`` is None. Random draws come from ``rng``.

        Returns the observations of ALL games, ``[num_envs, num_agents, *obs_shape]``.
        """

    @abstractmethod
    def step(self, actions: np.ndarray, rng: np.random.Generator) -> CoreStep:
        """Advance every game one step.

        Args:
            actions: int64 ``[num_envs, num_agents]``, already validated by the face.
            rng: generator for any random draw the rules need (e.g. coin respawn).
        """

    def step_one_game(self, actions: list[int], rng: np.random.Generator) -> OneGameStep:
        """``step`` of a core with ``num_envs == 1``, in the ParallelEnv's terms.

        Args:
            actions: one validated Python int per agent.

        Returns:
            ``(obs, rewards, terminated, truncated, infos)``: a list with each agent's
            observation (an array no later step writes), a sequence of Python float
            rewards (a tuple the caller must not change), two bools, and a list of
            fresh info dicts, one per agent (None when the game has no step info).
            Cores override this with a faster path that must return the same values.
        """
        out = self.step(np.array([actions], dtype=np.int64), rng)
        obs_row = out.obs[0]
        agents = range(self.num_agents)
        return (
            [obs_row[i, ...] for i in agents],
            out.rewards[0].tolist(),
            bool(out.terminated[0]),
            bool(out.truncated[0]),
            [{key: value[0, i] for key, value in out.info.items()} for i in agents] if out.info else None,
        )

    def render_ansi(self, index: int, returns: np.ndarray) -> str:
        """Text picture of game ``index``; ``returns`` are the episode's summed rewards."""
        return f"{self.name} game {index}: returns {returns.tolist()}"

    @abstractmethod
    def render_rgb(self, index: int, returns: np.ndarray) -> np.ndarray:
        """RGB picture of game ``index`` as uint8 ``[height, width, 3]``."""


def check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` as int if it is an integer in ``[minimum, maximum]``, else raise
    a ValueError naming the option, the value and the allowed range."""
    allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    return int(value)


def check_seed(seed: object) -> int | None:
    """Return ``seed`` as int (or None) if it is None or an integer in ``[0, 2**64 - 1]``,
    else raise a ValueError naming ``seed``, the value and what is allowed."""
    if seed is None:
        return None
    allowed = f"seed must be None or an integer in [0, 2**64 - 1], got {seed!r}"
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"{allowed} (type {type(seed).__name__})")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(allowed)
    return int(seed)


def derive_seed(seed: int, *path: int) -> int:
    """The integer seed of the random stream named ``path`` under ``seed``.

    The package's one seeding rule: the empty path is ``seed`` itself; any other
    path gives the first 32-bit word of ``numpy.random.SeedSequence(seed,
    spawn_key=path)``, i.e. of the child that ``SeedSequence(seed).spawn`` reaches
    by the indices in ``path``. Streams with different paths are independent.

    Args:
        seed: the user's seed, an integer in ``[0, 2**64 - 1]``.
        path: non-negative integers naming the stream (``lola_agents.seeding.Stream``).

    Returns:
        an integer in ``[0, 2**32 - 1]`` (or ``seed`` itself for the empty path).
    """
    checked = check_seed(seed)
    if checked is None:
        raise ValueError("derive_seed: seed must be an integer in [0, 2**64 - 1], got None")
    for key in path:
        if isinstance(key, bool) or not isinstance(key, int | np.integer) or key < 0:
            raise ValueError(f"derive_seed: path entries must be integers >= 0, got {path!r}")
    if not path:
        return checked
    sequence = np.random.SeedSequence(checked, spawn_key=tuple(int(k) for k in path))
    return int(sequence.generate_state(1, np.uint32)[0])


def physical_memory_bytes() -> int | None:
    """The machine's physical memory in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def format_bytes(count: float) -> str:
    """``count`` bytes as a short text in binary units, e.g. ``"16.0 TiB"``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    power = 0
    while count >= 1024 and power < len(units) - 1:
        count /= 1024
        power += 1
    return f"{count:.1f} {units[power]}"


def check_number(
    name: str, value: object, low: float = 0.0, *, allow_low: bool = True, high: float | None = None
) -> float:
    """Return ``value`` as float if it is a finite real number ``>= low`` (``> low`` with
    ``allow_low=False``) and ``<= high``, else raise a ValueError naming the option, the
    value and the allowed range."""
    allowed = f"{'>=' if allow_low else '>'} {low:g}" + ("" if high is None else f" and <= {high:g}")
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a finite number {allowed}, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or (number < low if allow_low else number <= low) or (
        high is not None and number > high
    ):
        raise ValueError(f"{name} must be a finite number {allowed}, got {value!r}")
    return number


def validate_actions(actions: object, num_envs: int, num_agents: int, num_actions: int) -> np.ndarray:
    """Check a batch of actions and return it as int64 ``[num_envs, num_agents]``.

    Raises a ValueError naming the bad shape, dtype or value and what is allowed;
    nothing is clipped.
    """
    arr = np.asarray(actions)
    expected = (num_envs, num_agents)
    if arr.shape != expected:
        raise ValueError(
            f"actions must have shape {expected} (num_envs, num_agents), got {arr.shape}"
        )
    if arr.dtype.kind not in "iu":
        raise ValueError(
            f"actions must be integers in [0, {num_actions - 1}], got dtype {arr.dtype}"
        )
    lo, hi = arr.min(), arr.max()
    if lo < 0 or hi >= num_actions:
        bad = arr[(arr < 0) | (arr >= num_actions)].ravel()[0].item()
        raise ValueError(f"action {bad!r} is outside the allowed range [0, {num_actions - 1}]")
    return arr.astype(np.int64, copy=False)
