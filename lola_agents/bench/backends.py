"""Where tasks run: this process, a local process pool, or Ray.

Every backend calls :func:`lola_agents.bench.core.run_task` on the same task
dicts and hands each result to ``on_result`` as soon as it is ready; none
schedules anything itself beyond what ``concurrent.futures`` or Ray do.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from lola_agents.bench.core import run_task

BACKENDS = ("local", "ray")
OnResult = Callable[[dict[str, Any]], None]


def run_inline(tasks: list[dict[str, Any]], on_result: OnResult) -> None:
    """Run tasks one after another in this process."""
    for task in tasks:
        on_result(run_task(task))


def run_local(tasks: list[dict[str, Any]], on_result: OnResult, workers: int) -> None:
    """Run tasks on a local process pool of ``workers`` processes (1: in this process)."""
    if workers <= 1 or len(tasks) <= 1:
        run_inline(tasks, on_result)
        return
    # spawn: workers start clean (no inherited torch threads or pygame state).
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(run_task, task) for task in tasks]
        for future in as_completed(futures):
            on_result(future.result())


def run_ray(tasks: list[dict[str, Any]], on_result: OnResult, address: str | None) -> None:
    """Run tasks as Ray tasks (one CPU each) on a local Ray or the cluster at ``address``."""
    try:
        import ray
    except ImportError as err:
        raise RuntimeError(
            "the ray backend needs Ray: pip install -e '.[ray]' (or pip install 'ray[default]')"
        ) from err
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token written under $HOME
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    try:
        remote = ray.remote(num_cpus=1)(run_task)
        pending = [remote.remote(task) for task in tasks]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            on_result(ray.get(done[0]))
    finally:
        if started_here:
            ray.shutdown()


def run_tasks(
    tasks: list[dict[str, Any]],
    on_result: OnResult,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
) -> None:
    """Run ``tasks`` on ``backend`` ("local" or "ray"), calling ``on_result`` per result."""
    if backend == "local":
        run_local(tasks, on_result, workers or os.cpu_count() or 1)
    elif backend == "ray":
        run_ray(tasks, on_result, address)
    else:
        raise ValueError(f"unknown backend {backend!r}; allowed: {list(BACKENDS)}")
