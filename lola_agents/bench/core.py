"""Tasks, suites and the one function every backend runs.

A *suite* (e.g. exact learners on the IPD and IMP) expands, for a scale and
a list of seeds, into *tasks*: one pairing of two agents on one env id over
one or more seeds. :func:`run_task` runs one task anywhere (this process, a
process-pool worker or a Ray worker) and returns a JSON-ready result:

    {"task": {...}, "metrics": {name: [value per seed]},
     "curves": {name: [[value per update] per seed]}, "extra": {...}, "wall_time_s": s}

Results of tasks with the same ``suite`` and ``group`` are merged in the
summary (one row of the report per group).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

SCALES = ("tiny", "quick", "paper")


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
        checkpoint_dir: where the task may save trained agents (None: do not save).
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
    """

    name: str
    description: str
    make_tasks: Callable[[str, list[int]], list[Task]]
    run: Callable[[Task], dict[str, Any]]
    headline: tuple[str, ...]
    reference: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


SUITES: dict[str, Suite] = {}


def register_suite(suite: Suite) -> Suite:
    SUITES[suite.name] = suite
    return suite


def get_suite(name: str) -> Suite:
    from lola_agents.bench import suites  # noqa: F401  (registers the built-in suites)

    if name not in SUITES:
        raise KeyError(f"unknown suite {name!r}; known suites: {sorted(SUITES)}")
    return SUITES[name]


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """Run one task (a :meth:`Task.to_dict`) and return its JSON-ready result.

    Used unchanged by every backend, so the local pool and Ray give the same
    numbers for the same seeds.
    """
    import torch

    torch.set_num_threads(1)  # one thread per task: faster for small nets, fair across workers
    spec = Task(**task)
    suite = get_suite(spec.suite)
    start = time.perf_counter()
    out = suite.run(spec)
    for name, values in out.get("metrics", {}).items():
        if len(values) != len(spec.seeds):
            raise RuntimeError(
                f"suite {spec.suite} returned {len(values)} values of {name} for {len(spec.seeds)} seeds"
            )
    return {
        "task": spec.to_dict(),
        "metrics": out.get("metrics", {}),
        "curves": out.get("curves", {}),
        "extra": out.get("extra", {}),
        "wall_time_s": time.perf_counter() - start,
    }
