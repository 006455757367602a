"""The trainer every sampled learner uses: collect -> learn -> log -> checkpoint.

    from lola_agents.pg import LOLAPGAgent
    from lola_agents.trainer import train
    result = train("ipd_v0", LOLAPGAgent(seed=0), LOLAPGAgent(seed=1), updates=100,
                   num_envs=4000, seed=0, log_dir="runs/lola_pg", checkpoint_every=10)
    result.history[-1]["reward_0"]      # mean reward per step of player_0 at the last update

What it guarantees:

* seeding: ``seed`` seeds the env generator and torch's global generator;
  agents seed themselves from their own configs. Same seeds -> bit-identical runs.
* each update collects ``num_envs`` fresh episodes of ``steps_per_update``
  steps (the paper's batches; the rollout resets every update, so no
  half-finished episode ever has to be checkpointed), then calls
  ``agent.learn(batch, opponent_batch)`` for each learner.
* logging: ``log_dir/progress.csv`` (one row per update: reward per step,
  P(action 0 | state) of each agent, the learners' scalars) and optionally
  TensorBoard event files in ``log_dir/tb``; a tqdm progress bar.
* checkpoints: every ``checkpoint_every`` updates, ``log_dir/checkpoint.pt``
  is written to a temporary file and moved into place with ``os.replace``
  (atomic: a crash leaves the previous checkpoint intact). It holds every
  agent's state (parameters, optimiser states, RNG states), the env and
  torch RNG states, the update counter and the log so far, as tensors and
  JSON text; it is read with ``torch.load(weights_only=True)``, which never
  executes pickled code. ``resume=True`` continues from it, and the resumed
  run is bit-identical to one that was never interrupted.
* a non-finite update stops training with :class:`NonFiniteUpdateError`
  naming the agent and the update.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import coin_game_env
from coin_game_env.matrix_game import STATE_NAMES
from lola_agents.evaluation import action_given_state
from lola_agents.files import atomic_write
from lola_agents.pg import NonFiniteUpdateError
from lola_agents.rollout import Batch, collect

CHECKPOINT_FILE = "checkpoint.pt"
CSV_FILE = "progress.csv"
CHECKPOINT_FORMAT = 1

__all__ = ["NonFiniteUpdateError", "TrainResult", "train", "load_checkpoint"]


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        history: one dict of logged scalars per update (also in ``progress.csv``).
        agents: the two agents after training (the same objects that were passed
            in, unless an agent without ``load_state_dict`` was reloaded on resume).
        log_dir: where logs and checkpoints went (None if nowhere).
        resumed_from: number of updates restored from a checkpoint (0 if fresh).
    """

    history: list[dict[str, float]]
    agents: list[Any]
    log_dir: Path | None = None
    resumed_from: int = 0
    settings: dict[str, Any] = field(default_factory=dict)


def _p_action0(agent: Any, batch: Batch) -> list[float]:
    """P(action 0 | state) ``[5]``: from the policy if it has a table, else empirical from
    the batch (:func:`lola_agents.evaluation.action_given_state`); [] for non-matrix games."""
    if hasattr(agent, "prob_action0"):
        return [float(p) for p in agent.prob_action0()]
    obs = batch.obs
    integer_states = obs.dim() == 2 and obs.dtype == torch.int64
    one_hot_states = obs.dim() == 3 and obs.shape[-1] == len(STATE_NAMES)
    if not (integer_states or one_hot_states):
        return []
    table = action_given_state(batch)["p_action0"]
    return [math.nan if table[name] is None else table[name] for name in STATE_NAMES]


def _update_row(update: int, batches: list[Batch], agents: list[Any], learn_logs: list[dict]) -> dict[str, float]:
    row: dict[str, float] = {"update": float(update)}
    for i, batch in enumerate(batches):
        row[f"reward_{i}"] = float(batch.rewards.double().mean())
    for i, (agent, batch) in enumerate(zip(agents, batches, strict=True)):
        for name, p in zip(STATE_NAMES, _p_action0(agent, batch), strict=False):
            row[f"p_action0_{i}_{name}"] = p
    for i, logs in enumerate(learn_logs):
        for key, value in logs.items():
            row[f"agent{i}/{key}"] = float(value)
    return row


def _check_row(row: dict[str, float], update: int, agents: list[Any]) -> None:
    bad = sorted(k for k, v in row.items() if k.startswith("agent") and not math.isfinite(v))
    if bad:
        raise NonFiniteUpdateError(
            f"non-finite update: update {update} reported non-finite values {bad} "
            f"(agents {[type(a).__name__ for a in agents]}); training stopped. "
            "Lower the learning rate or check the rewards."
        )


