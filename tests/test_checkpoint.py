"""Checkpoint safety: the corruption table, paths inside run folders, pruning of old agent
folders, determinism at 2 threads, and the registries of agent classes and names."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from checkpoint_cases import CASES, Case, build_bases, run_case

import lola_agents
from lola_agents import checkpoint
from lola_agents.agents import AGENTS, ALIASES, COIN_GAMES, MATRIX_GAMES, load_agent, make_agent
from lola_agents.checkpoint import (
    ABSTRACT_AGENT_CLASSES,
    AGENT_CLASSES,
    CheckpointError,
    agent_class,
    inside,
    prune_agent_folders,
    register_agent_class,
)
from lola_agents.fixed import RandomCoinAgent, RandomMatrixAgent
from lola_agents.pg import LOLAPGAgent
from lola_agents.rollout import BaseAgent, collect
from lola_agents.trainer import train

SHIPPED = Path(lola_agents.__file__).parent / "checkpoints"


# --------------------------------------------------------------------------- the corruption table
@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("cases")
    return root, build_bases(root / "_bases")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_corrupt_checkpoint_gives_a_value_error_naming_the_file(case: Case, bases) -> None:
    root, folders = bases
    outcome, message = run_case(case, root, folders)
    assert outcome == "clear", f"{case.name}: {outcome} {message}"


@pytest.mark.parametrize("base", ["nl", "dice", "coin", "greedy", "memory1", "ppo", "run"])
def test_the_undamaged_checkpoints_load_and_play(base: str, bases) -> None:
    """The table's harness reports a silent success for an intact checkpoint, so each
    'clear' above comes from the damage, not from the harness."""
    root, folders = bases
    assert run_case(Case(f"intact {base}", base, lambda folder: None, "config.json"), root, folders)[0] == "silent"


def test_lola_watch_reports_a_corrupt_checkpoint_without_a_traceback(tmp_path: Path, capsys) -> None:
    from lola_agents.watch import main

    folder = tmp_path / "agent"
    LOLAPGAgent(seed=0).save(folder)
    (folder / "state.pt").write_bytes(b"")
    assert main(["--agent-0", str(folder), "--agent-1", "greedy", "--episodes", "0"]) == 2
    assert f"{folder / 'state.pt'}: empty file" in capsys.readouterr().err


# --------------------------------------------------------------------------- trainer checkpoints
def test_agent_folders_must_stay_inside_the_run_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "agent0_update3").mkdir(parents=True)
    assert inside(run, "agent0_update3", run / "checkpoint.pt") == run / "agent0_update3"
    (tmp_path / "elsewhere").mkdir()
    (run / "link").symlink_to(tmp_path / "elsewhere")
    for bad in ("../x", "agent0_update3/../../x", str(tmp_path / "elsewhere"), "/etc", "link", "", None):
        with pytest.raises(ValueError, match=f"{run / 'checkpoint.pt'}"):
            inside(run, bad, run / "checkpoint.pt")


class FolderOnlyAgent(BaseAgent):
    """A learner checkpointed only through save/load (as the SB3 adapter is): counts its updates."""

    def __init__(self, seed: int = 0, updates: int = 0) -> None:
        self.seed, self.updates = seed, updates
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray, state: Any, episode_starts: np.ndarray):
        return self.rng.integers(0, 2, len(obs)), np.full(len(obs), np.log(0.5), dtype=np.float32), state

    def learn(self, batch, opponent_batch) -> dict[str, float]:
        self.updates += 1
        return {"updates": float(self.updates)}

    def config(self) -> dict[str, Any]:
        return {"seed": self.seed, "updates": self.updates}


def test_old_agent_folders_are_pruned_to_the_newest_k_and_resume_works(tmp_path: Path) -> None:
    register_agent_class(FolderOnlyAgent)
    small = {"num_envs": 4, "steps_per_update": 5, "progress": False}
    train("ipd_v0", FolderOnlyAgent(0), FolderOnlyAgent(1), updates=5, seed=0, log_dir=tmp_path,
          checkpoint_every=1, keep_agent_folders=2, **small)
    folders = sorted(p.name for p in tmp_path.iterdir() if p.is_dir() and p.name.startswith("agent"))
    assert folders == ["agent0_update4", "agent0_update5", "agent1_update4", "agent1_update5"]
    resumed = train("ipd_v0", FolderOnlyAgent(0), FolderOnlyAgent(1), updates=7, seed=0, log_dir=tmp_path,
                    checkpoint_every=1, keep_agent_folders=1, resume=True, **small)
    assert resumed.resumed_from == 5 and [a.updates for a in resumed.agents] == [7, 7]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir() and p.name.startswith("agent")) == ["agent0_update7", "agent1_update7"]
    with pytest.raises(ValueError, match="keep_agent_folders must be an integer >= 1"):
        train("ipd_v0", FolderOnlyAgent(0), FolderOnlyAgent(1), updates=1, keep_agent_folders=0, **small)


def test_pruning_leaves_folders_of_later_updates_and_other_files(tmp_path: Path) -> None:
    for name in ("agent0_update1", "agent0_update2", "agent0_update3", "agent0_update9", "agent1_update1", "notes"):
        (tmp_path / name).mkdir()
    removed = prune_agent_folders(tmp_path, update=3, keep=1)
    assert sorted(p.name for p in removed) == ["agent0_update1", "agent0_update2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent0_update3", "agent0_update9", "agent1_update1", "notes"]


# --------------------------------------------------------------------------- determinism
def test_train_at_two_threads_is_bit_identical_and_restores_torch_settings() -> None:
    # 300 games x 150 steps: above torch's grain size, so two threads share the index backward.
    runs = []
    for _ in range(2):
        before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
        result = train("ipd_v0", LOLAPGAgent(seed=3), LOLAPGAgent(seed=4), updates=3, num_envs=300,
                       seed=3, progress=False, threads=2)
        assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before
        assert result.settings["torch_threads"] == 2
        runs.append(result.history)
    assert runs[0] == runs[1]


def test_index_backward_at_two_threads_is_repeatable_only_in_deterministic_mode() -> None:
    """The cause: the CPU backward of ``table[obs]`` adds with atomics on several threads."""
    from lola_agents.trainer import _pin_torch

    gen = torch.Generator().manual_seed(0)
    obs, weights = torch.randint(0, 5, (150, 1000), generator=gen), torch.randn(150, 1000, generator=gen)

    def distinct_gradients() -> int:
        grads = set()
        for _ in range(8):
            table = torch.zeros(5, requires_grad=True)
            (table[obs] * weights).sum().backward()
            grads.add(tuple(table.grad.tolist()))
        return len(grads)

    restore = _pin_torch(2)
    try:
        assert distinct_gradients() == 1
    finally:
        restore()


def test_resume_at_another_thread_count_warns(tmp_path: Path) -> None:
    small = {"num_envs": 8, "steps_per_update": 5, "progress": False}
    train("ipd_v0", LOLAPGAgent(seed=3), LOLAPGAgent(seed=4), updates=1, log_dir=tmp_path, checkpoint_every=1,
          threads=1, **small)
    with pytest.warns(UserWarning, match="written with 1 torch threads, this run uses 2"):
        train("ipd_v0", LOLAPGAgent(seed=3), LOLAPGAgent(seed=4), updates=2, log_dir=tmp_path, resume=True,
              threads=2, **small)


def test_resume_with_other_hyper_parameters_is_refused_naming_them(tmp_path: Path) -> None:
    small = {"num_envs": 8, "steps_per_update": 5, "progress": False, "threads": 1}
    train("ipd_v0", LOLAPGAgent(seed=3), LOLAPGAgent(seed=4), updates=1, log_dir=tmp_path, checkpoint_every=1,
          **small)
    with pytest.raises(ValueError, match=r"configured differently: seat 1: lr 1\.0 -> 0\.5"):
        train("ipd_v0", LOLAPGAgent(seed=3), LOLAPGAgent(seed=4, lr=0.5), updates=2, log_dir=tmp_path,
              resume=True, **small)
    # a checkpoint written before the configurations were kept still resumes
    payload = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    settings = json.loads(payload["settings"])
    del settings["agent_configs"]
    payload["settings"] = json.dumps(settings)
    torch.save(payload, tmp_path / "checkpoint.pt")
    result = train("ipd_v0", LOLAPGAgent(seed=3), LOLAPGAgent(seed=4), updates=2, log_dir=tmp_path, resume=True,
                   **small)
    assert len(result.history) == 2


# --------------------------------------------------------------------------- class registry
def _package_agent_classes() -> dict[str, type]:
    """Every BaseAgent subclass defined in any module of the package."""
    for module in pkgutil.walk_packages(lola_agents.__path__, "lola_agents."):
        importlib.import_module(module.name)
    found, todo = {}, [BaseAgent]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("lola_agents.") and sub.__name__ not in ABSTRACT_AGENT_CLASSES:
                found[sub.__name__] = sub
    return found


def test_the_class_registry_lists_every_agent_class_of_the_package() -> None:
    found = _package_agent_classes()
    assert sorted(found) == sorted(AGENT_CLASSES)
    for name, cls in found.items():
        assert agent_class(name) is cls
        assert not inspect.isabstract(cls)


def _one_of_each(folder: Path) -> dict[str, Path]:
    """Save one agent of every registered class (built through the name registry where it can be)."""
    from lola_agents.fixed import Memory1Agent
    from lola_agents.learners.lola import LOLAAgent, LOLAConfig
    from lola_agents.learners.loqa import LOQAPolicy
    from lola_agents.pg import FixedTabularAgent

    agents = {
        "Memory1Agent": Memory1Agent([0.5] * 5),
        "FixedTabularAgent": FixedTabularAgent(torch.zeros(5)),
        "CoinLOLAAgent": make_agent("LOLA-DiCE", "coin_game_v0", seed=1),
        "LOQAAgent": make_agent("LOQA", "coin_game_v0", seed=1),
        "LOQAPolicy": LOQAPolicy.of(make_agent("LOQA", "coin_game_v0", seed=1)),
        "LOLAAgent": LOLAAgent(LOLAConfig(method="lola_pg", network="tabular", num_actions=2), seed=1),
        "PPOAgent": make_agent("IPPO", "ipd_v0", seed=1, num_envs=2, n_steps=4, batch_size=8),
    }
    for entry in AGENTS.values():
        if entry.games[0] in MATRIX_GAMES and entry.name != "IPPO":
            agent = make_agent(entry.name, entry.games[0], seed=1)
            agents.setdefault(type(agent).__name__, agent)
    for entry in AGENTS.values():
        if entry.kind == "fixed":
            agent = make_agent(entry.name, seed=1)
            agents.setdefault(type(agent).__name__, agent)
    assert sorted(agents) == sorted(AGENT_CLASSES)
    paths = {}
    for name, agent in agents.items():
        agent.save(folder / name)
        paths[name] = folder / name
    return paths


def test_load_agent_finds_every_class_in_a_fresh_interpreter(tmp_path: Path) -> None:
    paths = _one_of_each(tmp_path)
    script = (
        "import json, sys\n"
        "from lola_agents.agents import load_agent\n"
        "print(json.dumps({name: type(load_agent(path)).__name__ for name, path in json.loads(sys.argv[1]).items()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, json.dumps({k: str(v) for k, v in paths.items()})],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent,
                         env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == {name: name for name in AGENT_CLASSES}


def _shipped_folders() -> list[Path]:
    return sorted(p for p in SHIPPED.rglob("player_*") if (p / "config.json").is_file())


def test_shipped_checkpoints_exist() -> None:
    assert len(_shipped_folders()) >= 10


@pytest.mark.parametrize("folder", _shipped_folders(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_checkpoint_loads_and_plays_a_step(folder: Path) -> None:
    import coin_game_env

    agent = load_agent(str(folder))
    options = json.loads((folder.parent / "env_options.json").read_text())
    seat = int(folder.name.split("_")[1])
    venv = coin_game_env.make_vec("coin_game_v0", 2, seed=0, **options)
    players = [RandomCoinAgent(seed=0), RandomCoinAgent(seed=1)]
    players[seat] = agent
    batches = collect(venv, players, steps=3)
    assert torch.isfinite(batches[seat].log_probs).all() and (batches[seat].log_probs <= 0).all()


def test_missing_keys_are_filled_only_from_the_table_of_added_keys(tmp_path: Path) -> None:
    """An old checkpoint without a key listed in ADDED_CONFIG_KEYS loads with the listed value;
    without any other key it is refused."""
    agent = make_agent("AdAlign", "coin_game_v0", seed=0)
    agent.save(tmp_path / "a")
    payload = json.loads((tmp_path / "a" / "config.json").read_text())
    del payload["config"]["alignment_signal"]
    (tmp_path / "a" / "config.json").write_text(json.dumps(payload))
    assert load_agent(str(tmp_path / "a")).cfg.alignment_signal == "advantage"
    del payload["config"]["alignment_beta"]  # listed too; 'lr' is not
    del payload["config"]["lr"]
    (tmp_path / "a" / "config.json").write_text(json.dumps(payload))
    with pytest.raises(CheckpointError, match=r"missing keys \['lr'\]"):
        load_agent(str(tmp_path / "a"))


# --------------------------------------------------------------------------- name registry
def test_every_name_builds_for_its_games() -> None:
    for entry in AGENTS.values():
        games = {MATRIX_GAMES[0], COIN_GAMES[0]} & set(entry.games)
        for game in sorted(games):
            options = {"num_envs": 2} if entry.name == "IPPO" else {}
            agent = make_agent(entry.name, game, seed=2, **options)
            assert hasattr(agent, "act")
        with pytest.raises(ValueError, match=f"agent {entry.name!r} does not play"):
            make_agent(entry.name, "no_such_game_v0")


def test_aliases_keep_the_old_command_line_names() -> None:
    # lola-watch's documented names, and benchmarks/coin_lola.py's fixed ones.
    assert type(load_agent("random")) is RandomCoinAgent
    assert type(load_agent("random-matrix")) is RandomMatrixAgent
    for old in ("greedy", "own-coin", "tft-coin", "AllC", "AllD", "TFT", "own", "allc", "tft_coin"):
        assert type(load_agent(old)) is type(make_agent(ALIASES.get(old, old)))
    assert set(ALIASES.values()) <= set(AGENTS)
    assert not set(ALIASES) & set(AGENTS)  # one spelling each: no alias shadows a name
    with pytest.raises(ValueError, match="neither a fixed strategy"):
        load_agent("nobody")
    with pytest.raises(ValueError, match="plays .*: say which game"):
        make_agent("IPPO")


def test_no_other_registry_of_fixed_strategy_names() -> None:
    """The old per-module name tables are gone or derived from the one registry."""
    import lola_agents.fixed as fixed
    from lola_agents.bench import studies
    from lola_agents.fixed import GreedyCoinAgent, OwnCoinAgent, RandomCoinAgent

    assert not hasattr(fixed, "FIXED_AGENTS")
    expected = {"greedy": GreedyCoinAgent, "own": OwnCoinAgent, "random": RandomCoinAgent}
    for name in studies.COIN_FIXED_KINDS:  # lola-bench's coin experiments name the registry's agents
        assert type(studies.coin_fixed_agent(name, 0)) is type(make_agent(name)) is expected[name]


def test_the_table_of_added_config_keys_names_real_fields() -> None:
    for name, added in checkpoint.ADDED_CONFIG_KEYS.items():
        cls = agent_class(name)
        assert set(added) <= checkpoint.config_keys(cls), name
        cls.config_class(**added)  # the filled-in values are valid settings


def test_the_benchmark_suites_use_the_registered_spellings() -> None:
    """lola-bench's agent names are registry names (exact-learner policies and the shared-policy
    baseline, which are not agents of their own, excepted)."""
    from lola_agents.bench import suites

    names = {*suites.H2H_AGENTS, *suites.SAMPLED_AGENTS, *suites.COIN_AGENTS, *suites.COIN_LEARNERS}
    not_agents = {name for name in names if name.endswith("-Ex")} | {"shared PPO"}
    assert names - not_agents <= set(AGENTS)
