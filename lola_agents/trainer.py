"""The trainer every sampled learner uses: collect -> learn -> log -> checkpoint.

    from lola_agents.learners.pg import LOLAPGAgent
    from lola_agents.trainer import train
    result = train("ipd_v0", LOLAPGAgent(seed=0), LOLAPGAgent(seed=1), updates=100,
                   num_envs=4000, seed=0, log_dir="runs/lola_pg", checkpoint_every=10)
    result.history[-1]["reward_0"]      # mean reward per step of player_0 at the last update

What it guarantees:

* seeding: ``seed`` seeds the env generator and torch's global generator;
  agents seed themselves from their own configs (the rule for both is
  :mod:`lola_agents.seeding`). Same seeds, machine and torch
  thread count (``threads``, recorded in the settings) -> bit-identical runs:
  torch's deterministic algorithms are switched on for the run (and restored
  after), because with several threads the CPU backward of ``table[obs]``
  otherwise accumulates with atomic adds in a varying order. Another thread
  count or CPU may round differently (about 1e-7 in float32), which lr 1 amplifies.
* each update collects ``num_envs`` fresh episodes of ``steps_per_update``
  steps (the paper's batches; the rollout resets every update, so no
  half-finished episode ever has to be checkpointed), then calls
  ``agent.learn(batch, opponent_batch)`` for each learner.
* logging: ``log_dir/progress.csv`` (one row per update: ``update``, ``env_steps``
  (game steps over all games so far), ``wall_time_s`` (not in ``history``), reward per step,
  P(action 0 | state) of each agent, the learners' scalars) and optionally
  TensorBoard event files in ``log_dir/tb``; a tqdm progress bar.
* checkpoints: every ``checkpoint_every`` updates, ``log_dir/checkpoint.pt``
  is written to a temporary file and moved into place with ``os.replace``
  (atomic: a crash leaves the previous checkpoint intact). It holds every
  agent's state (parameters, optimiser states, RNG states), the env and
  torch RNG states, the update counter and the log so far, as tensors and
  JSON text; it is read with ``torch.load(weights_only=True)``, which never
  executes pickled code, and checked against the agents before use
  (:mod:`lola_agents.checkpoint`: a corrupt or mismatched file is a ValueError
  naming it). ``resume=True`` continues from it, and the resumed run is
  bit-identical to one that was never interrupted. Agents checkpointed as
  folders keep only the ``keep_agent_folders`` newest ``agent{i}_update{n}/``.
* a non-finite update stops training with :class:`NonFiniteUpdateError`
  naming the agent and the update.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import coin_game_env
from coin_game_env.matrix_game import STATE_NAMES
from lola_agents.checkpoint import TRAINER_FORMAT as CHECKPOINT_FORMAT
from lola_agents.checkpoint import (
    agent_state,
    in_memory_state,
    load_checkpoint,
    prune_agent_folders,
    restore_agent,
    restore_in_memory_state,
    save_checkpoint,
)
from lola_agents.learners.pg import NonFiniteUpdateError
from lola_agents.metrics import batch_reward_per_step, memory1_profile
from lola_agents.rollout import Batch, Rollout, collect

CHECKPOINT_FILE = "checkpoint.pt"
CSV_FILE = "progress.csv"

__all__ = ["CHECKPOINT_FORMAT", "NonFiniteUpdateError", "TrainResult", "in_memory_state", "load_checkpoint",
           "restore_in_memory_state", "save_checkpoint", "train"]


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
    wall_time_s: list[float] = field(default_factory=list)


def _p_action0(agent: Any, batch: Batch) -> list[float]:
    """P(action 0 | state) ``[5]`` (:func:`lola_agents.metrics.memory1_profile`: the
    policy's table, else empirical from the batch); [] for non-matrix games."""
    profile = memory1_profile(agent, batch)
    return [] if profile is None else [float(p) for p in profile]


def _update_row(update: int, batches: list[Batch], agents: list[Any], learn_logs: list[dict]) -> dict[str, float]:
    row: dict[str, float] = {"update": float(update)}
    for i, batch in enumerate(batches):
        row[f"reward_{i}"] = batch_reward_per_step(batch)
    for i, (agent, batch) in enumerate(zip(agents, batches, strict=True)):
        for name, p in zip(STATE_NAMES, _p_action0(agent, batch), strict=False):
            row[f"p_action0_{i}_{name}"] = p
    for i, logs in enumerate(learn_logs):
        for key, value in logs.items():
            row[f"agent{i}/{key}"] = float(value)
    return row


def _check_row(row: dict[str, float], update: int, agents: list[Any]) -> None:
    # SB3's explained variance is NaN when the returns are constant: undefined, not a failed update.
    bad = sorted(
        k for k, v in row.items()
        if k.startswith("agent") and not k.endswith("explained_variance") and not math.isfinite(v)
    )
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
            step = int(row.get("env_steps", row["update"]))  # curves on a common axis of game steps
            for key, value in row.items():
                if key not in ("update", "env_steps") and math.isfinite(value):
                    self.tb.add_scalar(key, value, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


# --------------------------------------------------------------------------- reproducibility
def _pin_torch(threads: int | None) -> Callable[[], None]:
    """Set torch's intra-op threads (None: keep) and deterministic algorithms for the run;
    return the function that restores both. With more than one thread, CPU index
    accumulation (the backward of ``table[obs]`` in the tabular learners) otherwise adds
    with atomics, whose order, and so the float32 sums, change from run to run."""
    old_threads, old_mode = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if threads is not None:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)

    def restore() -> None:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_mode, warn_only=old_warn)

    return restore


