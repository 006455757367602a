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
in :mod:`lola_agents.bench.report`), ``report.md``, PNG figures and the
trained agents' checkpoints. An existing non-empty folder is never
overwritten silently: pass ``--resume`` to finish an interrupted run (finished
tasks are kept) or ``--overwrite`` to move the old folder aside first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lola_agents.bench.backends import BACKENDS, run_tasks
from lola_agents.bench.core import SCALES, SUITES, Task, get_suite
from lola_agents.bench.report import SCHEMA_VERSION, markdown_report, merge_groups, write_figures

DEFAULT_SUITES = ("exact", "sampled_ipd", "coin", "head_to_head")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` via a temporary file and a rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False))
    os.replace(tmp, path)


def prepare_out_dir(out: Path, resume: bool, overwrite: bool) -> None:
    """Create ``out`` or check how an existing one may be reused; never delete results."""
    if resume and overwrite:
        raise SystemExit("lola-bench: --resume and --overwrite exclude each other; choose one")
    if out.exists() and not out.is_dir():
        raise SystemExit(f"lola-bench: output path {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not resume:
        if not overwrite:
            raise SystemExit(
                f"lola-bench: output folder {out} is not empty; pass --resume to finish that run, "
                "--overwrite to move it aside (it is kept), or choose another --out"
            )
        aside = out.with_name(f"{out.name}.old-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
        out.rename(aside)
        print(f"lola-bench: moved the earlier results to {aside}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise SystemExit(
            f"lola-bench: cannot write to output folder {out}: {err.strerror}"
        ) from err


def build_tasks(
    suites: list[str], scale: str, seeds: list[int] | None, out: Path
) -> list[dict[str, Any]]:
    return finish_tasks(
        [task for name in suites for task in get_suite(name).make_tasks(scale, seeds)], out
    )


def finish_tasks(planned: list[Task], out: Path) -> list[dict[str, Any]]:
    """Give each task its checkpoint folder under ``out``; check keys are unique."""
    tasks: list[dict[str, Any]] = []
    for task in planned:
        task.checkpoint_dir = str(out / "checkpoints" / task.key)
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
        help="tiny (smoke test), quick (default, <= 10 min here), paper",
    )
    parser.add_argument(
        "--seeds", type=int, default=None, help="number of seeds 0..N-1 (default: the scale's)"
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
        "--workers", type=int, default=None, help="local processes (default: CPU count)"
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
    seeds = list(range(args.seeds)) if args.seeds else None  # None: each suite's default
    try:
        if args.experiment:
            from lola_agents.bench.experiments import experiment_tasks

            experiment_names = list(dict.fromkeys(args.experiment))
            planned = experiment_tasks(experiment_names, args.scale, seeds)
            suite_names = list(dict.fromkeys(t.suite for t in planned))
        for name in suite_names:
            get_suite(name)
    except (KeyError, ValueError) as err:
        print(f"lola-bench: {err.args[0]}", file=sys.stderr)
        return 2
    out = args.out or Path("runs") / f"bench-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    prepare_out_dir(out, args.resume, args.overwrite)
    if args.experiment:
        tasks = finish_tasks(planned, out)
    else:
        tasks = build_tasks(suite_names, args.scale, seeds, out)

    results: list[dict[str, Any]] = []
    todo = []
    for task in tasks:
        path = out / "runs" / f"{Task(**task).key}.json"
        if args.resume and path.exists():
            earlier = json.loads(path.read_text())
            if earlier.get("task") == task:
                results.append(earlier)
                continue
        todo.append(task)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    start = time.perf_counter()
    with Progress(
        TextColumn("[bold]lola-bench[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    ) as progress:
        bar = progress.add_task(f"{len(todo)} tasks ({len(results)} kept)", total=len(todo))

        def on_result(result: dict[str, Any]) -> None:
            write_json_atomic(out / "runs" / f"{Task(**result['task']).key}.json", result)
            results.append(result)
            progress.update(bar, advance=1, description=f"done: {result['task']['group']}")

        run_tasks(todo, on_result, args.backend, args.workers, args.address)
    wall = time.perf_counter() - start

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
        "groups": merge_groups(sorted(results, key=lambda r: tasks.index(r["task"]))),
    }
    if not args.no_figures:
        summary["figures"] = write_figures(summary, out)
    write_json_atomic(out / "summary.json", summary)
    report = markdown_report(summary)
    (out / "report.md").write_text(report)
    print(report)
    print(f"lola-bench: wrote {out}/report.md, summary.json, runs/ and figures/ in {wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
