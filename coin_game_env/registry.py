"""Versioned env ids and the factories behind ``make`` / ``make_vec``.

Each id names a core factory and its allowed options; unknown ids and options
raise errors that list what is known.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pettingzoo.utils.conversions import parallel_to_aec, parallel_to_aec_wrapper

from coin_game_env.coin_game import CoinGameCore
from coin_game_env.core import GameCore
from coin_game_env.matrix_game import MatrixGameCore
from coin_game_env.parallel_env import CoreParallelEnv
from coin_game_env.vector_env import VecEnv


@dataclass(frozen=True)
class EnvSpec:
    """A registered env id: ``core_factory(num_envs, **options)`` builds its core."""

    env_id: str
    core_factory: Callable[..., GameCore]  # a core class or a function; its keywords are the options
    description: str

    def options(self) -> dict[str, Any]:
        """The allowed options and their defaults."""
        params = inspect.signature(self.core_factory).parameters
        return {k: p.default for k, p in params.items() if k != "num_envs"}

    def check_options(self, options: dict[str, Any]) -> None:
        unknown = sorted(set(options) - set(self.options()))
        if unknown:
            raise TypeError(
                f"{self.env_id} has no option(s) {unknown}; allowed: {sorted(self.options())}"
            )


def _ipd(num_envs: int = 1, max_cycles: int = 150, obs_type: str = "discrete") -> GameCore:
    return MatrixGameCore(num_envs, "prisoners_dilemma", max_cycles, obs_type, name="ipd_v0")


def _imp(num_envs: int = 1, max_cycles: int = 150, obs_type: str = "discrete") -> GameCore:
    return MatrixGameCore(num_envs, "matching_pennies", max_cycles, obs_type, name="imp_v0")


def _chicken(num_envs: int = 1, max_cycles: int = 150, obs_type: str = "discrete") -> GameCore:
    return MatrixGameCore(num_envs, "chicken", max_cycles, obs_type, name="chicken_v0")


def _stag_hunt(num_envs: int = 1, max_cycles: int = 150, obs_type: str = "discrete") -> GameCore:
    return MatrixGameCore(num_envs, "stag_hunt", max_cycles, obs_type, name="stag_hunt_v0")


def _matrix_game(
    num_envs: int = 1,
    payoffs: Any = "prisoners_dilemma",
    max_cycles: int = 150,
    obs_type: str = "discrete",
) -> GameCore:
    return MatrixGameCore(num_envs, payoffs, max_cycles, obs_type, name="matrix_game_v0")


REGISTRY: dict[str, EnvSpec] = {
    spec.env_id: spec
    for spec in [
        EnvSpec("ipd_v0", _ipd, "iterated prisoner's dilemma (LOLA paper payoffs)"),
        EnvSpec("imp_v0", _imp, "iterated matching pennies (player_0 matches)"),
        EnvSpec("chicken_v0", _chicken, "iterated chicken"),
        EnvSpec("stag_hunt_v0", _stag_hunt, "iterated stag hunt"),
        EnvSpec("matrix_game_v0", _matrix_game, "any iterated 2x2 game: payoffs=preset or [2,2,2]"),
        EnvSpec("coin_game_v0", CoinGameCore, "coin game (LOLA paper rules by default)"),
    ]
}


def register(spec: EnvSpec) -> None:
    """Add an env id (refuses to overwrite an existing one)."""
    if spec.env_id in REGISTRY:
        raise ValueError(f"env id {spec.env_id!r} is already registered")
    REGISTRY[spec.env_id] = spec


def get_spec(env_id: str) -> EnvSpec:
    if env_id not in REGISTRY:
        raise KeyError(f"unknown env id {env_id!r}; known ids: {sorted(REGISTRY)}")
    return REGISTRY[env_id]


def make(env_id: str, render_mode: str | None = None, **options: Any) -> CoreParallelEnv:
    """PettingZoo ParallelEnv of one game of ``env_id`` with the given options."""
    spec = get_spec(env_id)
    spec.check_options(options)
    return CoreParallelEnv(spec.core_factory, env_id, render_mode=render_mode, **options)


def make_vec(
    env_id: str,
    num_envs: int,
    seed: int | None = None,
    render_mode: str | None = None,
    **options: Any,
) -> VecEnv:
    """Batched env of ``num_envs`` games of ``env_id`` (see :class:`VecEnv` for the layout)."""
    spec = get_spec(env_id)
    spec.check_options(options)
    return VecEnv(spec.core_factory(num_envs=num_envs, **options), seed, render_mode, env_id)


def pettingzoo_factories(env_id: str) -> tuple[Callable, Callable, Callable]:
    """``(parallel_env, raw_env, env)`` in PettingZoo's module style for ``env_id``.

    ``raw_env``/``env`` are the AEC forms made by PettingZoo's converter
    (``env`` adds its order-enforcing wrapper).
    """
    get_spec(env_id)

    def parallel_env(**kwargs: Any) -> CoreParallelEnv:
        return make(env_id, **kwargs)

    def raw_env(**kwargs: Any) -> parallel_to_aec_wrapper:
        return parallel_to_aec_wrapper(make(env_id, **kwargs))

    def env(**kwargs: Any):
        return parallel_to_aec(make(env_id, **kwargs))

    for fn, kind in ((parallel_env, "ParallelEnv"), (raw_env, "raw AEC env"), (env, "AEC env")):
        fn.__doc__ = f"{kind} of {env_id}; options: {get_spec(env_id).options()}"
    return parallel_env, raw_env, env
