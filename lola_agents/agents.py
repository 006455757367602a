"""Agents by name or checkpoint: one loader for the command-line tools.

    agent = load_agent("greedy")                  # a fixed strategy by name
    agent = load_agent("runs/bench-.../checkpoints/coin/lola-vs-lola-seed0/player_0")
    policy = as_policy(agent, seat=0)             # obs -> action, for record/watch

A checkpoint folder holds the ``config.json`` that :meth:`BaseAgent.save`
writes; its ``class`` names the agent class, found among the subclasses of
:class:`~lola_agents.rollout.BaseAgent` in this package. Nothing pickled is
ever loaded.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lola_agents.rollout import Agent, BaseAgent

# Modules that define agent classes (imported on demand: some need torch or SB3).
AGENT_MODULES = (
    "lola_agents.fixed",
    "lola_agents.pg",
    "lola_agents.opponent_model",
    "lola_agents.ppo",
    "lola_agents.coin_lola",
)

FIXED_STRATEGIES: dict[str, tuple[str, str]] = {
    "AllC": ("lola_agents.fixed", "AlwaysCooperate"),
    "AllD": ("lola_agents.fixed", "AlwaysDefect"),
    "TFT": ("lola_agents.fixed", "TitForTat"),
    "random-matrix": ("lola_agents.fixed", "RandomMatrixAgent"),
    "random": ("lola_agents.fixed", "RandomCoinAgent"),
    "greedy": ("lola_agents.fixed", "GreedyCoinAgent"),
    "own-coin": ("lola_agents.fixed", "OwnCoinAgent"),
    "tft-coin": ("lola_agents.fixed", "TitForTatCoinAgent"),
}


def agent_classes() -> dict[str, type]:
    """Every BaseAgent subclass defined in :data:`AGENT_MODULES`, by class name."""
    for module in AGENT_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:  # a real missing dependency, not an absent module
                raise
    found: dict[str, type] = {}
    todo = [BaseAgent]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            found.setdefault(sub.__name__, sub)
            todo.append(sub)
    return found


def load_agent(spec: str, seed: int | None = 0) -> Agent:
    """A fixed strategy by name (:data:`FIXED_STRATEGIES`) or an agent checkpoint folder.

    Raises a ValueError naming the spec and what is allowed when it is neither,
    or when the checkpoint is corrupt.
    """
    if spec in FIXED_STRATEGIES:
        module, name = FIXED_STRATEGIES[spec]
        return getattr(importlib.import_module(module), name)(seed=seed)
    path = Path(spec)
    config = path / BaseAgent.CONFIG_FILE
    if not config.is_file():
        raise ValueError(
            f"agent {spec!r} is neither a fixed strategy {sorted(FIXED_STRATEGIES)} "
            f"nor a checkpoint folder with {BaseAgent.CONFIG_FILE}"
        )
    try:
        class_name = json.loads(config.read_text())["class"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"corrupt agent checkpoint {config}: {err}") from err
    classes = agent_classes()
    if class_name not in classes:
        raise ValueError(f"checkpoint {spec} names unknown agent class {class_name!r}; known: {sorted(classes)}")
    return classes[class_name].load(path)


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
