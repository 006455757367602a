"""Tasks, suites and the one function every backend runs.

A *suite* (e.g. exact learners on the IPD and IMP) expands, for a scale and
a list of seeds, into *tasks*: one pairing of two agents on one env id over
one or more seeds. :func:`run_task` runs one task anywhere (this process, a
process-pool worker or a Ray worker) and returns a JSON-ready result:

    {"task": {...}, "task_id": str, "metrics": {name: [value per seed]},
     "curves": {name: [[value per update] per seed]}, "extra": {...},
     "wall_time_s": s, "cpu_time_s": s, "started_unix": s}

``cpu_time_s`` is the CPU time of the process that ran the task, over the task
(``time.process_time``; one torch thread per task), which a shared machine's load
does not inflate the way it inflates ``wall_time_s``.

A task whose settings say ``"phase": 2`` runs after every phase-1 task of its
suite in the run has finished (e.g. a league that plays the agents the suite's
other tasks trained). Workers take the longest ready task first, by the suite's
:attr:`Suite.cost` estimate (:func:`start_order`).

Results of tasks with the same ``suite`` and ``group`` are merged in the
summary (one row of the report per group).

Curves named in :data:`AXIS_CURVES` are axes, not metrics, at each point of
the other curves: ``update`` (updates done), ``env_steps`` (game steps
collected so far; a step of one game counts once, not once per seat) and
``wall_time_s`` (seconds since the training started). :class:`TrainingClock` records both and reports progress inside a
long task through :func:`report_progress`.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCALES = ("tiny", "quick", "paper")
AXIS_CURVES = ("update", "env_steps", "wall_time_s")
# Task fields that hold paths: left out of a task's identity, so a moved run folder keeps its work.
PATH_FIELDS = ("checkpoint_dir",)


@dataclass
class Task:
    """One pairing on one env over some seeds.

    Attributes:
        suite: the suite's name.
        group: the report row it belongs to, e.g. ``"ipd_v0: LOLA vs NL"``.
        env_id: registered env id.
        agents: names of the learners/strategies in seat 0 and seat 1.
        seeds: the seeds this task runs (batched suites run many in one task).
        settings: the suite's settings for this scale (JSON-ready).
        checkpoint_dir: where the task may save trained agents (None: do not save);
            relative paths are relative to the run folder.
    """

    suite: str
    group: str
    env_id: str
    agents: list[str]
    seeds: list[int]
    settings: dict[str, Any] = field(default_factory=dict)
    checkpoint_dir: str | None = None

    @property
    def key(self) -> str:
        """File-name-safe identifier, unique within a run."""
        seeds = (
            f"seed{self.seeds[0]}"
            if len(self.seeds) == 1
            else f"seeds{self.seeds[0]}-{self.seeds[-1]}"
        )
        return f"{self.suite}/{slug(self.group)}-{seeds}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def task_id(task: dict[str, Any]) -> str:
    """Identity of a task dict by its content (paths left out): 16 hex digits.

    Two tasks with the same suite, group, env, agents, seeds and settings get
    the same id however the run folder is spelled or wherever it was moved.
    """
    content = {k: v for k, v in task.items() if k not in PATH_FIELDS}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def slug(text: str) -> str:
    """Lower-case file-name-safe version of ``text``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(frozen=True)
class Suite:
    """A named family of tasks.

    Attributes:
        name: suite name on the command line.
        description: one line for ``--list`` and the report.
        make_tasks: ``(scale, seeds) -> list[Task]``.
        run: ``(task) -> {"metrics", "curves", "extra"}`` (per-seed lists).
        headline: metric names shown in the report's tables, in order.
        reference: the paper's figures, ``{group: {metric: value}}``.
        notes: lines printed under the suite's table (settings, caveats).
        intervals: the report's cells show the mean and its 95% interval (else mean ± std).
        cost: ``(task) -> float``, the task's estimated CPU seconds on an idle core, so that
            the longest tasks start first and short ones fill the end; None: unknown
            (such tasks start after every estimated one, in the suites' order).
    """

    name: str
    description: str
    make_tasks: Callable[[str, list[int]], list[Task]]
    run: Callable[[Task], dict[str, Any]]
    headline: tuple[str, ...]
    reference: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    intervals: bool = False
    cost: Callable[[Task], float] | None = None


SUITES: dict[str, Suite] = {}


def register_suite(suite: Suite) -> Suite:
    SUITES[suite.name] = suite
    return suite


def get_suite(name: str) -> Suite:
    from lola_agents.bench import suites  # noqa: F401  (registers the built-in suites)

    if name not in SUITES:
        raise KeyError(f"unknown suite {name!r}; known suites: {sorted(SUITES)}")
    return SUITES[name]


# --------------------------------------------------------------------------- progress
ProgressSink = Callable[[str, int, int], None]
_progress_sink: ProgressSink | None = None
_current_task: str | None = None
_last_report = 0.0
PROGRESS_INTERVAL_S = 1.0  # at most one message per second leaves a task; the runner throttles more


def set_progress_sink(sink: ProgressSink | None) -> None:
    """Route :func:`report_progress` of this process to ``sink(task_key, done, total)``."""
    global _progress_sink
    _progress_sink = sink


