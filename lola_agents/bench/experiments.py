"""Named experiment configs: ``lola-bench --experiment NAME``.

Every study of the package is a TOML table in ``lola_agents/bench/experiments/*.toml``
(shipped with the package), so its settings live in one readable place instead of in
result-file names. ``lola-bench --list`` shows them. A config::

    [coin-aa-aa]                           # the experiment's name
    suite = "coin_pair"                    # the lola-bench suite that runs it
    description = "AdAlign self-play"      # one line for --list and the report
    game = "coin_game_v0"                  # env id (exact suite: ipd_v0, imp_v0 or tandem)
    learners = ["aa", "aa"]                # seat 0, seat 1
    seeds = [0, 1, 2, 3, 4]
    recorded = "benchmarks/results/coin/records.jsonl"   # optional: where its results are kept

    [coin-aa-aa.settings]                  # the suite's settings: budget, preset, overrides ...
    preset = "fast"
    updates = 250
    num_envs = 1024

Instead of ``game`` and ``learners`` a config may give ``games = [...]`` and
``pairs = [[a, b], ...]``: one report row per game and pairing. Each (game, pairing)
becomes one task per seed, or one task for all seeds where the suite batches seeds
(``exact``, ``head_to_head``).

At ``--scale tiny`` the budget shrinks (:data:`TINY_SETTINGS`) and one seed runs, to
check a config end to end in seconds; any other scale runs the config as written.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lola_agents.bench.core import Task, get_suite

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_DIR = Path(__file__).resolve().parent / "experiments"
BATCHED_SUITES = ("exact", "head_to_head")  # suites whose run() takes many seeds at once
# Budget of each suite at --scale tiny (merged into the config's settings; tables merge too).
TINY_SETTINGS: dict[str, dict[str, Any]] = {
    "exact": {"updates": 3},
    "head_to_head": {"episodes": 4, "exact_updates": 3},
    "sampled_ipd": {"updates": 2, "num_envs": 16, "eval_episodes": 4},
    "coin": {"updates": 1, "num_envs": 8, "eval_episodes": 4, "ppo_game_steps": 800},
    "coin_pair": {"updates": 1, "num_envs": 8, "eval_episodes": 4},
    "coin_cross_play": {"updates": 1, "num_envs": 8, "eval_episodes": 4},
    "coin_reference": {"eval_episodes": 4},
    "loqa": {"updates": 1, "num_envs": 16, "eval_episodes": 4, "eval_blocks": 2, "eval_max_cycles": [10]},
    "ppo_baselines": {
        "updates": 1,
        "num_envs": 2,
        "eval_episodes": 2,
        "ppo_config": {"batch_size": 60},
    },
}
KNOWN_KEYS = {
    "suite",
    "description",
    "game",
    "games",
    "learners",
    "pairs",
    "seeds",
    "settings",
    "recorded",
}


@dataclass(frozen=True)
class Experiment:
    """One named config (see the module docstring for the TOML fields)."""

    name: str
    suite: str
    description: str
    games: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    seeds: tuple[int, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    recorded: str | None = None
    source: str = ""

    def tasks(self, scale: str = "quick", seeds: list[int] | None = None) -> list[Task]:
        """The tasks of this experiment (``scale="tiny"``: one seed, :data:`TINY_SETTINGS`)."""
        settings = dict(self.settings)
        run_seeds = list(seeds) if seeds else list(self.seeds)
        if scale == "tiny":
            settings = _merge(settings, TINY_SETTINGS.get(self.suite, {}))
            run_seeds = run_seeds[:1]
        many = len(self.games) * len(self.pairs) > 1
        tasks = []
        for game in self.games:
            for a, b in self.pairs:
                label = f"{game}: {a} vs {b}" if len(self.games) > 1 else f"{a} vs {b}"
                group = f"{self.name}: {label}" if many else self.name
                chunks = [run_seeds] if self.suite in BATCHED_SUITES else [[s] for s in run_seeds]
                tasks += [
                    Task(self.suite, group, game, [a, b], chunk, settings) for chunk in chunks
                ]
        return tasks


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_experiment(name: str, table: dict[str, Any], source: str = "") -> Experiment:
    """Check one TOML table and turn it into an :class:`Experiment` (clear errors on bad input)."""
    where = f"experiment {name!r}" + (f" in {source}" if source else "")
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; allowed: {sorted(KNOWN_KEYS)}")
    for key in ("suite", "seeds"):
        if key not in table:
            raise ValueError(f"{where}: missing {key!r}")
    get_suite(table["suite"])  # KeyError names the known suites
    if ("game" in table) == ("games" in table):
        raise ValueError(f"{where}: give exactly one of 'game' and 'games'")
    if ("learners" in table) == ("pairs" in table):
        raise ValueError(f"{where}: give exactly one of 'learners' and 'pairs'")
    games = (table["game"],) if "game" in table else tuple(table["games"])
    pairs = [table["learners"]] if "learners" in table else table["pairs"]
    for pair in pairs:
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        ):
            raise ValueError(f"{where}: a pairing is two agent names, got {pair!r}")
    seeds = table["seeds"]
    if not (
        isinstance(seeds, list) and seeds and all(isinstance(s, int) and s >= 0 for s in seeds)
    ):
        raise ValueError(
            f"{where}: 'seeds' must be a non-empty list of integers >= 0, got {seeds!r}"
        )
    settings = table.get("settings", {})
    if not isinstance(settings, dict):
        raise ValueError(f"{where}: 'settings' must be a table, got {settings!r}")
    return Experiment(
        name=name,
        suite=table["suite"],
        description=str(table.get("description", "")),
        games=games,
        pairs=tuple((a, b) for a, b in pairs),
        seeds=tuple(seeds),
        settings=settings,
        recorded=table.get("recorded"),
        source=source,
    )


def load_experiments(config_dir: Path = CONFIG_DIR) -> dict[str, Experiment]:
    """Every experiment of every ``*.toml`` file in ``config_dir``, by name (names are unique)."""
    found: dict[str, Experiment] = {}
    for path in sorted(config_dir.glob("*.toml")):
        with path.open("rb") as handle:
            tables = tomllib.load(handle)
        for name, table in tables.items():
            if name in found:
                raise ValueError(
                    f"experiment {name!r} is defined in {found[name].source} and {path.name}"
                )
            found[name] = parse_experiment(name, table, path.name)
    return found


def get_experiment(name: str) -> Experiment:
    """The experiment config ``name`` (KeyError listing the known names otherwise)."""
    known = load_experiments()
    if name not in known:
        raise KeyError(
            f"unknown experiment {name!r}; `lola-bench --list` shows the {len(known)} known ones"
        )
    return known[name]


def list_lines() -> list[str]:
    """``--list`` lines of the experiments: name, suite, seeds, description."""
    return [
        f"{e.name:<44} {e.suite:<14} seeds {list(e.seeds)}  {e.description}"
        for e in load_experiments().values()
    ]


def experiment_tasks(names: list[str], scale: str, seeds: list[int] | None = None) -> list[Task]:
    """The tasks of the named experiments, in order (``seeds``: override the configs' seeds)."""
    return [task for name in names for task in get_experiment(name).tasks(scale, seeds)]


SHIPPED_DIR = Path(__file__).resolve().parent.parent / "checkpoints" / "coin"


def ship_checkpoint(source: Path, name: str, shipped_dir: Path = SHIPPED_DIR) -> Path:
    """Copy a trained pair saved by a lola-bench run into the package's shipped agents.

    ``source`` is a task's checkpoint folder (``<out>/checkpoints/<suite>/<task key>``,
    holding ``player_0``, ``player_1`` and ``env_options.json``); it becomes
    ``shipped_dir/<name>`` with a ``source.json`` naming the run and its command.
    Both agents are loaded first (a broken folder is refused); an existing name is never
    overwritten. Returns the new folder.
    """
    import shutil

    from lola_agents.agents import load_agent

    source = Path(source)
    missing = [p for p in ("player_0", "player_1", "env_options.json") if not (source / p).exists()]
    if missing:
        raise ValueError(f"{source} is not a trained pair's checkpoint folder: missing {missing}")
    for seat in (0, 1):
        load_agent(str(source / f"player_{seat}"))
    target = shipped_dir / name
    if target.exists():
        raise FileExistsError(f"{target} exists; choose another name or remove it first")
    shutil.copytree(source, target)
    summary_file = source.parents[2] / "summary.json" if len(source.parents) > 2 else None
    command = None
    if summary_file is not None and summary_file.is_file():
        command = " ".join(json.loads(summary_file.read_text()).get("command", []))
    provenance = {"run": str(source), "task": source.name, "command": command}
    (target / "source.json").write_text(json.dumps(provenance, indent=1))
    return target
