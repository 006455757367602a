"""lola-bench under faults: killed runs, concurrent runs, damaged files, moved folders, full disks.

Each case runs the smallest suite (exact learners, tiny scale, one seed: 8
tasks) and compares the numbers with a clean run of the same command.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lola_agents.bench.backends import default_workers, usable_cpus
from lola_agents.bench.cli import main
from lola_agents.bench.core import Task, TrainingClock, set_progress_sink, task_id
from lola_agents.bench.progress import RunProgress
from lola_agents.bench.rundir import LOCK_FILE
from lola_agents.files import write_json_atomic

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--scale", "tiny", "--suite", "exact", "--seeds", "1", "--no-figures", "--workers", "1"]
ENV = {
    **os.environ,
    "PYTHONPATH": str(ROOT),
    "OMP_NUM_THREADS": "1",
    "SDL_VIDEODRIVER": "dummy",
    "SDL_AUDIODRIVER": "dummy",
}


def numbers(out: Path) -> dict[str, dict[str, list]]:
    summary = json.loads((out / "summary.json").read_text())
    return {g["group"]: {k: v["per_seed"] for k, v in g["metrics"].items()} for g in summary["groups"]}


def run_files(out: Path) -> dict[Path, int]:
    """Run file -> modification time (ns): a changed time means the task ran again."""
    files = {}
    for path in (out / "runs").rglob("*.json"):
        try:
            files[path.relative_to(out)] = path.stat().st_mtime_ns
        except FileNotFoundError:  # replaced while we looked
            continue
    return files


def bench(*args: str, output: int = subprocess.PIPE) -> subprocess.Popen:
    """``lola-bench args`` in a new process (``output``: where its stdout/stderr go)."""
    return subprocess.Popen(
        [sys.executable, "-m", "lola_agents.bench.cli", *args],
        env=ENV,
        stdout=output,
        stderr=output,
        text=True,
    )


def wait_for(condition, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def lock_is_held(out: Path) -> bool:
    try:
        fd = os.open(out / LOCK_FILE, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A clean run of the small command."""
    out = tmp_path_factory.mktemp("reference") / "run"
    assert main([*SMALL, "--out", str(out)]) == 0
    return out


def test_sigkill_at_random_points_then_resume_gives_the_same_numbers(reference, tmp_path):
    out = tmp_path / "run"
    rng = random.Random(14)
    finished_at_kill = []
    # Kill after a random number of finished tasks (plus jitter: inside a task or a write),
    # then once during the set-up of a resumed run; then resume to the end.
    for attempt, wait_for_tasks in enumerate((rng.randint(1, 4), rng.randint(5, 7), 0)):
        args = [*SMALL, "--out", str(out)] + (["--resume"] if attempt else [])
        process = bench(*args)
        wait_for(lambda p=process: lock_is_held(out) or p.poll() is not None, what="the lock")
        wait_for(lambda p=process, n=wait_for_tasks: len(run_files(out)) >= n or p.poll() is not None,
                 what=f"{wait_for_tasks} finished tasks")
        time.sleep(rng.uniform(0.0, 0.2))
        if process.poll() is None:
            process.kill()
            finished_at_kill.append(len(run_files(out)))
        process.communicate()
    assert len(finished_at_kill) >= 2 and any(0 < n < 8 for n in finished_at_kill), finished_at_kill
    assert main([*SMALL, "--out", str(out), "--resume"]) == 0
    assert numbers(out) == numbers(reference)
    assert not [p for p in out.rglob("*.tmp")], "temporary files left behind"


def test_second_run_on_the_same_folder_is_refused_and_nothing_is_corrupt(reference, tmp_path):
    out = tmp_path / "run"
    first = bench(*SMALL, "--out", str(out))
    wait_for(lambda: lock_is_held(out) or first.poll() is not None, what="the lock")
    assert first.poll() is None, "the first run ended before the second started"
    for extra in ([], ["--resume"], ["--overwrite"]):
        with pytest.raises(SystemExit, match=rf"another lola-bench \(pid {first.pid}\) is writing to"):
            main([*SMALL, "--out", str(out), *extra])
    assert first.wait(timeout=120) == 0, first.communicate()
    assert numbers(out) == numbers(reference)
    for path in run_files(out):
        assert json.loads((out / path).read_text())["task_id"]
    assert not lock_is_held(out)  # released at exit: the folder can be resumed at once


def test_concurrent_atomic_writers_never_expose_a_partial_file(tmp_path):
    path = tmp_path / "result.json"
    payloads = [{"writer": w, "data": list(range(20_000))} for w in range(4)]
    write_json_atomic(path, payloads[0])
    errors: list[BaseException] = []

    def write(payload):
        try:
            for _ in range(40):
                write_json_atomic(path, payload)
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    writers = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for thread in writers:
        thread.start()
    reads = 0
    while any(thread.is_alive() for thread in writers):
        assert json.loads(path.read_text()) in payloads  # never half a file, never missing
        reads += 1
    for thread in writers:
        thread.join()
    assert not errors and reads > 0
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


