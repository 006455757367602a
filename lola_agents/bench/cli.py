"""``lola-bench``: benchmark LOLA against naive learners, PPO and fixed strategies.

    lola-bench                                  # default suites, quick scale, -> runs/bench-<time>/
    lola-bench --scale paper --seeds 50         # the paper's settings (hours)
    lola-bench --suite exact --suite head_to_head --out results/mine
    lola-bench --backend ray [--address HOST:PORT]
    lola-bench --experiment coin-aa-aa          # a named experiment config (TOML, see --list)
    lola-bench --experiment coin-aa-aa --scale tiny   # the same config at a smoke-test budget
    lola-bench --list                           # suites, experiments and what they run
    lola-bench --ship runs/x/checkpoints/coin_pair/coin-aa-aa-seed0 adalign-new   # ship a trained pair

The output folder gets one JSON per task (``runs/``), ``summary.json`` (schema
in :mod:`lola_agents.bench.report`), ``report.md``, PNG figures, per-task CSV
and TensorBoard logs (``logs/``) and the trained agents' checkpoints (layout:
docs/lola_bench.md). An existing non-empty folder is never
overwritten silently: pass ``--resume`` to finish an interrupted run (finished
tasks are kept, however ``--out`` is spelled and wherever the folder moved) or
``--overwrite`` to move the old folder aside first. One lola-bench at a time
writes a folder: a second one is refused.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lola_agents.bench.backends import BACKENDS, default_workers, run_tasks
from lola_agents.bench.core import SCALES, SUITES, Task, estimated_cost, get_suite, task_id
from lola_agents.bench.progress import RunProgress
from lola_agents.bench.report import SCHEMA_VERSION, markdown_report, merge_groups, write_figures
from lola_agents.bench.rundir import (
    DISK_NEARLY_FULL_BYTES,
    OutputWriteError,
    free_bytes,
    load_finished,
    log_dir,
    open_run_folder,
    save_result,
    write_error_message,
    write_task_logs,
)
from lola_agents.files import atomic_write_text, write_json_atomic

# Kept importable from here: the bench's writes are atomic with unique temporary names.
__all__ = ["main", "write_json_atomic"]

DEFAULT_SUITES = ("exact", "sampled_ipd", "coin", "coin_shipped", "head_to_head")


def build_tasks(suites: list[str], scale: str, seeds: list[int] | None) -> list[dict[str, Any]]:
    """The task dicts of ``suites``; checkpoint folders relative to the run folder."""
    return finish_tasks([task for name in suites for task in get_suite(name).make_tasks(scale, seeds)])


def finish_tasks(planned: list[Task]) -> list[dict[str, Any]]:
    """Give each task its checkpoint folder (relative to the run folder); check keys are unique."""
    tasks: list[dict[str, Any]] = []
    for task in planned:
        task.checkpoint_dir = f"checkpoints/{task.key}"
        tasks.append(task.to_dict())
    keys = [Task(**t).key for t in tasks]
    if len(set(keys)) != len(keys):
        raise RuntimeError("two tasks share one key; suite definitions must give unique groups")
    return tasks


def machine_info() -> dict[str, Any]:
    import torch

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
    }


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lola-shaping")
    except PackageNotFoundError:
        return "unknown (not installed)"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="lola-bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--suite",
        action="append",
        help=f"suite to run (repeatable); default: {', '.join(DEFAULT_SUITES)}",
    )
    parser.add_argument(
        "--scale",
        default="quick",
        choices=SCALES,
        help="tiny (smoke test, about a minute), quick (default, minutes), paper (hours)",
    )
    parser.add_argument(
        "--seeds", type=int, default=None, help="number of seeds 0..N-1 (default: the scale's)"
    )
    parser.add_argument(
        "--seed-list", type=int, nargs="+", default=None, metavar="SEED",
        help="these seeds instead of 0..N-1, e.g. --seed-list 3 4 (excludes --seeds)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: runs/bench-<time>)"
    )
    parser.add_argument(
        "--backend", default="local", choices=BACKENDS, help="local process pool (default) or Ray"
    )
    parser.add_argument(
        "--address", default=None, help="Ray cluster address (default: start a local Ray)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local processes (default: one per usable CPU and task; 1 at the tiny scale)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="keep finished tasks of an interrupted run in --out"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="move an existing --out aside, then run"
    )
    parser.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    parser.add_argument(
        "--experiment",
        action="append",
        help="named experiment config to run (repeatable; lola_agents/bench/experiments/*.toml); "
        "runs as configured, or shrunk with --scale tiny",
    )
    parser.add_argument(
        "--ship",
        nargs=2,
        metavar=("CHECKPOINT_DIR", "NAME"),
        help="copy a trained pair of a finished run (<out>/checkpoints/<suite>/<task>) into "
        "lola_agents/checkpoints/coin/NAME with its provenance, then exit",
    )
    parser.add_argument(
        "--list", action="store_true", help="list the suites and experiments and exit"
    )
    args = parser.parse_args(argv)
    if args.seeds is not None and args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    if args.seed_list is not None:
        if args.seeds is not None:
            parser.error("--seeds and --seed-list exclude each other")
        if min(args.seed_list) < 0 or len(set(args.seed_list)) != len(args.seed_list):
            parser.error(f"--seed-list takes distinct seeds >= 0, got {args.seed_list}")
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    if args.address and args.backend != "ray":
        parser.error("--address goes with --backend ray")
    if args.experiment and args.suite:
        parser.error("--experiment and --suite exclude each other; run them separately")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.ship:
        from lola_agents.bench.experiments import ship_checkpoint

        try:
            target = ship_checkpoint(Path(args.ship[0]), args.ship[1])
        except (ValueError, FileExistsError) as err:
            print(f"lola-bench: {err}", file=sys.stderr)
            return 2
        print(f"lola-bench: shipped {target}")
        return 0
    if args.list:
        get_suite(DEFAULT_SUITES[0])  # registers the built-in suites
        for suite in SUITES.values():
            print(f"{suite.name:<14} {suite.description}")
        from lola_agents.bench.experiments import list_lines

        print("\nexperiments (lola-bench --experiment NAME):")
        print("\n".join(list_lines()))
        return 0
    suite_names = list(dict.fromkeys(args.suite or DEFAULT_SUITES))
    seeds = list(range(args.seeds)) if args.seeds else args.seed_list  # None: each suite's default
    planned: list[Task] | None = None
    try:
        if args.experiment:
            from lola_agents.bench.experiments import experiment_tasks

            planned = experiment_tasks(list(dict.fromkeys(args.experiment)), args.scale, seeds)
            suite_names = list(dict.fromkeys(t.suite for t in planned))
        for name in suite_names:
            get_suite(name)
    except (KeyError, ValueError) as err:
        print(f"lola-bench: {err.args[0]}", file=sys.stderr)
        return 2
    out = args.out or Path("runs") / f"bench-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    lock = open_run_folder(out, args.resume, args.overwrite)
    try:
        return run(args, argv, suite_names, seeds, out, planned)
    except OutputWriteError as err:
        print(err, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"lola-bench: interrupted; finished tasks are saved in {out}: "
            "run the same command with --resume to finish",
            file=sys.stderr,
        )
        return 130
    finally:
        lock.release()


def run(
    args: argparse.Namespace,
    argv: list[str] | None,
    suite_names: list[str],
    seeds: list[int] | None,
    out: Path,
    planned: list[Task] | None = None,
) -> int:
    """Run the tasks of ``suite_names`` (or the ``planned`` tasks of experiments) not yet
    finished in ``out``, then write the summary."""
    tasks = finish_tasks(planned) if planned is not None else build_tasks(suite_names, args.scale, seeds)
    results: list[dict[str, Any]] = []
    todo = []
    for task in tasks:
        earlier = load_finished(out, task) if args.resume else None
        if earlier is None:
            todo.append(task)
            continue
        results.append(earlier)
        if not log_dir(out, task).exists():
            write_task_logs(out, earlier)  # runs of older versions had no logs
    workers = args.workers or default_workers(todo, args.scale)
    if args.backend == "local":
        where = f"{min(workers, max(len(todo), 1))} local worker(s)"
    else:
        where = f"Ray ({args.address or 'local'})"
    print(
        f"lola-bench: {len(todo)} tasks to run ({len(results)} kept from an earlier run) "
        f"on {where}; results in {out}",
        flush=True,
    )

    start = time.perf_counter()
    costs = {Task(**task).key: estimated_cost(task) for task in todo}
    with RunProgress(len(todo), len(results), costs=costs) as progress:

        def on_result(result: dict[str, Any]) -> None:
            save_result(out, result)
            results.append(result)
            progress.task_done(result)

        try:
            # Phase-2 tasks (e.g. the coin league) play what phase-1 tasks trained: the backend
            # starts them after those.
            run_tasks(
                todo,
                on_result,
                args.backend,
                workers,
                args.address,
                run_dir=str(out.resolve()),
                on_progress=progress.task_progress,
            )
        except OutputWriteError:
            raise
        except Exception as err:
            free = free_bytes(out)
            if free is not None and free < DISK_NEARLY_FULL_BYTES:
                raise OutputWriteError(write_error_message(out, "a task's checkpoint", err)) from err
            raise
    wall = time.perf_counter() - start

    order = {task_id(task): i for i, task in enumerate(tasks)}
    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "package_version": package_version(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": ["lola-bench", *(argv if argv is not None else sys.argv[1:])],
        "scale": args.scale,
        "backend": args.backend,
        "seeds": seeds if seeds is not None else "each suite's default for the scale",
        "suites": suite_names,
        **({"experiments": list(dict.fromkeys(args.experiment))} if args.experiment else {}),
        "machine": machine_info(),
        "wall_time_s": wall,
        "groups": merge_groups(sorted(results, key=lambda r: order[task_id(r["task"])])),
    }
    try:
        if not args.no_figures:
            summary["figures"] = write_figures(summary, out)
        write_json_atomic(out / "summary.json", summary)
        report = markdown_report(summary)
        atomic_write_text(out / "report.md", report)
    except OSError as err:
        raise OutputWriteError(write_error_message(out, "the summary, report or figures", err)) from err
    print(report)
    print(f"lola-bench: wrote {out}/report.md, summary.json, runs/, logs/ and figures/ in {wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
