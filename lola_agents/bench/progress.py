"""Progress of a ``lola-bench`` run, in a terminal and in a log file.

In a terminal: a rich bar over tasks with elapsed time and ETA, plus one bar
per running task that reports progress from inside (see
:func:`lola_agents.bench.core.report_progress`). Elsewhere (stdout to a file,
CI): one line per finished task with elapsed time and ETA, and a line about
each running task every ``line_interval_s`` seconds.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any

from lola_agents.bench.core import Task


def format_seconds(seconds: float) -> str:
    """``h:mm:ss`` (or ``m:ss`` under an hour)."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


UNKNOWN_COST_S = 1.0  # ETA weight of a task whose suite has no cost estimate (about a second)


class RunProgress:
    """Shows how far a run is; use as a context manager.

    Args:
        todo: tasks to run now.
        kept: finished tasks kept from an earlier run.
        stream: where lines go (default ``sys.stdout``).
        interactive: draw a live bar (default: ``stream`` is a terminal).
        line_interval_s: seconds between in-task lines of one task in a log.
        costs: estimated CPU seconds of each task to run, by :attr:`Task.key`
            (:func:`lola_agents.bench.core.estimated_cost`): the ETA weighs finished
            and remaining tasks by them, since tasks start longest first; a task
            without an estimate weighs :data:`UNKNOWN_COST_S`. None: all weigh the same.
    """

    def __init__(
        self,
        todo: int,
        kept: int = 0,
        stream: IO[str] | None = None,
        interactive: bool | None = None,
        line_interval_s: float = 30.0,
        costs: dict[str, float] | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.todo, self.kept, self.done = todo, kept, 0
        self.line_interval_s = line_interval_s
        self.costs = {key: max(cost, UNKNOWN_COST_S) for key, cost in (costs or {}).items()}
        self.total_cost = sum(self.costs.values()) if costs else float(todo)
        self.done_cost = 0.0
        self.start = time.monotonic()
        self.lock = threading.Lock()
        self.last_line: dict[str, float] = {}
        self.task_bars: dict[str, Any] = {}
        self.progress: Any = None

    def __enter__(self) -> RunProgress:
        if self.interactive:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("[bold]lola-bench[/bold] {task.description}"),
                BarColumn(),
                TextColumn("{task.fields[tasks]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self.progress.__enter__()
            # The bar advances by estimated cost, so its ETA weighs long tasks as long.
            self.bar = self.progress.add_task(
                f"{self.todo} tasks ({self.kept} kept)", total=self.total_cost, tasks=f"0/{self.todo}"
            )
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def eta(self) -> float | None:
        """Seconds left if the remaining tasks take as long per estimated second as the
        finished ones (per task without ``costs``); None before the first task finishes."""
        if self.done == 0 or self.done_cost <= 0:
            return None
        return (time.monotonic() - self.start) / self.done_cost * max(self.total_cost - self.done_cost, 0.0)

    def task_done(self, result: dict[str, Any]) -> None:
        """One task finished (its result dict)."""
        key = Task(**result["task"]).key
        with self.lock:
            self.done += 1
            cost = self.costs.get(key, UNKNOWN_COST_S) if self.costs else 1.0
            self.done_cost += cost
            self.last_line.pop(key, None)
            if self.progress is not None:
                bar = self.task_bars.pop(key, None)
                if bar is not None:
                    self.progress.remove_task(bar)
                self.progress.update(self.bar, advance=cost, description=f"done: {result['task']['group']}",
                                     tasks=f"{self.done}/{self.todo}")
                return
            eta = self.eta()
            self.line(
                f"{self.done}/{self.todo} tasks done ({self.kept} kept): {key} took "
                f"{format_seconds(result['wall_time_s'])}; elapsed "
                f"{format_seconds(time.monotonic() - self.start)}, ETA "
                f"{'unknown' if eta is None else format_seconds(eta)}"
            )

    def task_progress(self, key: str, done: int, total: int) -> None:
        """A running task reports ``done`` of ``total`` (updates, episodes...)."""
        with self.lock:
            if self.progress is not None:
                if key not in self.task_bars:
                    self.task_bars[key] = self.progress.add_task(f"  {key}", total=total, tasks="")
                self.progress.update(self.task_bars[key], completed=done, total=total)
                return
            now = time.monotonic()
            first = self.last_line.setdefault(key, now)
            if now - first >= self.line_interval_s:
                self.last_line[key] = now
                self.line(f"  {key}: {done}/{total} ({100 * done / max(total, 1):.0f}%)")

    def line(self, text: str) -> None:
        print(f"lola-bench: {text}", file=self.stream, flush=True)
