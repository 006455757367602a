"""Checkpoints: the agent-class registry and ONE validation step for every load.

Two kinds of files are written and read here:

* an **agent folder** (:meth:`lola_agents.rollout.BaseAgent.save`): ``config.json``
  (``{"class": ..., "config": {...}}``) plus, for agents with parameters, one
  tensor file (``state.pt``; ``policy.pt`` for the SB3 PPO adapter);
* a **trainer checkpoint** (``checkpoint.pt`` of :func:`lola_agents.trainer.train`):
  every agent's state, the generators, the update counter and the log so far.

Every load goes through the same checks, and any failure is a :class:`CheckpointError`
(a ``ValueError``) that names the file and the problem:

1. the file is readable: ``torch.load(weights_only=True)`` (never runs pickled code);
   truncated, empty, foreign or directory-shaped files are reported, not raised raw;
2. the class is known: :data:`AGENT_CLASSES` maps each class name to where it lives;
3. the config has exactly the keys of the class's config dataclass (or, for agents
   without one, of its constructor): no unknown key, no missing key. Keys added to a
   class after checkpoints of it were shipped are listed in :data:`ADDED_CONFIG_KEYS`
   with the value that reproduces the behaviour before they existed;
4. the tensors match those of a freshly built agent of that config, recursively
   (names, shapes, dtypes; optimiser states: groups, and each per-parameter buffer the
   shape of its parameter), and every float is finite.

Paths stored in a trainer checkpoint (agent folders of agents without a state dict)
must stay inside the run folder.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

# Every agent class a checkpoint may name: class name -> "module:attribute".
# tests/test_checkpoint.py checks this against every BaseAgent subclass in the package.
AGENT_CLASSES: dict[str, str] = {
    "Memory1Agent": "lola_agents.fixed:Memory1Agent",
    "AlwaysCooperate": "lola_agents.fixed:AlwaysCooperate",
    "AlwaysDefect": "lola_agents.fixed:AlwaysDefect",
    "TitForTat": "lola_agents.fixed:TitForTat",
    "RandomMatrixAgent": "lola_agents.fixed:RandomMatrixAgent",
    "RandomCoinAgent": "lola_agents.fixed:RandomCoinAgent",
    "GreedyCoinAgent": "lola_agents.fixed:GreedyCoinAgent",
    "AlwaysDefectCoinAgent": "lola_agents.fixed:AlwaysDefectCoinAgent",
    "OwnCoinAgent": "lola_agents.fixed:OwnCoinAgent",
    "TitForTatCoinAgent": "lola_agents.fixed:TitForTatCoinAgent",
    "FixedTabularAgent": "lola_agents.learners.pg:FixedTabularAgent",
    "NaivePGAgent": "lola_agents.learners.pg:NaivePGAgent",
    "LOLAPGAgent": "lola_agents.learners.pg:LOLAPGAgent",
    "LOLAOMAgent": "lola_agents.learners.opponent_model:LOLAOMAgent",
    "LOLADiCEAgent": "lola_agents.learners.dice:LOLADiCEAgent",
    "LOLAAgent": "lola_agents.learners.lola:LOLAAgent",
    "CoinLOLAAgent": "lola_agents.learners.coin:CoinLOLAAgent",
    "LOQAAgent": "lola_agents.learners.loqa:LOQAAgent",
    "LOQAPolicy": "lola_agents.learners.loqa:LOQAPolicy",
    "PPOAgent": "lola_agents.learners.ppo:PPOAgent",
}

# Base classes that are never saved themselves (no act() of their own).
ABSTRACT_AGENT_CLASSES = frozenset({"BaseAgent", "StatefulAgent", "SeededAgent", "CoinGameAgent"})

# Config keys added to a class after checkpoints of it were shipped, with the value
# that reproduces the behaviour before the key existed (its default when it was added).
ADDED_CONFIG_KEYS: dict[str, dict[str, Any]] = {
    # The opponent model always continued from its previous fit before the option existed.
    "LOLAOMAgent": {"om_warm_start": True},
    "LOLADiCEAgent": {"om_warm_start": True},
    "CoinLOLAAgent": {
        "alignment_beta": 0.3,
        "entropy_coef": 0.0,
        "shaping_clip": 0.0,
        "lookahead_space": "parameters",
        "entropy_coef_decay": 1.0,
        "mlp_history": 1,
        "alignment_signal": "advantage",
    },
    # LOQA's actor had only its own shaping term before the option existed.
    "LOQAAgent": {"shaping": "loqa", "shaping_start": 0},
    "LOQAPolicy": {"shaping": "loqa", "shaping_start": 0},
}

CONFIG_FILE = "config.json"
TRAINER_FORMAT = 1
TRAINER_KEYS = frozenset({"format", "update", "settings", "agents", "torch_rng", "env_rng", "history"})
AGENT_ENTRY_KEYS = {"state_dict": {"kind", "state"}, "rng": {"kind", "rng"}, "directory": {"kind", "path"}}
AGENT_FOLDER = re.compile(r"agent(\d+)_update(\d+)")


class CheckpointError(ValueError):
    """A checkpoint that is corrupt, unsafe or does not match its agent; names the file."""

    def __init__(self, file: str | Path, problem: str, what: str = "bad checkpoint") -> None:
        super().__init__(f"{what} {file}: {problem}")
        self.file = Path(file)
        self.problem = problem


class MissingCheckpointError(CheckpointError, FileNotFoundError):
    """No agent checkpoint at all where one was expected (also a FileNotFoundError)."""


# --------------------------------------------------------------------------- registry
_REGISTERED: dict[str, type] = {}  # classes added at run time (register_agent_class)


def register_agent_class(cls: type) -> type:
    """Let checkpoints name ``cls`` (an agent class defined outside this package, e.g. a new
    learner under development); usable as a class decorator."""
    name = cls.__name__
    if name in AGENT_CLASSES and agent_class(name) is not cls:
        raise ValueError(f"agent class name {name!r} is taken by {AGENT_CLASSES[name]}")
    _REGISTERED[name] = cls
    return cls


def agent_class(name: Any, file: str | Path = "<checkpoint>") -> type:
    """The agent class a checkpoint names (imported on demand from :data:`AGENT_CLASSES`)."""
    if isinstance(name, str) and name in _REGISTERED:
        return _REGISTERED[name]
    if not isinstance(name, str) or name not in AGENT_CLASSES:
        known = sorted({*AGENT_CLASSES, *_REGISTERED})
        raise CheckpointError(file, f"unknown agent class {name!r}; known: {known}")
    module, attr = AGENT_CLASSES[name].split(":")
    return getattr(importlib.import_module(module), attr)


def agent_classes() -> dict[str, type]:
    """Every registered agent class, by class name (imports their modules)."""
    return {name: agent_class(name) for name in [*AGENT_CLASSES, *_REGISTERED]}


# --------------------------------------------------------------------------- files
def torch_load(file: str | Path) -> Any:
    """``torch.load(file, weights_only=True)``; any failure (missing, empty, truncated,
    a directory, pickled code) becomes a :class:`CheckpointError` naming ``file``."""
    file = Path(file)
    if not file.is_file():
        raise CheckpointError(file, "missing" if not file.exists() else "not a regular file")
    if file.stat().st_size == 0:
        raise CheckpointError(file, "empty file")
    try:
        return torch.load(file, weights_only=True, map_location="cpu")
    except Exception as err:  # UnpicklingError, EOFError, RuntimeError (zip), ...
        raise CheckpointError(file, f"{type(err).__name__}: {err}", "corrupt or unsafe checkpoint") from err


def read_json_file(file: str | Path) -> Any:
    file = Path(file)
    if not file.is_file():
        raise CheckpointError(file, "missing" if not file.exists() else "not a regular file")
    try:
        return json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(file, f"not valid JSON ({err})", "corrupt agent checkpoint") from err


def _json_text(text: Any, file: Path, what: str) -> Any:
    if not isinstance(text, str):
        raise CheckpointError(file, f"{what} must be JSON text, got {type(text).__name__}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise CheckpointError(file, f"{what} is not valid JSON ({err})") from err


# --------------------------------------------------------------------------- configs
def config_keys(cls: type) -> frozenset[str]:
    """The keys a saved config of ``cls`` must have: its config dataclass's fields, its
    own ``CONFIG_KEYS``, or else its constructor's keyword parameters."""
    if isinstance(getattr(cls, "CONFIG_KEYS", None), frozenset):
        return cls.CONFIG_KEYS
    config_class = getattr(cls, "config_class", None)
    if config_class is not None and dataclasses.is_dataclass(config_class):
        return frozenset(f.name for f in dataclasses.fields(config_class))
    params = inspect.signature(cls.__init__).parameters.values()
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(p.name for p in params if p.kind in kinds and p.name != "self")