# --------------------------------------------------------------------------- train
def _agent_config(agent: Any) -> dict[str, Any] | None:
    """An agent's hyper-parameters as JSON data (its ``config()``), or None if it has none."""
    config = getattr(agent, "config", None)
    if not callable(config):
        return None
    try:
        return json.loads(json.dumps(config()))
    except (TypeError, ValueError):
        return None


def _config_changes(saved: list[Any], current: list[Any]) -> str:
    """``seat 0: lr 0.001 -> 0.01; ...``: the fields that differ between two agent-config lists."""
    out = []
    for seat, (old, new) in enumerate(zip(saved, current, strict=True)):
        if old == new:
            continue
        if not (isinstance(old, dict) and isinstance(new, dict)):
            out.append(f"seat {seat}: {old!r} -> {new!r}")
            continue
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                out.append(f"seat {seat}: {key} {old.get(key)!r} -> {new.get(key)!r}")
    return "; ".join(out)


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
    tensorboard: bool | None = None,
    env_options: dict[str, Any] | None = None,
    on_update: Callable[[int, dict[str, float]], None] | None = None,
    continue_episodes: bool = False,
    on_batches: Callable[[int, list[Batch], dict[str, float]], None] | None = None,
    keep_agent_folders: int = 2,
    threads: int | None = None,
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
        tensorboard: also write TensorBoard scalars to ``log_dir/tb`` (step = env steps);
            None (default): whenever there is a ``log_dir`` and the tensorboard package is installed.
        env_options: options for ``make_vec`` (e.g. ``{"max_cycles": 150}``).
        on_update: called as ``on_update(update, row)`` after each update (and
            after its checkpoint, if any).
        continue_episodes: keep the games running across updates (each update collects
            the next ``steps_per_update`` steps, as PPO does) instead of playing fresh
            episodes every update (the LOLA papers' batches). Checkpoints need fresh
            episodes (a running game's state is not saved).
        on_batches: called as ``on_batches(update, batches, row)`` after each update
            with the batches it learned from (e.g. to compute extra metrics).
        keep_agent_folders: agents checkpointed as folders (``agent{i}_update{n}/``,
            e.g. the SB3 PPO adapter) keep this many newest folders each; older ones
            are deleted after each checkpoint.
        threads: torch's intra-op thread count during the run (restored after; None:
            torch's current setting). Recorded in ``settings["torch_threads"]``: runs are
            bit-identical at the same thread count on the same machine (deterministic
            algorithms are on during the run); other counts may differ in the last bits.

    Returns:
        :class:`TrainResult`.

    Raises:
        NonFiniteUpdateError: an update produced NaN/inf.
    """
    if not isinstance(updates, int) or updates < 1:
        raise ValueError(f"updates must be an integer >= 1, got {updates!r}")
    if not isinstance(checkpoint_every, int) or checkpoint_every < 0:
        raise ValueError(f"checkpoint_every must be an integer >= 0, got {checkpoint_every!r}")
    if not isinstance(keep_agent_folders, int) or keep_agent_folders < 1:
        raise ValueError(f"keep_agent_folders must be an integer >= 1, got {keep_agent_folders!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be an integer >= 1 or None, got {threads!r}")
    if (checkpoint_every or resume) and log_dir is None:
        raise ValueError("checkpoint_every and resume need a log_dir")
    if continue_episodes and (checkpoint_every or resume):
        raise ValueError(
            "checkpoint_every and resume need fresh episodes every update (continue_episodes=False): "
            "the state of a running game is not checkpointed"
        )
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
        "agent_configs": [_agent_config(agent_0), _agent_config(agent_1)],
        "torch_threads": threads if threads is not None else torch.get_num_threads(),
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
    # Wall-clock seconds at the end of each update: logged, but kept out of ``history``,
    # which is bit-identical for the same seeds while wall time never is.
    wall_times: list[float] = []
    start = 0
    ckpt_path = None if log_path is None else log_path / CHECKPOINT_FILE
    if resume and ckpt_path is not None and ckpt_path.exists():
        payload = load_checkpoint(ckpt_path)
        saved_settings = json.loads(payload["settings"])
        saved_threads = saved_settings.pop("torch_threads", None)
        saved_configs = saved_settings.pop("agent_configs", None)  # None: written before they were kept
        if saved_settings != {k: v for k, v in settings.items() if k not in ("torch_threads", "agent_configs")}:
            raise ValueError(
                f"checkpoint {ckpt_path} was written for {saved_settings}, "
                f"but this run is {settings}"
            )
        if saved_configs is not None and saved_configs != settings["agent_configs"]:
            changed = _config_changes(saved_configs, settings["agent_configs"])
            raise ValueError(
                f"checkpoint {ckpt_path} was written by agents configured differently: {changed} "
                "(saved -> this run); resume with the saved configuration, or start a new log dir")
        if saved_threads not in (None, settings["torch_threads"]):
            warnings.warn(
                f"checkpoint {ckpt_path} was written with {saved_threads} torch threads, this run uses "
                f"{settings['torch_threads']}: the resumed run may differ in the last bits", stacklevel=2
            )
        agents = [
            restore_agent(agent, saved, log_path, ckpt_path)
            for agent, saved in zip(agents, payload["agents"], strict=True)
        ]
        for me, other in ((agents[0], agents[1]), (agents[1], agents[0])):
            if hasattr(me, "set_opponent"):
                me.set_opponent(other)
        torch.set_rng_state(payload["torch_rng"])
        venv.rng_state = payload["env_rng"]
        history = json.loads(payload["history"])
        wall_times = [float(w) for w in json.loads(payload.get("wall_times", "[]"))]
        wall_times += [math.nan] * (len(history) - len(wall_times))  # older checkpoints
        start = int(payload["update"])

    if tensorboard is None:
        tensorboard = log_path is not None and importlib.util.find_spec("tensorboard") is not None
    logs = _Logs(log_path, tensorboard, _with_wall_times(history, wall_times), start)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=updates, initial=start, desc=f"{env_name} {settings['agents']}", leave=False)
    restore_torch = _pin_torch(threads)
    try:
        rollout = None
        if continue_episodes:
            rollout = Rollout(venv, agents)
            rollout.reset(seed=seed)
        env_steps_per_update = steps_per_update * int(venv.num_envs)
        started = time.perf_counter()
        for update in range(start, updates):
            if rollout is None:
                batches = collect(venv, agents, steps_per_update, reset=True)
            else:
                batches = rollout.collect(steps_per_update)
            learn_logs = []
            for i, agent in enumerate(agents):
                try:
                    learn_logs.append(agent.learn(batches[i], batches[1 - i]) or {})
                except NonFiniteUpdateError as err:
                    raise NonFiniteUpdateError(
                        f"player_{i} ({type(agent).__name__}) at update {update + 1}: {err}"
                    ) from err
            row = _update_row(update + 1, batches, agents, learn_logs)
            row["env_steps"] = float((update + 1) * env_steps_per_update)
            _check_row(row, update + 1, agents)
            resumed_seconds = wall_times[start - 1] if start and math.isfinite(wall_times[start - 1]) else 0.0
            wall_times.append(time.perf_counter() - started + resumed_seconds)
            history.append(row)
            logs.write({**row, "wall_time_s": wall_times[-1]})
            if checkpoint_every and ((update + 1) % checkpoint_every == 0 or update + 1 == updates):
                payload = {
                    "format": CHECKPOINT_FORMAT,
                    "update": update + 1,
                    "settings": json.dumps(settings),
                    "agents": [
                        agent_state(agent, i, log_path, update + 1) for i, agent in enumerate(agents)
                    ],
                    "torch_rng": torch.get_rng_state(),
                    "env_rng": venv.rng_state,
                    "history": json.dumps(history),
                    "wall_times": json.dumps(wall_times),
                }
                save_checkpoint(ckpt_path, payload)
                prune_agent_folders(log_path, update + 1, keep_agent_folders)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(r0=f"{row['reward_0']:.3f}", r1=f"{row['reward_1']:.3f}")
            if on_update is not None:
                on_update(update + 1, row)
            if on_batches is not None:
                on_batches(update + 1, batches, row)
    finally:
        restore_torch()
        if bar is not None:
            bar.close()
        logs.close()
    return TrainResult(history, agents, log_path, start, settings, wall_times)


def _with_wall_times(history: list[dict], wall_times: list[float]) -> list[dict]:
    return [{**row, "wall_time_s": w} for row, w in zip(history, wall_times, strict=True)]