DAMAGE = {
    "truncated": lambda victim, other: victim.write_text(victim.read_text()[:40]),
    "empty": lambda victim, other: victim.write_text(""),
    "a JSON list": lambda victim, other: victim.write_text("[1, 2]"),
    "no task": lambda victim, other: victim.write_text('{"metrics": {}}'),
    "another task's result": lambda victim, other: victim.write_text(other.read_text()),
    "invalid UTF-8": lambda victim, other: victim.write_bytes(b"\xff\xfe{"),
    "a folder": lambda victim, other: (victim.unlink(), victim.mkdir()),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_run_file_is_set_aside_and_its_task_runs_again(reference, tmp_path, capsys, damage):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    victim, other = sorted((out / "runs").rglob("*.json"))[:2]
    DAMAGE[damage](victim, other)
    before = run_files(out)
    capsys.readouterr()
    assert main([*SMALL, "--out", str(out), "--resume"]) == 0
    err = capsys.readouterr().err
    assert f"run file {victim} is damaged" in err and "that task runs again" in err
    aside = list(victim.parent.glob(f"{victim.name}.damaged-*"))
    assert len(aside) == 1
    after = run_files(out)
    assert [p for p in before if after[p] != before[p]] == [p for p in before if out / p == victim]
    assert numbers(out) == numbers(reference)


def test_resume_keeps_work_whatever_the_spelling_of_out_and_after_a_move(reference, tmp_path, monkeypatch):
    parent = tmp_path / "parent"
    (parent / "x").mkdir(parents=True)
    out = parent / "run"
    assert main([*SMALL, "--out", str(out)]) == 0  # absolute
    before = run_files(out)
    monkeypatch.chdir(parent)
    for spelling in ("run", "run/", "./x/../run"):
        assert main([*SMALL, "--out", spelling, "--resume"]) == 0
        assert run_files(out) == before, f"--out {spelling} ran finished tasks again"
    moved = tmp_path / "elsewhere" / "renamed"
    moved.parent.mkdir()
    out.rename(moved)
    assert main([*SMALL, "--out", str(moved), "--resume"]) == 0
    assert run_files(moved) == before
    assert numbers(moved) == numbers(reference)
    stored = json.loads(next((moved / "runs").rglob("*.json")).read_text())["task"]
    assert stored["checkpoint_dir"] == "checkpoints/" + stored["checkpoint_dir"].split("/", 1)[1]
    assert task_id(stored) == task_id({**stored, "checkpoint_dir": "/anywhere/else"})


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("how", ["SIGKILL", "Ctrl-C"])
def test_workers_and_resource_tracker_stop_when_the_parent_stops(tmp_path, how):
    # No stdout pipe: orphans holding it open must not hang the test, they must fail it.
    parent = subprocess.Popen(
        [sys.executable, "-m", "lola_agents.bench.cli", "--scale", "tiny", "--suite", "head_to_head",
         "--no-figures", "--workers", "2", "--out", str(tmp_path / "run")],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # Ctrl-C even if we ignore it
    )
    try:
        # the resource tracker and two pool workers, in the middle of their tasks
        wait_for(lambda: (tmp_path / "run" / "runs").exists() or parent.poll() is not None,
                 what="a finished task")
        children = _children(parent.pid)
        assert parent.poll() is None and len(children) >= 3
        if how == "Ctrl-C":
            parent.send_signal(signal.SIGINT)
            assert parent.wait(timeout=20) == 130  # "interrupted; finished tasks are saved"
    finally:
        parent.kill()
        parent.wait()
    try:
        wait_for(lambda: not any(_alive(pid) for pid in children), timeout=10, what="orphans to exit")
    finally:
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 400 kB tmpfs (root only), unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.parametrize("leave_kb", [8, 60])  # 8: run files fail; 60: figures fail
def test_a_full_disk_gives_a_clear_error_and_resume_then_works(reference, tiny_disk, capsys, leave_kb):
    filler = tiny_disk / "filler"
    filler.write_bytes(b"\0" * (shutil.disk_usage(tiny_disk).free - leave_kb * 1024))
    out = tiny_disk / "run"
    args = [a for a in SMALL if a != "--no-figures"]
    assert main([*args, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"the disk holding {out} is full" in err and "--resume" in err
    assert "Traceback" not in err
    filler.unlink()
    assert main([*args, "--out", str(out), "--resume"]) == 0
    assert numbers(out) == numbers(reference)


def test_log_lines_show_each_finished_task_with_elapsed_time_and_eta(reference, tmp_path, capsys):
    assert main([*SMALL, "--out", str(tmp_path / "run")]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "tasks done" in line]
    assert len(lines) == 8
    assert lines[0].startswith("lola-bench: 1/8 tasks done (0 kept): exact/") and "ETA" in lines[0]
    assert "elapsed" in lines[-1] and lines[-1].endswith("ETA 0:00")


def test_progress_inside_a_task_reaches_the_log_every_interval(capsys):
    import io

    stream = io.StringIO()
    with RunProgress(todo=1, stream=stream, interactive=False, line_interval_s=0.0) as progress:
        set_progress_sink(progress.task_progress)
        try:
            from lola_agents.bench import core

            core._current_task = "coin/x-seed0"
            clock = TrainingClock(updates=3, env_steps_per_update=800)
            for _ in range(3):
                clock.tick()
        finally:
            core._current_task = None
            set_progress_sink(None)
    assert "lola-bench:   coin/x-seed0: 3/3 (100%)" in stream.getvalue()
    curves = clock.curves()
    assert curves["env_steps"] == [[800, 1600, 2400]] and curves["update"] == [[1, 2, 3]]
    assert len(curves["wall_time_s"][0]) == 3 and curves["wall_time_s"][0] == sorted(curves["wall_time_s"][0])


def test_default_worker_count_fits_the_machine_and_the_scale():
    tasks = [{}] * 50
    assert default_workers(tasks, "tiny") == 1
    assert default_workers(tasks, "quick") == usable_cpus()
    assert default_workers(tasks[:1], "paper") == 1


def test_a_failing_task_is_named_and_the_finished_ones_are_kept(tmp_path):
    from lola_agents.bench.core import SUITES, Suite, Task, register_suite

    broken = {"seed": 1}

    def run(task: Task) -> dict:
        if task.seeds[0] == broken["seed"]:
            raise FloatingPointError("diverged")
        return {"metrics": {"score": [float(task.seeds[0])]}}

    register_suite(Suite("faulty", "test suite", lambda scale, seeds: [
        Task("faulty", "A vs A", "ipd_v0", ["A", "A"], [s]) for s in (seeds or [0, 1, 2])
    ], run, headline=("score",)))
    out = tmp_path / "run"
    args = ["--suite", "faulty", "--no-figures", "--workers", "1", "--out", str(out)]
    try:
        with pytest.raises(FloatingPointError, match="diverged") as failure:
            main(args)
        assert "lola-bench: in task faulty/a-vs-a-seed1 (A vs A, seeds [1])" in failure.value.__notes__
        assert sorted(p.name for p in (out / "runs" / "faulty").iterdir()) == ["a-vs-a-seed0.json"]
        broken["seed"] = None
        assert main([*args, "--resume"]) == 0
        assert numbers(out)["A vs A"]["score"] == [0.0, 1.0, 2.0]
    finally:
        SUITES.pop("faulty")


def test_a_failing_task_in_the_pool_stops_the_run_with_the_task_named():
    from lola_agents.bench.backends import run_local
    from lola_agents.bench.core import Task

    settings = {"episodes": 1, "exact_updates": 1}
    good = [Task("head_to_head", f"AllC vs {b}", "ipd_v0", ["AllC", b], [0], settings).to_dict()
            for b in ("AllC", "AllD")]
    bad = Task("head_to_head", "X vs AllC", "ipd_v0", ["X", "AllC"], [0], settings).to_dict()
    results = []
    with pytest.raises(ValueError, match="unknown head-to-head agent 'X'") as failure:
        run_local([bad, *good], results.append, workers=2)
    assert "lola-bench: in task head_to_head/x-vs-allc-seed0 (X vs AllC, seeds [0])" in failure.value.__notes__
    assert all(r["task"] in good for r in results)  # tasks that finished are handed over


def test_the_eta_weighs_tasks_by_their_estimated_cost(monkeypatch):
    import io

    from lola_agents.bench import progress as progress_module

    clock = {"now": 100.0}
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: clock["now"])
    stream = io.StringIO()
    costs = {"coin/long-seed0": 90.0, "coin/short-seed0": 10.0, "exact/x-seeds0-1": 0.0}
    with RunProgress(todo=3, stream=stream, interactive=False, costs=costs) as progress:
        assert progress.eta() is None
        clock["now"] += 45.0  # the long task took 45 s: 0.5 s per estimated second
        progress.task_done({"task": Task("coin", "long", "coin_game_v0", ["a", "a"], [0]).to_dict(),
                            "wall_time_s": 45.0})
        # left: 10 s + 1 s (no estimate: UNKNOWN_COST_S) at 0.5 s each
        assert progress.eta() == pytest.approx(0.5 * (10.0 + progress_module.UNKNOWN_COST_S))
    assert stream.getvalue().rstrip().endswith("ETA 0:06")