def check_keys(got: Any, expected: frozenset[str] | set[str], file: str | Path, what: str) -> dict[str, Any]:
    """``got`` must be a dict with exactly the ``expected`` keys."""
    if not isinstance(got, dict):
        raise CheckpointError(file, f"{what} must be a JSON object, got {type(got).__name__}")
    unknown, missing = sorted(set(got) - set(expected)), sorted(set(expected) - set(got))
    if unknown or missing:
        raise CheckpointError(
            file, f"{what} does not match: unknown keys {unknown}, missing keys {missing}; "
            f"expected {sorted(expected)}"
        )
    return got


def check_config(cls: type, config: Any, file: str | Path) -> dict[str, Any]:
    """The saved ``config`` of an agent of class ``cls``, with keys added since it was
    written filled in (:data:`ADDED_CONFIG_KEYS`); a CheckpointError if it does not fit."""
    what = f"corrupt {cls.__name__} checkpoint"
    if not isinstance(config, dict):
        raise CheckpointError(file, f"'config' must be a JSON object, got {type(config).__name__}", what)
    added = {k: v for k, v in ADDED_CONFIG_KEYS.get(cls.__name__, {}).items() if k not in config}
    try:
        config = check_keys({**config, **added}, config_keys(cls), file, f"config of {cls.__name__}")
    except CheckpointError as err:
        raise CheckpointError(file, err.problem, what) from None
    for where, value in _leaves(config, "config"):
        if isinstance(value, float) and math.isnan(value):
            raise CheckpointError(file, f"{where} is NaN", what)
    return config


