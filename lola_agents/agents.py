"""Agents by name or checkpoint: the one registry of agent names, and the loader.

    agent = load_agent("greedy")                  # a fixed strategy by name
    agent = load_agent("runs/bench-.../checkpoints/coin/lola-vs-lola-seed0/player_0")
    agent = make_agent("LOLA-PG", "ipd_v0", seed=3)   # any registered agent, for a game
    policy = as_policy(agent, seat=0)             # obs -> action, for record/watch

:data:`AGENTS` holds every name, one spelling each: the fixed strategies and the
learners, each with the games it plays and a factory. Old command-line spellings
(``random``, ``own``, ``allc``, ``tft_coin``, ...) are aliases (:data:`ALIASES`).

A checkpoint folder holds the ``config.json`` that :meth:`BaseAgent.save` writes;
its ``class`` names the agent class, found in
:data:`lola_agents.checkpoint.AGENT_CLASSES`, and every file is checked before use
(:func:`lola_agents.checkpoint.load_agent_folder`). Nothing pickled is ever loaded.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lola_agents.checkpoint import AGENT_CLASSES, agent_classes, load_agent_folder
from lola_agents.rollout import Agent, BaseAgent

MATRIX_GAMES = ("ipd_v0", "imp_v0", "chicken_v0", "stag_hunt_v0", "matrix_game_v0")
COIN_GAMES = ("coin_game_v0",)

# Modules that define agent classes (derived from the class registry; kept for old imports).
AGENT_MODULES = tuple(dict.fromkeys(target.split(":")[0] for target in AGENT_CLASSES.values()))

__all__ = ["AGENTS", "ALIASES", "AgentEntry", "agent_classes", "as_policy", "canonical_name",
           "load_agent", "make_agent"]


@dataclass(frozen=True)
class AgentEntry:
    """One registered agent name.

    Attributes:
        name: the one spelling (e.g. ``"TFT"``, ``"tft-coin"``, ``"LOLA-PG"``).
        kind: ``"fixed"`` (a strategy that never learns) or ``"learner"``.
        factories: env id -> ``"module:callable"`` building the agent for that game,
            called as ``callable(seed=seed, **options)`` (:func:`make_agent`).
        description: one line for help texts.
    """

    name: str
    kind: str
    factories: dict[str, str]
    description: str

    @property
    def games(self) -> tuple[str, ...]:
        """The env ids this agent plays."""
        return tuple(self.factories)


def _for(games: tuple[str, ...], target: str) -> dict[str, str]:
    return dict.fromkeys(games, target)


_ENTRIES = [
    AgentEntry("AllC", "fixed", _for(MATRIX_GAMES, "lola_agents.fixed:AlwaysCooperate"), "always cooperate"),
    AgentEntry("AllD", "fixed", _for(MATRIX_GAMES, "lola_agents.fixed:AlwaysDefect"), "always defect"),
    AgentEntry("TFT", "fixed", _for(MATRIX_GAMES, "lola_agents.fixed:TitForTat"),
               "tit-for-tat: cooperate first, then copy the opponent's last action"),
    AgentEntry("random-matrix", "fixed", _for(MATRIX_GAMES, "lola_agents.fixed:RandomMatrixAgent"),
               "P(action 0) = 0.5 in every state"),
    AgentEntry("random-coin", "fixed", _for(COIN_GAMES, "lola_agents.fixed:RandomCoinAgent"),
               "uniformly random coin-game moves"),
    AgentEntry("greedy", "fixed", _for(COIN_GAMES, "lola_agents.fixed:GreedyCoinAgent"),
               "shortest move to the nearest coin, whatever its colour"),
    AgentEntry("always-defect", "fixed", _for(COIN_GAMES, "lola_agents.fixed:AlwaysDefectCoinAgent"),
               "always-defect of the coin-game league: shortest wrapped path to the coin, random ties"),
    AgentEntry("own-coin", "fixed", _for(COIN_GAMES, "lola_agents.fixed:OwnCoinAgent"),
               "shortest move to its own coin, never onto the other's"),
    AgentEntry("tft-coin", "fixed", _for(COIN_GAMES, "lola_agents.fixed:TitForTatCoinAgent"),
               "own-coin, greedy for a few steps after the opponent takes its coin"),
    AgentEntry("NL-PG", "learner", {**_for(MATRIX_GAMES, "lola_agents.pg:NaivePGAgent"),
                                    **_for(COIN_GAMES, "lola_agents.agents:coin_nl_pg")},
               "naive policy-gradient learner"),
    AgentEntry("LOLA-PG", "learner", {**_for(MATRIX_GAMES, "lola_agents.pg:LOLAPGAgent"),
                                      **_for(COIN_GAMES, "lola_agents.agents:coin_lola_pg")},
               "LOLA with policy-gradient estimates (reads the opponent's parameters)"),
    AgentEntry("LOLA-OM", "learner", {**_for(MATRIX_GAMES, "lola_agents.opponent_model:LOLAOMAgent"),
                                      **_for(COIN_GAMES, "lola_agents.agents:coin_lola_om")},
               "LOLA with an opponent model fitted to the opponent's actions"),
    AgentEntry("LOLA-DiCE", "learner", {**_for(MATRIX_GAMES, "lola_agents.dice:LOLADiCEAgent"),
                                        **_for(COIN_GAMES, "lola_agents.agents:coin_lola_dice")},
               "LOLA with DiCE estimates"),
    AgentEntry("LOLA-DiCE-PS", "learner", _for(COIN_GAMES, "lola_agents.agents:coin_lola_dice_ps"),
               "LOLA-DiCE with the look-ahead in policy space"),
    AgentEntry("AdAlign", "learner", _for(COIN_GAMES, "lola_agents.agents:coin_adalign"),
               "advantage alignment"),
    AgentEntry("LOQA", "learner", _for(COIN_GAMES, "lola_agents.agents:coin_loqa"),
               "LOQA: shapes the opponent's Q-values (self-play against past selves)"),
    AgentEntry("IPPO", "learner", _for(MATRIX_GAMES + COIN_GAMES, "lola_agents.agents:ippo"),
               "independent PPO (Stable-Baselines3)"),
]
AGENTS: dict[str, AgentEntry] = {entry.name: entry for entry in _ENTRIES}

# Old spellings (lola-watch, benchmarks/coin_lola.py, fixed.FIXED_AGENTS) -> the one name.
ALIASES: dict[str, str] = {
    "random": "random-coin",  # lola-watch and benchmarks/coin_lola.py: the coin game's random mover
    "random_coin": "random-coin",
    "ad": "always-defect",
    "always_defect": "always-defect",
    "own": "own-coin",
    "own_coin": "own-coin",
    "tft_coin": "tft-coin",
    "allc": "AllC",
    "alld": "AllD",
    "tft": "TFT",
    "nl": "NL-PG",
    "lola_pg": "LOLA-PG",
    "om": "LOLA-OM",
    "lola_dice": "LOLA-DiCE",
    "lola_ps": "LOLA-DiCE-PS",
    "aa": "AdAlign",
    "loqa": "LOQA",
    "ippo": "IPPO",
}


def canonical_name(name: str) -> str:
    """The registered spelling of ``name`` (itself, or the name an alias stands for)."""
    name = ALIASES.get(name, name)
    if name not in AGENTS:
        raise ValueError(f"unknown agent name {name!r}; known: {sorted(AGENTS)} (aliases: {sorted(ALIASES)})")
    return name


def fixed_strategy_names() -> list[str]:
    """Names (and aliases) of the fixed strategies."""
    names = [name for name, entry in AGENTS.items() if entry.kind == "fixed"]
    return names + [alias for alias, name in ALIASES.items() if name in names]


def make_agent(name: str, game: str | None = None, seed: int | None = 0, **options: Any) -> Agent:
    """A fresh agent of a registered name (or alias) for env id ``game``.

    Args:
        name: a key of :data:`AGENTS` or :data:`ALIASES`.
        game: env id; may be left out when the name plays one kind of game only
            (e.g. ``"greedy"``: the coin game).
        seed: the agent's seed.
        options: passed to the factory (a learner's config fields; ``num_envs`` for IPPO;
            ``preset`` for coin-game learners, see ``lola_agents.coin_lola.PRESETS``).

    Raises:
        ValueError naming the agent and the allowed names or games.
    """
    entry = AGENTS[canonical_name(name)]
    if game is None:
        families = {"matrix" if g in MATRIX_GAMES else g for g in entry.games}
        if len(families) != 1:
            raise ValueError(f"agent {entry.name!r} plays {list(entry.games)}: say which game")
        game = entry.games[0]
    if game not in entry.factories:
        raise ValueError(f"agent {entry.name!r} does not play {game!r}; it plays {list(entry.games)}")
    module, attr = entry.factories[game].split(":")
    factory = getattr(importlib.import_module(module), attr)
    if factory.__module__ == __name__:
        return factory(game=game, seed=seed, **options)
    return factory(seed=seed if seed is not None or entry.kind == "fixed" else 0, **options)


# --------------------------------------------------------------------------- learner factories
def _coin_learner(default_preset: str, seed: int | None, preset: str | None = None, **fields: Any) -> Agent:
    from lola_agents.coin_lola import CoinLOLAAgent
    from lola_agents.coin_lola import preset as coin_preset

    return CoinLOLAAgent(coin_preset(preset or default_preset, **fields).agent, seed=seed or 0)


def coin_nl_pg(game: str, seed: int | None = 0, **options: Any) -> Agent:
    """The coin-game naive learner (``fast`` preset, ``method="naive"``)."""
    return _coin_learner("fast", seed, **{"method": "naive", **options})


def coin_lola_pg(game: str, seed: int | None = 0, **options: Any) -> Agent:
    """Coin-game LOLA-PG (``paper`` preset: the paper's conv+GRU learner)."""
    return _coin_learner("paper", seed, **{"method": "lola_pg", **options})


def coin_lola_om(game: str, seed: int | None = 0, **options: Any) -> Agent:
    """Coin-game LOLA-OM (``fast`` preset with an opponent model)."""
    return _coin_learner("fast", seed, **{"opponent_model": True, **options})


def coin_lola_dice(game: str, seed: int | None = 0, **options: Any) -> Agent:
    """Coin-game LOLA-DiCE (``fast`` preset)."""
    return _coin_learner("fast", seed, **{"method": "lola_dice", **options})


def coin_lola_dice_ps(game: str, seed: int | None = 0, **options: Any) -> Agent:
    """Coin-game LOLA-DiCE with a policy-space look-ahead (``lola_policy`` preset)."""
    return _coin_learner("lola_policy", seed, **options)


def coin_adalign(game: str, seed: int | None = 0, **options: Any) -> Agent:
    """Coin-game advantage alignment (``adalign`` preset)."""
    return _coin_learner("adalign", seed, **options)


def coin_loqa(game: str, seed: int | None = 0, preset: str = "paper", **options: Any) -> Agent:
    """Coin-game LOQA (``lola_agents.learners.loqa.PRESETS``, default ``paper``); ``options``:
    :class:`~lola_agents.learners.loqa.LOQAConfig` fields."""
    from lola_agents.learners.loqa import LOQAAgent
    from lola_agents.learners.loqa import preset as loqa_preset

    return LOQAAgent(loqa_preset(preset, **options).agent, seed=seed or 0)


def ippo(game: str, seed: int | None = 0, num_envs: int = 1, env_options: dict[str, Any] | None = None,
         **config: Any) -> Agent:
    """An SB3 PPO agent for ``game`` (``config``: :class:`lola_agents.ppo.PPOConfig` fields)."""
    from lola_agents.ppo import PPOAgent, PPOConfig

    return PPOAgent.for_env(game, num_envs, PPOConfig(seed=seed or 0, **config), **(env_options or {}))


# --------------------------------------------------------------------------- loading
def load_agent(spec: str, seed: int | None = 0, game: str | None = None) -> Agent:
    """A fixed strategy by name (:data:`AGENTS`, kind ``"fixed"``, or an alias) or an agent
    checkpoint folder.

    Args:
        spec: a fixed strategy's name, or a folder written by ``agent.save``.
        seed: the fixed strategy's seed (checkpoints keep their own).
        game: env id, for names that play several games (default: the coin game when
            the name plays it, as ``lola-watch`` does).

    Raises:
        ValueError naming the spec and what is allowed when it is neither, or naming
        the file and the problem when the checkpoint is corrupt or mismatched.
    """
    name = ALIASES.get(spec, spec)
    if name in AGENTS and AGENTS[name].kind == "fixed":
        entry = AGENTS[name]
        return make_agent(name, game or (COIN_GAMES[0] if COIN_GAMES[0] in entry.games else None), seed)
    path = Path(spec)
    if not (path / BaseAgent.CONFIG_FILE).exists():
        raise ValueError(
            f"agent {spec!r} is neither a fixed strategy {fixed_strategy_names()} "
            f"nor a checkpoint folder with {BaseAgent.CONFIG_FILE}"
        )
    return load_agent_folder(path)


def as_policy(agent: Agent, seat: int) -> Callable[[np.ndarray], int]:
    """Wrap an agent as a one-game ``obs -> action`` callable (keeps its recurrent state).

    The first call opens an episode (``episode_starts`` true); create a new
    policy for each episode.
    """
    if hasattr(agent, "assign_seat"):
        agent.assign_seat(seat)
    memory: dict[str, Any] = {"state": agent.initial_state(1), "start": True}

    def act(obs: np.ndarray) -> int:
        actions, _, memory["state"] = agent.act(
            np.asarray(obs)[None], memory["state"], np.array([memory["start"]])
        )
        memory["start"] = False
        return int(actions[0])

    return act