def report_progress(done: int, total: int) -> None:
    """Tell the runner how far the current task is: ``done`` of ``total`` units (e.g. updates).

    Suites call it from their training loops; it costs nothing when no runner
    listens and sends at most one message per second (plus the last one).
    """
    global _last_report
    if _progress_sink is None or _current_task is None:
        return
    now = time.monotonic()
    if done < total and now - _last_report < PROGRESS_INTERVAL_S:
        return
    _last_report = now
    try:
        _progress_sink(_current_task, int(done), int(total))
    except Exception:  # noqa: BLE001  (progress must never break a task)
        pass


class TrainingClock:
    """Env steps and wall-clock seconds at each update of one training run; reports progress.

    Pass :meth:`tick` as the training loop's per-update callback (it takes and
    ignores any arguments), then merge :meth:`curves` into the task's curves.

    Args:
        updates: updates the run will make (for progress).
        env_steps_per_update: game steps collected per update (games x steps);
            None where updates sample no game (exact gradients).
    """

    def __init__(self, updates: int, env_steps_per_update: int | None) -> None:
        self.updates = updates
        self.env_steps_per_update = env_steps_per_update
        self.start = time.perf_counter()
        self.env_steps: list[int] = []
        self.wall_time_s: list[float] = []

    def tick(self, *_: Any) -> None:
        """Record one finished update."""
        self.wall_time_s.append(time.perf_counter() - self.start)
        if self.env_steps_per_update is not None:
            self.env_steps.append(len(self.wall_time_s) * self.env_steps_per_update)
        report_progress(len(self.wall_time_s), self.updates)

    def curves(self) -> dict[str, list[list[float]]]:
        """``{"update", "env_steps", "wall_time_s": [[...]]}``: one seed's axis curves."""
        curves: dict[str, list[list[float]]] = {
            "update": [list(range(1, len(self.wall_time_s) + 1))],
            "wall_time_s": [list(self.wall_time_s)],
        }
        if self.env_steps:
            curves["env_steps"] = [list(self.env_steps)]
        return curves


def task_phase(task: dict[str, Any]) -> int:
    """When a task runs: 1 (default) or 2 (after every phase-1 task of its suite)."""
    phase = task.get("settings", {}).get("phase", 1)
    if phase not in (1, 2):
        raise ValueError(f"task {task.get('group')!r}: phase must be 1 or 2, got {phase!r}")
    return phase


def estimated_cost(task: dict[str, Any]) -> float:
    """The task's estimated CPU seconds (:attr:`Suite.cost`); 0.0 when its suite has no estimate."""
    suite = get_suite(task["suite"])
    return 0.0 if suite.cost is None else float(suite.cost(Task(**task)))


def start_order(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``tasks`` in the order to start them: phase 1 before phase 2, then longest first.

    Longest-first (the LPT rule) keeps the workers busy until the end instead of leaving
    one long task to run alone; the sort is stable, so equal estimates keep their order.
    """
    return sorted(tasks, key=lambda task: (task_phase(task), -estimated_cost(task)))


class StartQueue:
    """Tasks waiting to start, longest first, for a pool of workers.

    :meth:`pop_ready` gives the longest task that may start: a phase-1 task, or a
    phase-2 task once every phase-1 task of its suite has :meth:`finished`. So a
    suite's phase-2 task (the coin league) starts as soon as it may, before shorter
    phase-1 tasks of other suites.
    """

    def __init__(self, tasks: list[dict[str, Any]]) -> None:
        self.waiting = sorted(tasks, key=lambda task: -estimated_cost(task))
        self.unfinished_phase1 = Counter(task["suite"] for task in tasks if task_phase(task) == 1)

    def __len__(self) -> int:
        return len(self.waiting)

    def pop_ready(self) -> dict[str, Any] | None:
        """The next task to start, removed from the queue; None if none is ready yet."""
        for index, task in enumerate(self.waiting):
            if task_phase(task) == 1 or self.unfinished_phase1[task["suite"]] == 0:
                return self.waiting.pop(index)
        return None

    def finished(self, task: dict[str, Any]) -> None:
        """Record that ``task`` (popped earlier) has finished."""
        if task_phase(task) == 1:
            self.unfinished_phase1[task["suite"]] -= 1


def run_task(task: dict[str, Any], run_dir: str | None = None) -> dict[str, Any]:
    """Run one task (a :meth:`Task.to_dict`) and return its JSON-ready result.

    Used unchanged by every backend, so the local pool and Ray give the same
    numbers for the same seeds. A relative ``checkpoint_dir`` is taken
    relative to ``run_dir``; the result's ``task`` keeps it as given.
    """
    global _current_task
    import torch

    torch.set_num_threads(1)  # one thread per task: faster for small nets, fair across workers
    spec = Task(**task)
    suite = get_suite(spec.suite)
    resolved = Task(**task)
    if resolved.checkpoint_dir is not None and run_dir is not None:
        resolved.checkpoint_dir = str(Path(run_dir) / resolved.checkpoint_dir)
    started_unix = time.time()
    start = time.perf_counter()
    cpu_start = time.process_time()
    _current_task = spec.key
    try:
        out = suite.run(resolved)
    finally:
        _current_task = None
    for name, values in out.get("metrics", {}).items():
        if len(values) != len(spec.seeds):
            raise RuntimeError(
                f"suite {spec.suite} returned {len(values)} values of {name} for {len(spec.seeds)} seeds"
            )
    return {
        "task": spec.to_dict(),
        "task_id": task_id(task),
        "metrics": out.get("metrics", {}),
        "curves": out.get("curves", {}),
        "extra": out.get("extra", {}),
        "wall_time_s": time.perf_counter() - start,
        "cpu_time_s": time.process_time() - cpu_start,
        "started_unix": started_unix,
    }