def _leaves(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{where}/{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{where}/{i}")
    else:
        yield where, value


# --------------------------------------------------------------------------- tensors
def _is_optimizer_state(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"state", "param_groups"}


def check_state(loaded: Any, reference: Any, file: str | Path, where: str = "state") -> None:
    """``loaded`` must have the structure of ``reference`` (a fresh agent's state):
    the same dict keys, list lengths and leaf types, tensors of the same shape and
    dtype, and only finite floats. Optimiser states are compared by their groups;
    their per-parameter buffers may be present where the fresh one has none."""
    if isinstance(reference, dict):
        if not isinstance(loaded, dict):
            raise CheckpointError(file, f"{where} must be a dict, got {type(loaded).__name__}")
        if _is_optimizer_state(reference):
            _check_optimizer_state(loaded, reference, file, where)
            return
        unknown = sorted(map(str, set(loaded) - set(reference)))
        missing = sorted(map(str, set(reference) - set(loaded)))
        if unknown or missing:
            raise CheckpointError(file, f"{where}: unexpected keys {unknown}, missing keys {missing}")
        for key, ref in reference.items():
            check_state(loaded[key], ref, file, f"{where}/{key}")
    elif isinstance(reference, tuple):
        if not isinstance(loaded, list | tuple) or len(loaded) != len(reference):
            raise CheckpointError(file, f"{where} must be a sequence of {len(reference)}, got {_describe(loaded)}")
        for i, (item, ref) in enumerate(zip(loaded, reference, strict=True)):
            check_state(item, ref, file, f"{where}/{i}")
    elif isinstance(reference, list):
        # A list may grow during training (e.g. a pool of past policies): each item
        # must look like the fresh agent's first one.
        if not isinstance(loaded, list):
            raise CheckpointError(file, f"{where} must be a list, got {_describe(loaded)}")
        for i, item in enumerate(loaded):
            if not reference:
                _check_leaf_finite(item, file, f"{where}/{i}")
            else:
                ref = reference[i] if len(reference) == len(loaded) else reference[0]
                check_state(item, ref, file, f"{where}/{i}")
    elif isinstance(reference, torch.Tensor):
        if not isinstance(loaded, torch.Tensor):
            raise CheckpointError(file, f"{where} must be a tensor, got {_describe(loaded)}")
        if loaded.shape != reference.shape or loaded.dtype != reference.dtype:
            raise CheckpointError(
                file, f"{where} is {loaded.dtype} {list(loaded.shape)}, expected "
                f"{reference.dtype} {list(reference.shape)} (a checkpoint of another configuration?)"
            )
        _check_finite(loaded, file, where)
    elif reference is None:
        _check_leaf_finite(loaded, file, where)
    else:
        # bool is a subclass of int: compare exact types, allowing an int where a float is.
        ok = type(loaded) is type(reference) or (type(reference) is float and type(loaded) is int)
        if not ok:
            raise CheckpointError(file, f"{where} must be {type(reference).__name__}, got {_describe(loaded)}")
        _check_leaf_finite(loaded, file, where)


def _check_optimizer_state(loaded: dict, reference: dict, file: str | Path, where: str) -> None:
    if set(loaded) != {"state", "param_groups"}:
        raise CheckpointError(file, f"{where}: an optimiser state needs keys 'state' and 'param_groups'")
    groups, ref_groups = loaded["param_groups"], reference["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(ref_groups):
        raise CheckpointError(file, f"{where}/param_groups must be a list of {len(ref_groups)} groups")
    for i, (group, ref) in enumerate(zip(groups, ref_groups, strict=True)):
        if not isinstance(group, dict) or set(group) != set(ref):
            raise CheckpointError(file, f"{where}/param_groups/{i} must have keys {sorted(ref)}")
        if group["params"] != ref["params"]:
            raise CheckpointError(file, f"{where}/param_groups/{i} holds parameters {group['params']}, expected {ref['params']}")
        for key, value in group.items():
            _check_leaf_finite(value, file, f"{where}/param_groups/{i}/{key}")
    ids = {p for ref in ref_groups for p in ref["params"]}
    state = loaded["state"]
    if not isinstance(state, dict) or not set(state) <= ids:
        raise CheckpointError(file, f"{where}/state must be keyed by parameter ids {sorted(ids)}")
    for key, buffers in state.items():
        if not isinstance(buffers, dict):
            raise CheckpointError(file, f"{where}/state/{key} must be a dict")
        for name, value in buffers.items():
            _check_leaf_finite(value, file, f"{where}/state/{key}/{name}")


def _check_finite(tensor: torch.Tensor, file: str | Path, where: str) -> None:
    if (tensor.is_floating_point() or tensor.is_complex()) and not bool(torch.isfinite(tensor).all()):
        raise CheckpointError(file, f"{where} holds non-finite values (NaN or inf)")


def _check_leaf_finite(value: Any, file: str | Path, where: str) -> None:
    if isinstance(value, torch.Tensor):
        _check_finite(value, file, where)
    elif isinstance(value, float) and not math.isfinite(value):
        raise CheckpointError(file, f"{where} is {value}")
    elif isinstance(value, dict | list | tuple):
        for sub, leaf in _leaves(value, where):
            _check_leaf_finite(leaf, file, sub)


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor {list(value.shape)}"
    return type(value).__name__


def _optimizers(obj: Any, depth: int = 3, seen: set[int] | None = None) -> Iterator[torch.optim.Optimizer]:
    """The optimisers an agent holds (attributes, and SB3 policies' ``optimizer``)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth < 0:
        return
    seen.add(id(obj))
    if isinstance(obj, torch.optim.Optimizer):
        yield obj
    elif isinstance(obj, torch.nn.Module):
        if isinstance(getattr(obj, "optimizer", None), torch.optim.Optimizer):
            yield from _optimizers(obj.optimizer, depth - 1, seen)
    elif hasattr(obj, "__dict__") and type(obj).__module__.split(".")[0] in ("lola_agents", "stable_baselines3", "sb3_contrib"):
        for value in vars(obj).values():
            yield from _optimizers(value, depth - 1, seen)


def check_optimizer_buffers(agent: Any, file: str | Path) -> None:
    """After a load: each optimiser buffer (e.g. Adam's moments) has its parameter's shape
    and dtype (a scalar ``step`` excepted)."""
    for optimizer in _optimizers(agent):
        for param, buffers in optimizer.state.items():
            for name, value in buffers.items():
                if isinstance(value, torch.Tensor) and value.dim() > 0 and (
                    value.shape != param.shape or value.dtype != param.dtype
                ):
                    raise CheckpointError(
                        file, f"optimiser buffer {name!r} is {value.dtype} {list(value.shape)}, "
                        f"its parameter {param.dtype} {list(param.shape)}"
                    )


def load_state_file(file: str | Path, reference: Any) -> Any:
    """Read a tensor file and check it against ``reference`` (:func:`check_state`)."""
    state = torch_load(file)
    check_state(state, reference, file)
    return state


def restore_state(agent: Any, state: Any, file: str | Path, load: Any) -> None:
    """``load(state)`` into ``agent`` (its load_state_dict or similar), turning any failure
    into a CheckpointError naming ``file``; then check its optimiser buffers."""
    try:
        load(state)
    except Exception as err:  # e.g. a generator state of the wrong kind
        raise CheckpointError(file, f"cannot restore {type(agent).__name__} ({type(err).__name__}: {err})") from err
    check_optimizer_buffers(agent, file)


# --------------------------------------------------------------------------- agent folders
def write_agent_folder(path: str | Path, class_name: str, config: dict[str, Any],
                       state_file: str | None = None, state: Any = None) -> None:
    """Write ``config.json`` (and ``state_file`` with ``torch.save(state)``) into ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / CONFIG_FILE).write_text(json.dumps({"class": class_name, "config": config}, indent=2))
    if state_file is not None:
        torch.save(state, path / state_file)


def read_agent_config(path: str | Path) -> tuple[type, dict[str, Any]]:
    """The class and the checked config of the agent folder ``path``."""
    file = Path(path) / CONFIG_FILE
    payload = read_json_file(file)
    check_keys(payload, {"class", "config"}, file, "config.json")
    cls = agent_class(payload["class"], file)
    return cls, check_config(cls, payload["config"], file)


def load_agent_folder(path: str | Path, expected: type | None = None) -> Any:
    """Rebuild the agent saved in folder ``path``, every file checked (module doc).

    Args:
        path: a folder written by :meth:`~lola_agents.rollout.BaseAgent.save`.
        expected: if given, the folder must hold this class (any subclass for an
            abstract base such as ``BaseAgent``).

    Raises:
        CheckpointError (a ValueError) naming the file and what is wrong.
    """
    path = Path(path)
    file = path / CONFIG_FILE
    if not file.exists():
        raise MissingCheckpointError(file, f"no agent checkpoint at {path}: {CONFIG_FILE} is missing")
    cls, config = read_agent_config(path)
    abstract = expected is not None and expected.__name__ in ABSTRACT_AGENT_CLASSES
    if expected is not None and cls is not expected and not (abstract and issubclass(cls, expected)):
        raise CheckpointError(file, f"holds a {cls.__name__}, cannot load it as {expected.__name__}")
    try:
        agent = cls.from_config(config)
    except (TypeError, ValueError, KeyError) as err:
        raise CheckpointError(file, f"config rejected: {err}", f"corrupt {cls.__name__} checkpoint") from err
    if cls.STATE_FILE is not None:
        state_file = path / cls.STATE_FILE
        state = load_state_file(state_file, agent.checkpoint_state())
        restore_state(agent, state, state_file, agent.load_checkpoint_state)
    return agent


# --------------------------------------------------------------------------- trainer checkpoints
def in_memory_state(agent: Any) -> dict[str, Any] | None:
    """An agent's checkpoint state that needs no files: its ``state_dict()``, or for a fixed
    strategy its sampling generator (its only state); None if it has neither."""
    if hasattr(agent, "state_dict") and hasattr(agent, "load_state_dict"):
        return {"kind": "state_dict", "state": agent.state_dict()}
    if isinstance(getattr(agent, "rng", None), np.random.Generator) and not _learns(agent):
        return {"kind": "rng", "rng": json.dumps(agent.rng.bit_generator.state)}
    return None


def restore_in_memory_state(agent: Any, saved: dict[str, Any] | None, file: str | Path = "<in memory>") -> None:
    """Undo :func:`in_memory_state` on ``agent``, checked against the agent's own current
    state (a ``saved`` of None or ``{}`` restores nothing)."""
    if saved is not None and not isinstance(saved, dict):
        raise CheckpointError(file, f"an agent entry must be a dict, got {_describe(saved)}")
    kind = (saved or {}).get("kind")
    if kind is not None and kind not in ("state_dict", "rng"):
        raise CheckpointError(file, f"agent entry kind must be 'state_dict' or 'rng', got {kind!r}")
    if kind == "state_dict":
        check_state(saved["state"], agent.state_dict(), file, "state")
        restore_state(agent, saved["state"], file, agent.load_state_dict)
    elif kind == "rng":
        state = _json_text(saved["rng"], Path(file), "the generator state")
        current = agent.rng.bit_generator.state
        if not isinstance(state, dict) or state.get("bit_generator") != current["bit_generator"]:
            raise CheckpointError(file, f"the generator state is not a {current['bit_generator']} state")
        restore_state(agent, state, file, lambda s: setattr(agent.rng.bit_generator, "state", s))


def _learns(agent: Any) -> bool:
    from lola_agents.rollout import BaseAgent

    learn = getattr(type(agent), "learn", None)
    return learn is not None and learn is not BaseAgent.learn


def agent_state(agent: Any, index: int, log_dir: Path, update: int) -> dict[str, Any]:
    """The checkpoint entry of agent ``index``: in memory, else a folder ``agent{i}_update{n}``."""
    state = in_memory_state(agent)
    if state is not None:
        return state
    if hasattr(agent, "save") and hasattr(type(agent), "load"):
        # Agents with only save/load (e.g. the SB3 PPO adapter): a directory per checkpoint.
        name = f"agent{index}_update{update}"
        tmp = Path(tempfile.mkdtemp(dir=log_dir, prefix=f".{name}.", suffix=".tmp"))  # unique name
        try:
            agent.save(tmp)
            shutil.rmtree(log_dir / name, ignore_errors=True)
            os.replace(tmp, log_dir / name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return {"kind": "directory", "path": name}
    raise TypeError(
        f"cannot checkpoint {type(agent).__name__}: it needs state_dict()/load_state_dict() "
        "or save()/load()"
    )


def inside(log_dir: Path, relative: Any, file: str | Path) -> Path:
    """``log_dir / relative``, refused unless it is a relative path that stays inside
    ``log_dir`` (no ``..``, not absolute, no symlink out)."""
    if not isinstance(relative, str) or not relative:
        raise CheckpointError(file, f"agent folder must be a relative path, got {relative!r}")
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise CheckpointError(file, f"agent folder {relative!r} points outside the run folder {log_dir}")
    target = (log_dir / rel).resolve()
    if not target.is_relative_to(log_dir.resolve()):
        raise CheckpointError(file, f"agent folder {relative!r} resolves to {target}, outside {log_dir}")
    return log_dir / rel


def restore_agent(agent: Any, saved: dict[str, Any], log_dir: Path, file: str | Path) -> Any:
    """The agent of a trainer checkpoint entry: ``agent`` restored in place, or (for a
    folder entry) a new agent of the same class loaded from inside ``log_dir``."""
    if saved["kind"] in ("state_dict", "rng"):
        current = in_memory_state(agent)
        if current is None or current["kind"] != saved["kind"]:
            raise CheckpointError(file, f"holds a {saved['kind']!r} entry for {type(agent).__name__}")
        restore_in_memory_state(agent, saved, file)
        return agent
    folder = inside(Path(log_dir), saved["path"], file)
    if folder.is_symlink():
        raise CheckpointError(file, f"agent folder {folder} is a symbolic link")
    return load_agent_folder(folder, expected=type(agent))


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` to a uniquely named temporary file, flushed to disk, then ``os.replace``
    (atomic on POSIX; see :func:`lola_agents.files.atomic_write`)."""
    from lola_agents.files import atomic_write

    atomic_write(path, lambda f: torch.save(payload, f))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and check a trainer checkpoint (its structure; each agent's state is checked
    against the agent when it is restored, :func:`restore_agent`).

    Raises:
        CheckpointError (a ValueError) naming the file and the problem.
    """
    path = Path(path)
    payload = torch_load(path)
    if not isinstance(payload, dict) or payload.get("format") != TRAINER_FORMAT:
        raise CheckpointError(path, f"not a trainer checkpoint (format {TRAINER_FORMAT})")
    # 'wall_times' (seconds at the end of each update) came later: optional.
    check_keys({k: v for k, v in payload.items() if k != "wall_times"}, TRAINER_KEYS, path, "trainer checkpoint")
    update = payload["update"]
    if type(update) is not int or update < 1:
        raise CheckpointError(path, f"'update' must be an integer >= 1, got {update!r}")
    if not isinstance(_json_text(payload["settings"], path, "'settings'"), dict):
        raise CheckpointError(path, "'settings' must be a JSON object")
    history = _json_text(payload["history"], path, "'history'")
    if not isinstance(history, list) or len(history) != update or not all(isinstance(r, dict) for r in history):
        raise CheckpointError(path, f"'history' must be a list of {update} rows (one per update)")
    if "wall_times" in payload:
        walls = _json_text(payload["wall_times"], path, "'wall_times'")
        if not isinstance(walls, list) or len(walls) != update or not all(
            isinstance(w, int | float) and not isinstance(w, bool) for w in walls
        ):
            raise CheckpointError(path, f"'wall_times' must be a list of {update} numbers (seconds)")
    env_rng = _json_text(payload["env_rng"], path, "'env_rng'")
    if not isinstance(env_rng, dict) or "bit_generator" not in env_rng:
        raise CheckpointError(path, "'env_rng' is not a numpy generator state")
    rng = payload["torch_rng"]
    reference = torch.get_rng_state()
    if not isinstance(rng, torch.Tensor) or rng.dtype != reference.dtype or rng.shape != reference.shape:
        raise CheckpointError(path, f"'torch_rng' must be a uint8 tensor {list(reference.shape)}, got {_describe(rng)}")
    agents = payload["agents"]
    if not isinstance(agents, list) or len(agents) != 2:
        raise CheckpointError(path, "'agents' must be a list of 2 entries")
    for i, entry in enumerate(agents):
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind not in AGENT_ENTRY_KEYS:
            raise CheckpointError(path, f"agents/{i}: kind must be one of {sorted(AGENT_ENTRY_KEYS)}, got {kind!r}")
        check_keys(entry, AGENT_ENTRY_KEYS[kind], path, f"agents/{i}")
        if kind == "directory":
            inside(path.parent, entry["path"], path)
    return payload


def prune_agent_folders(log_dir: Path, update: int, keep: int) -> list[Path]:
    """Delete ``agent{i}_update{n}`` folders of ``log_dir`` but the ``keep`` newest per agent
    with ``n <= update`` (the checkpoint just written refers to the newest); return them."""
    by_agent: dict[int, list[tuple[int, Path]]] = {}
    for entry in log_dir.iterdir():
        match = AGENT_FOLDER.fullmatch(entry.name)
        if match and entry.is_dir() and not entry.is_symlink() and int(match[2]) <= update:
            by_agent.setdefault(int(match[1]), []).append((int(match[2]), entry))
    removed = []
    for folders in by_agent.values():
        for _, folder in sorted(folders)[:-keep]:
            shutil.rmtree(folder)
            removed.append(folder)
    return removed
