"""The run folder of ``lola-bench``: its layout, its lock, its run files and per-run logs.

Layout of ``--out`` (paths inside are relative, so the folder can be moved or
renamed and still resumed)::

    .lola-bench.lock                  held (fcntl.flock) by the lola-bench writing here
    runs/<suite>/<group>-seed<k>.json one result per finished task (schema: lola_agents.bench.core)
    runs/.../<name>.damaged-<time>    a run file --resume could not use, set aside
    logs/<suite>/<group>-seed<k>/seed<s>/progress.csv
                                      curves per update: update, env_steps, wall_time_s, metrics...
    logs/<suite>/<group>-seed<k>/seed<s>/tb/events.out.tfevents.*
                                      the same curves as TensorBoard scalars
                                      (step = env steps where the task samples games)
    checkpoints/<suite>/<group>-seed<k>/player_<i>/
                                      trained agents (lola_agents.agents.load_agent)
    figures/*.png, summary.json, report.md

``tensorboard --logdir <out>/logs`` shows every task's curves.

A task's run file is used by ``--resume`` only if it holds the result of a
task with the same content (suite, group, env, agents, seeds, settings; see
:func:`lola_agents.bench.core.task_id`); an unreadable or foreign file is
renamed ``*.damaged-<time>`` with a warning and the task runs again.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from lola_agents.bench.core import AXIS_CURVES, Task, task_id
from lola_agents.files import atomic_write, atomic_write_text, is_temporary, write_json_atomic

LOCK_FILE = ".lola-bench.lock"
DISK_NEARLY_FULL_BYTES = 1 << 20  # below this a failed write is reported as "disk full"


class OutputWriteError(RuntimeError):
    """A write into the run folder failed (disk full, no permission); the message says how to go on."""


def write_error_message(folder: Path, what: str, err: BaseException) -> str:
    """One clear sentence for a failed write of ``what`` into ``folder``."""
    reason = getattr(err, "strerror", None) or str(err)
    disk_full = isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)
    free = free_bytes(folder)
    if disk_full or (free is not None and free < DISK_NEARLY_FULL_BYTES):
        return (
            f"lola-bench: the disk holding {folder} is full ({free} bytes free) while writing "
            f"{what} ({reason}). Free some space, then run the same command with --resume: "
            "finished tasks are kept."
        )
    return f"lola-bench: cannot write {what} in {folder}: {reason}"


def free_bytes(folder: Path) -> int | None:
    """Free bytes on the file system holding ``folder`` (or its nearest existing parent)."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def warn(message: str) -> None:
    print(f"lola-bench: warning: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- lock
class RunLock:
    """An exclusive ``fcntl.flock`` on ``<folder>/.lola-bench.lock``.

    The kernel drops the lock when the holder exits in any way (also SIGKILL),
    so a killed run never leaves a stale lock.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock; ``SystemExit`` naming the holder's pid if another process has it."""
        try:
            import fcntl
        except ImportError:  # Windows: no flock
            warn(f"cannot lock {self.folder} on this system: do not start two runs on it")
            return self
        path = self.folder / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise SystemExit(
                f"lola-bench: cannot write to output folder {self.folder}: {err.strerror}"
            ) from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise SystemExit(f"lola-bench: cannot lock output folder {self.folder}: {err.strerror}") from err
            raise SystemExit(
                f"lola-bench: another lola-bench (pid {holder}) is writing to {self.folder}; "
                "wait until it ends (then use --resume to add to it) or choose another --out"
            ) from None
        try:  # the holder's pid, for the message above; a full disk must not stop the run here
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the only descriptor drops the flock
            self.fd = None


def open_run_folder(out: Path, resume: bool, overwrite: bool) -> RunLock:
    """Create or reuse ``out`` under an exclusive lock; never delete results.

    Returns the held :class:`RunLock` (release it when the run ends).
    ``SystemExit`` with a clear message if ``out`` is busy, not a folder,
    not empty (without ``--resume``/``--overwrite``) or not writable.
    """
    if resume and overwrite:
        raise SystemExit("lola-bench: --resume and --overwrite exclude each other; choose one")
    if out.exists() and not out.is_dir():
        raise SystemExit(f"lola-bench: output path {out} exists and is not a folder")
    if out.is_dir():
        lock = RunLock(out).acquire()
        if any(p.name != LOCK_FILE for p in out.iterdir()) and not resume:
            if not overwrite:
                lock.release()
                raise SystemExit(
                    f"lola-bench: output folder {out} is not empty; pass --resume to finish that run, "
                    "--overwrite to move it aside (it is kept), or choose another --out"
                )
            aside = out.with_name(f"{out.name}.old-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
            out.rename(aside)  # still under our lock: no run can be writing into it
            lock.release()
            print(f"lola-bench: moved the earlier results to {aside}")
        else:
            remove_stale_temporaries(out)
            return _probe(out, lock)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SystemExit(f"lola-bench: cannot write to output folder {out}: {err.strerror}") from err
    return _probe(out, RunLock(out).acquire())


def _probe(out: Path, lock: RunLock) -> RunLock:
    try:
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        lock.release()
        raise SystemExit(f"lola-bench: cannot write to output folder {out}: {err.strerror}") from err
    return lock


def remove_stale_temporaries(out: Path) -> None:
    """Delete temporary files and folders a killed run left (call only under the lock)."""
    for path in sorted(out.rglob(".*.tmp"), key=lambda p: len(p.parts), reverse=True):
        if is_temporary(path):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- run files
def run_file(out: Path, task: dict[str, Any]) -> Path:
    """Where the result of ``task`` is stored in the run folder ``out``."""
    return out / "runs" / f"{Task(**task).key}.json"


def load_finished(out: Path, task: dict[str, Any]) -> dict[str, Any] | None:
    """The stored result of ``task`` (its ``task`` field set to ``task``), or None.

    A run file that cannot be used (unreadable, not a result, another task's
    result, missing per-seed values) is renamed ``<name>.damaged-<time>`` with
    a warning on stderr, and None is returned so the task runs again.
    """
    path = run_file(out, task)
    if not path.exists() and not path.is_symlink():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        problem = result_problem(data, task)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        problem = f"unreadable ({type(err).__name__}: {err})"
    if problem is not None:
        aside = set_aside(path)
        warn(f"run file {path} is damaged: {problem}; moved it to {aside.name}; that task runs again")
        return None
    data["task"] = task  # the paths of this run (the folder may have moved)
    data["task_id"] = task_id(task)
    return data


def result_problem(data: Any, task: dict[str, Any]) -> str | None:
    """What makes ``data`` unusable as the stored result of ``task`` (None: usable)."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not a result object"
    stored = data.get("task")
    if not isinstance(stored, dict):
        return "no task in it"
    try:
        if task_id(stored) != task_id(task):
            return "it holds the result of another task (other settings, agents or seeds)"
    except (TypeError, ValueError) as err:
        return f"its task cannot be read ({err})"
    metrics, curves = data.get("metrics"), data.get("curves", {})
    if not isinstance(metrics, dict) or not isinstance(curves, dict):
        return "metrics or curves missing"
    seeds = len(task["seeds"])
    for name, values in metrics.items():
        if not isinstance(values, list) or len(values) != seeds:
            return f"metric {name!r} does not have one value per seed ({seeds})"
    if not isinstance(data.get("wall_time_s"), (int, float)):
        return "wall_time_s missing"
    return None


def set_aside(path: Path) -> Path:
    """Rename ``path`` to ``<name>.damaged-<time>[-n]`` next to it; returns the new path."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    path.rename(aside)
    return aside


def save_result(out: Path, result: dict[str, Any]) -> None:
    """Store a finished task's result and its CSV/TensorBoard logs; clear error if the disk is full."""
    path = run_file(out, result["task"])
    try:
        write_json_atomic(path, result)
    except OSError as err:
        raise OutputWriteError(write_error_message(out, f"run file {path.relative_to(out)}", err)) from err
    write_task_logs(out, result)


# --------------------------------------------------------------------------- logs
def log_dir(out: Path, task: dict[str, Any]) -> Path:
    """``<out>/logs/<task key>``: one ``seed<s>/`` folder per seed of the task."""
    return out / "logs" / Task(**task).key


def curve_table(result: dict[str, Any], seed_index: int) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of one seed's curves: ``update, env_steps, wall_time_s, metrics...``.

    Points without a value are empty cells. ``update`` is the suite's ``update``
    curve, or the point's index (where the suite's curves start at update 0).
    """
    curves = result.get("curves", {})

    def seed_curve(name: str) -> list[Any]:
        runs = curves.get(name, [])
        return list(runs[seed_index]) if seed_index < len(runs) else []

    metrics = [name for name in curves if name not in AXIS_CURVES]
    columns = {name: seed_curve(name) for name in (*AXIS_CURVES, *metrics)}
    length = max((len(c) for c in columns.values()), default=0)
    if not columns["update"]:
        columns["update"] = list(range(length))
    header = [*AXIS_CURVES, *metrics]
    rows = [
        [columns[name][i] if i < len(columns[name]) else "" for name in header]
        for i in range(length)
    ]
    return header, rows


def write_task_logs(out: Path, result: dict[str, Any]) -> None:
    """Write ``logs/<task key>/seed<s>/progress.csv`` and ``.../tb/`` for each seed of a result.

    Tasks without curves (fixed strategies, head-to-head) get no logs. The
    folder is built aside and moved into place, so a crash never leaves half of it.
    """
    if not any(name not in AXIS_CURVES for name in result.get("curves", {})):
        return
    final = log_dir(out, result["task"])
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
        try:
            for j, seed in enumerate(result["task"]["seeds"]):
                header, rows = curve_table(result, j)
                if not rows:
                    continue
                folder = tmp / f"seed{seed}"
                text = io.StringIO()
                writer = csv.writer(text, lineterminator="\n")
                writer.writerow(header)
                writer.writerows(rows)
                atomic_write_text(folder / "progress.csv", text.getvalue())
                write_tensorboard(folder / "tb", header, rows, result.get("started_unix"))
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as err:
        raise OutputWriteError(write_error_message(out, f"logs {final.relative_to(out)}", err)) from err


_TENSORBOARD_MISSING = False


def write_tensorboard(folder: Path, header: list[str], rows: list[list[Any]], started_unix: float | None) -> None:
    """TensorBoard scalars of one seed's curves; step = env steps if known, else update.

    The event file is built in memory with TensorBoard's own record format and
    written atomically (TensorBoard's ``SummaryWriter`` writes from a
    background thread, whose errors on a full disk escape as tracebacks).
    """
    global _TENSORBOARD_MISSING
    try:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.summary.writer.record_writer import RecordWriter
        from torch.utils.tensorboard.summary import scalar
    except ImportError:
        if not _TENSORBOARD_MISSING:
            warn("tensorboard is not installed: lola-bench writes the CSV logs only "
                 "(pip install tensorboard)")
            _TENSORBOARD_MISSING = True
        return
    index = {name: i for i, name in enumerate(header)}
    started = started_unix if started_unix is not None else time.time()
    buffer = io.BytesIO()
    records = RecordWriter(buffer)
    records.write(Event(wall_time=started, file_version="brain.Event:2").SerializeToString())
    for row in rows:
        env_steps, wall = row[index["env_steps"]], row[index["wall_time_s"]]
        step = int(env_steps if env_steps != "" else row[index["update"]])
        walltime = started + (wall if wall != "" else 0.0)
        for name in header:
            value = row[index[name]]
            if name in AXIS_CURVES or value == "" or value is None:
                continue
            event = Event(wall_time=walltime, step=step, summary=scalar(name, float(value)))
            records.write(event.SerializeToString())
    name = f"events.out.tfevents.{int(started)}.{socket.gethostname()}.{os.getpid()}.lola-bench"
    atomic_write(folder / name, lambda f: f.write(buffer.getvalue()))
