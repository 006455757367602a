"""Where tasks run: this process, a local process pool, or Ray.

Every backend calls :func:`lola_agents.bench.core.run_task` on the same task
dicts and hands each result to ``on_result`` as soon as it is ready. Tasks start
longest first (:func:`lola_agents.bench.core.start_order`); a phase-2 task starts
once every phase-1 task of its suite has finished (Ray: once every phase-1 task).

Local pool workers die with the process that started them (also when it is
SIGKILLed), stop taking tasks after the first failure, and send in-task
progress (:func:`lola_agents.bench.core.report_progress`) to ``on_progress``.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from lola_agents.bench.core import (
    StartQueue,
    Task,
    run_task,
    set_progress_sink,
    start_order,
    task_phase,
)

BACKENDS = ("local", "ray")
OnResult = Callable[[dict[str, Any]], None]
OnProgress = Callable[[str, int, int], None]
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_workers(tasks: list[dict[str, Any]], scale: str | None = None) -> int:
    """Worker processes for ``tasks`` on this machine.

    One per usable CPU and at most one per task; a single worker (in this
    process) at the ``tiny`` scale, whose tasks last about a second: there the
    start of a second process (spawn, importing torch) costs more than it saves
    (measured: docs/lola_bench.md, "Worker count").
    """
    if scale == "tiny":
        return 1
    return max(1, min(usable_cpus(), len(tasks)))


def watch_parent(parent_pid: int) -> None:
    """Make this process exit when ``parent_pid`` (its parent) dies, even by SIGKILL.

    Linux: the kernel sends SIGKILL on the parent's death (``prctl
    PR_SET_PDEATHSIG``). Elsewhere a daemon thread polls ``os.getppid()``
    every second.
    """
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent_pid:  # the parent died before the watch was armed
        os._exit(1)
    if not armed:

        def poll() -> None:
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=poll, daemon=True, name="lola-bench-parent-watch").start()


def _init_worker(parent_pid: int, progress_queue: Any) -> None:
    watch_parent(parent_pid)
    if progress_queue is not None:
        set_progress_sink(lambda key, done, total: progress_queue.put((key, done, total)))


@contextlib.contextmanager
def _progress_relay(context: Any, on_progress: OnProgress | None) -> Iterator[Any]:
    """A queue the workers put progress on, and a thread handing it to ``on_progress``."""
    if on_progress is None:
        yield None
        return
    queue = context.Queue()

    def relay() -> None:
        while (item := queue.get()) is not None:
            on_progress(*item)

    thread = threading.Thread(target=relay, daemon=True, name="lola-bench-progress")
    thread.start()
    try:
        yield queue
    finally:
        queue.put(None)
        thread.join(timeout=5)
        queue.close()


def _note_task(err: BaseException, task: dict[str, Any]) -> BaseException:
    err.add_note(f"lola-bench: in task {Task(**task).key} ({task['group']}, seeds {task['seeds']})")
    return err


def run_inline(
    tasks: list[dict[str, Any]],
    on_result: OnResult,
    run_dir: str | None = None,
    on_progress: OnProgress | None = None,
) -> None:
    """Run tasks one after another in this process (in :func:`start_order`)."""
    set_progress_sink(on_progress)
    try:
        for task in start_order(tasks):
            try:
                result = run_task(task, run_dir)
            except Exception as err:
                raise _note_task(err, task) from None
            on_result(result)
    finally:
        set_progress_sink(None)


def run_local(
    tasks: list[dict[str, Any]],
    on_result: OnResult,
    workers: int,
    run_dir: str | None = None,
    on_progress: OnProgress | None = None,
) -> None:
    """Run tasks on a local process pool of ``workers`` processes (1: in this process).

    A worker that frees up takes the first ready task of :func:`start_order` (longest
    first); a phase-2 task is ready once every phase-1 task of its suite has finished.
    Tasks are handed to the pool one per free worker, so a task that becomes ready late
    (the coin league) does not queue behind short ones submitted earlier.
    After the first failure no new task starts; tasks already running finish
    and are handed to ``on_result``; then the first error is raised.
    """
    if workers <= 1 or len(tasks) <= 1:
        run_inline(tasks, on_result, run_dir, on_progress)
        return
    # spawn: workers start clean (no inherited torch threads or pygame state).
    context = multiprocessing.get_context("spawn")
    start_queue = StartQueue(tasks)
    with _progress_relay(context, on_progress) as queue:
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(tasks)),
            mp_context=context,
            initializer=_init_worker,
            initargs=(os.getpid(), queue),
        )
        running: dict[Future, dict[str, Any]] = {}

        def start_ready() -> None:
            while len(running) < workers:
                task = start_queue.pop_ready()
                if task is None:
                    return
                running[pool.submit(run_task, task, run_dir)] = task

        try:
            first_error: BaseException | None = None
            start_ready()
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    task = running.pop(future)
                    try:
                        on_result(future.result())
                    except Exception as err:
                        if first_error is None:
                            first_error = err if future.exception() is None else _note_task(err, task)
                    start_queue.finished(task)
                if first_error is None:
                    start_ready()
            if first_error is not None:
                raise first_error
        except BaseException:
            # Ctrl-C or a failure: stop the workers now instead of waiting for their tasks.
            # (ProcessPoolExecutor has no public kill before Python 3.14; shutdown forgets them.)
            processes = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.kill()
            raise
        finally:
            pool.shutdown(wait=True)


def run_ray(
    tasks: list[dict[str, Any]],
    on_result: OnResult,
    address: str | None,
    run_dir: str | None = None,
) -> None:
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
        ordered = start_order(tasks)
        for phase in sorted({task_phase(task) for task in ordered}):
            pending = [remote.remote(task, run_dir) for task in ordered if task_phase(task) == phase]
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
    run_dir: str | None = None,
    on_progress: OnProgress | None = None,
) -> None:
    """Run ``tasks`` on ``backend`` ("local" or "ray"), calling ``on_result`` per result.

    Phase-2 tasks run after the phase-1 tasks they follow (module docstring).

    ``run_dir``: the folder relative checkpoint paths of tasks refer to.
    ``on_progress(task_key, done, total)``: in-task progress (local backend).
    """
    if backend == "local":
        run_local(tasks, on_result, workers or default_workers(tasks), run_dir, on_progress)
    elif backend == "ray":
        run_ray(tasks, on_result, address, run_dir)
    else:
        raise ValueError(f"unknown backend {backend!r}; allowed: {list(BACKENDS)}")