class _Logs:
    """CSV (always, when there is a log_dir) and TensorBoard (optional) writers."""

    def __init__(self, log_dir: Path | None, tensorboard: bool, history: list[dict], start: int) -> None:
        self.csv_path = None if log_dir is None else log_dir / CSV_FILE
        self.columns: list[str] | None = None
        if self.csv_path is not None:
            # Rewrite from the restored history, so rows after the checkpoint are not duplicated.
            if history:
                self.columns = list(history[0])
                with open(self.csv_path, "w", newline="") as f:
                    writer = csv.DictWriter(f, self.columns, extrasaction="ignore")
                    writer.writeheader()
                    writer.writerows(history)
            elif self.csv_path.exists():
                self.csv_path.unlink()
        self.tb = None
        if tensorboard and log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(log_dir / "tb"), purge_step=start if start > 0 else None)

    def write(self, row: dict[str, float]) -> None:
        if self.csv_path is not None:
            new = self.columns is None
            if new:
                self.columns = list(row)
            with open(self.csv_path, "a", newline="") as f:
                writer = csv.DictWriter(f, self.columns, extrasaction="ignore")
                if new:
                    writer.writeheader()
                writer.writerow(row)
        if self.tb is not None:
            step = int(row["update"])
            for key, value in row.items():
                if key != "update" and math.isfinite(value):
                    self.tb.add_scalar(key, value, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


# --------------------------------------------------------------------------- checkpoints
def in_memory_state(agent: Any) -> dict[str, Any] | None:
    """An agent's checkpoint state that needs no files: its ``state_dict()``, or for a fixed
    strategy its sampling generator (its only state); None if it has neither."""
    if hasattr(agent, "state_dict") and hasattr(agent, "load_state_dict"):
        return {"kind": "state_dict", "state": agent.state_dict()}
    if isinstance(getattr(agent, "rng", None), np.random.Generator) and not _learns(agent):
        return {"kind": "rng", "rng": json.dumps(agent.rng.bit_generator.state)}
    return None


def restore_in_memory_state(agent: Any, saved: dict[str, Any]) -> None:
    """Undo :func:`in_memory_state` on ``agent`` (a ``saved`` of None or ``{}`` restores nothing)."""
    kind = (saved or {}).get("kind")
    if kind == "state_dict":
        agent.load_state_dict(saved["state"])
    elif kind == "rng":
        agent.rng.bit_generator.state = json.loads(saved["rng"])


def _agent_state(agent: Any, index: int, log_dir: Path, update: int) -> dict[str, Any]:
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


def _learns(agent: Any) -> bool:
    from lola_agents.rollout import BaseAgent

    learn = getattr(type(agent), "learn", None)
    return learn is not None and learn is not BaseAgent.learn


def _restore_agent(agent: Any, saved: dict[str, Any], log_dir: Path) -> Any:
    if saved["kind"] in ("state_dict", "rng"):
        restore_in_memory_state(agent, saved)
        return agent
    return type(agent).load(log_dir / saved["path"])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` to a uniquely named temporary file, flushed to disk, then ``os.replace``
    (atomic on POSIX; see :func:`lola_agents.files.atomic_write`)."""
    atomic_write(path, lambda f: torch.save(payload, f))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`train` without executing pickled code."""
    path = Path(path)
    try:
        payload = torch.load(path, weights_only=True)
    except Exception as err:  # truncated file, foreign pickle with code, ...
        raise ValueError(f"corrupt or unsafe checkpoint {path}: {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a trainer checkpoint (format {CHECKPOINT_FORMAT})")
    return payload


# --------------------------------------------------------------------------- train
def train(
    env: str | Any,
    agent_0: Any,
    agent_1: Any,
    updates: int,
    steps_per_update: int = 150,
    num_envs: int = 4000,
    seed: int = 0,
    log_dir: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    progress: bool = True,
    tensorboard: bool = False,
    env_options: dict[str, Any] | None = None,
    on_update: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train two agents against each other on a batched game.

    Args:
        env: env id (``"ipd_v0"``, ``"imp_v0"``, ...) or a ready ``VecEnv``.
        agent_0, agent_1: agents of the rollout interface (player_0, player_1).
            Agents with ``set_opponent`` (LOLA-PG, LOLA-DiCE) get the other agent.
        updates: total number of updates (a resumed run counts the restored ones).
        steps_per_update: T, steps collected per update (150 = one paper episode).
        num_envs: N, games per update when ``env`` is an id (paper: 4000).
        seed: seeds the env and torch's global generator.
        log_dir: where ``progress.csv``, ``tb/`` and ``checkpoint.pt`` go (None: no files).
        checkpoint_every: write a checkpoint every this many updates (0: never).
        resume: continue from ``log_dir/checkpoint.pt`` if it exists.
        progress: show a tqdm progress bar.
        tensorboard: also write TensorBoard scalars.
        env_options: options for ``make_vec`` (e.g. ``{"max_cycles": 150}``).
        on_update: called as ``on_update(update, row)`` after each update (and
            after its checkpoint, if any).

    Returns:
        :class:`TrainResult`.

    Raises:
        NonFiniteUpdateError: an update produced NaN/inf.
    """
    if not isinstance(updates, int) or updates < 1:
        raise ValueError(f"updates must be an integer >= 1, got {updates!r}")
    if not isinstance(checkpoint_every, int) or checkpoint_every < 0:
        raise ValueError(f"checkpoint_every must be an integer >= 0, got {checkpoint_every!r}")
    if (checkpoint_every or resume) and log_dir is None:
        raise ValueError("checkpoint_every and resume need a log_dir")
    if isinstance(env, str):
        venv = coin_game_env.make_vec(env, num_envs, seed=seed, **(env_options or {}))
    else:
        venv = env
        venv.reset(seed=seed)
    env_name = getattr(venv, "env_id", None) or str(venv)
    settings = {
        "env": env_name,
        "num_envs": int(venv.num_envs),
        "steps_per_update": steps_per_update,
        "seed": seed,
        "agents": [type(agent_0).__name__, type(agent_1).__name__],
    }
    torch.manual_seed(seed)
    agents = [agent_0, agent_1]
    for me, other in ((agent_0, agent_1), (agent_1, agent_0)):
        if hasattr(me, "set_opponent"):
            me.set_opponent(other)

    log_path = None if log_dir is None else Path(log_dir)
    if log_path is not None:
        log_path.mkdir(parents=True, exist_ok=True)
    history: list[dict[str, float]] = []
    start = 0
    ckpt_path = None if log_path is None else log_path / CHECKPOINT_FILE
    if resume and ckpt_path is not None and ckpt_path.exists():
        payload = load_checkpoint(ckpt_path)
        saved_settings = json.loads(payload["settings"])
        if saved_settings != settings:
            raise ValueError(
                f"checkpoint {ckpt_path} was written for {saved_settings}, "
                f"but this run is {settings}"
            )
        agents = [
            _restore_agent(agent, saved, log_path)
            for agent, saved in zip(agents, payload["agents"], strict=True)
        ]
        for me, other in ((agents[0], agents[1]), (agents[1], agents[0])):
            if hasattr(me, "set_opponent"):
                me.set_opponent(other)
        torch.set_rng_state(payload["torch_rng"])
        venv.rng_state = payload["env_rng"]
        history = json.loads(payload["history"])
        start = int(payload["update"])

    logs = _Logs(log_path, tensorboard, history, start)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=updates, initial=start, desc=f"{env_name} {settings['agents']}", leave=False)
    try:
        for update in range(start, updates):
            batches = collect(venv, agents, steps_per_update, reset=True)
            learn_logs = []
            for i, agent in enumerate(agents):
                try:
                    learn_logs.append(agent.learn(batches[i], batches[1 - i]) or {})
                except NonFiniteUpdateError as err:
                    raise NonFiniteUpdateError(
                        f"player_{i} ({type(agent).__name__}) at update {update + 1}: {err}"
                    ) from err
            row = _update_row(update + 1, batches, agents, learn_logs)
            _check_row(row, update + 1, agents)
            history.append(row)
            logs.write(row)
            if checkpoint_every and ((update + 1) % checkpoint_every == 0 or update + 1 == updates):
                payload = {
                    "format": CHECKPOINT_FORMAT,
                    "update": update + 1,
                    "settings": json.dumps(settings),
                    "agents": [
                        _agent_state(agent, i, log_path, update + 1) for i, agent in enumerate(agents)
                    ],
                    "torch_rng": torch.get_rng_state(),
                    "env_rng": venv.rng_state,
                    "history": json.dumps(history),
                }
                save_checkpoint(ckpt_path, payload)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(r0=f"{row['reward_0']:.3f}", r1=f"{row['reward_1']:.3f}")
            if on_update is not None:
                on_update(update + 1, row)
    finally:
        if bar is not None:
            bar.close()
        logs.close()
    return TrainResult(history, agents, log_path, start, settings)
