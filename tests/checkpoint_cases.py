"""The table of corrupt and mismatched checkpoints (tests/test_checkpoint.py runs it).

Each case copies a valid checkpoint, damages it, loads it through the public entry
points (``load_agent`` for agent folders, ``train(resume=True)`` for a trainer
checkpoint) and, if that succeeds, plays a step. The outcome is

* ``clear``: a ValueError naming the damaged file;
* ``vague``: a ValueError that does not name it;
* ``traceback``: any other exception (at load or during play);
* ``silent``: loaded and played.

Only public APIs that predate lola_agents.checkpoint are used, so the same table
measures older code too (``python tests/checkpoint_cases.py``).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

SMALL = {"num_envs": 8, "steps_per_update": 10, "progress": False}
COIN_OPTIONS = {"max_cycles": 10}


class _Evil:
    def __reduce__(self):
        return (print, ("pickled code ran",))


@dataclass
class Case:
    name: str
    base: str  # key of the valid checkpoint it damages (see build_bases)
    damage: Callable[[Path], None]
    file: str  # the file the error must name, relative to the case folder


# --------------------------------------------------------------------------- bases
def _trainer_pair() -> list[Any]:
    from lola_agents.fixed import AlwaysCooperate
    from lola_agents.pg import NaivePGAgent

    return [NaivePGAgent(seed=1), AlwaysCooperate(seed=2)]


def build_bases(root: Path) -> dict[str, Path]:
    """Valid checkpoints: agent folders of each kind and a trainer run folder."""
    from lola_agents.coin_lola import CoinLOLAAgent
    from lola_agents.dice import LOLADiCEAgent
    from lola_agents.fixed import GreedyCoinAgent, Memory1Agent
    from lola_agents.pg import NaivePGAgent
    from lola_agents.ppo import PPOAgent, PPOConfig
    from lola_agents.trainer import train

    bases = {name: root / name for name in ("nl", "dice", "coin", "greedy", "memory1", "ppo", "run")}
    nl = train("ipd_v0", NaivePGAgent(seed=1), NaivePGAgent(seed=2), updates=1, seed=0, **SMALL).agents[0]
    nl.save(bases["nl"])
    LOLADiCEAgent(seed=7, lookahead=2, sim_envs=16).save(bases["dice"])
    coin = [CoinLOLAAgent(network="mlp", mlp_hidden=(8,), optimizer="adam", critic_optimizer="adam",
                          method="naive", seed=s) for s in (0, 1)]
    train("coin_game_v0", *coin, updates=1, seed=0, env_options=COIN_OPTIONS, **SMALL)
    coin[0].save(bases["coin"])
    GreedyCoinAgent(seed=1).save(bases["greedy"])
    Memory1Agent([0.9, 0.1, 0.8, 0.2, 1.0], seed=1).save(bases["memory1"])
    PPOAgent.for_env("coin_game_v0", 4, PPOConfig(n_steps=10, batch_size=20, net_arch=[8])).save(bases["ppo"])
    train("ipd_v0", *_trainer_pair(), updates=2, seed=0, log_dir=bases["run"], checkpoint_every=1, **SMALL)
    # An agent folder outside the run folder, for the path-escape cases.
    shutil.copytree(bases["nl"], root.parent / "evil")
    return bases


# --------------------------------------------------------------------------- damage helpers
def _write(name: str, data: bytes | str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        target = folder / name
        target.write_bytes(data) if isinstance(data, bytes) else target.write_text(data)
    return damage


def _truncate(name: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2])
    return damage


def _as_directory(name: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()
    return damage


def _remove(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


def _edit_torch(name: str, edit: Callable[[Any, Path], Any]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        state = torch.load(folder / name, weights_only=True)
        state = edit(state, folder) or state
        torch.save(state, folder / name)
    return damage


def _edit_json(edit: Callable[[dict], Any]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        payload = json.loads((folder / "config.json").read_text())
        payload = edit(payload) or payload
        (folder / "config.json").write_text(json.dumps(payload))
    return damage


def _set(path: list[Any], value: Any) -> Callable[[Any, Path], None]:
    def edit(state: Any, folder: Path) -> None:
        for key in path[:-1]:
            state = state[key]
        state[path[-1]] = value(state[path[-1]]) if callable(value) else value
    return edit


def _delete(path: list[Any]) -> Callable[[Any, Path], None]:
    def edit(state: Any, folder: Path) -> None:
        for key in path[:-1]:
            state = state[key]
        del state[path[-1]]
    return edit


def _first_param(key: str) -> Callable[[Any, Path], None]:
    """Replace the first tensor of the PPO policy state with a wrong-shaped one."""
    def edit(state: Any, folder: Path) -> None:
        first = next(iter(state[key]))
        state[key][first] = torch.zeros(3, 3)
    return edit


def _nan_first(key: str) -> Callable[[Any, Path], None]:
    def edit(state: Any, folder: Path) -> None:
        first = next(iter(state[key]))
        state[key][first] = torch.full_like(state[key][first], float("nan"))
    return edit


def _config(key: str, value: Any) -> Callable[[dict], None]:
    def edit(payload: dict) -> None:
        if value is _DELETE:
            del payload["config"][key]
        else:
            payload["config"][key] = value
    return edit


_DELETE = object()
STATE = "state.pt"
CONFIG = "config.json"
CKPT = "checkpoint.pt"


def _agents_entry(index: int, value: Any) -> Callable[[Any, Path], None]:
    def edit(payload: Any, folder: Path) -> None:
        payload["agents"][index] = value(folder) if callable(value) else value
    return edit


CASES: list[Case] = [
    # --- a learner's state.pt (NL-PG after one update)
    Case("state.pt garbage (UnpicklingError)", "nl", _write(STATE, b"\x80\x04garbage"), STATE),
    Case("state.pt truncated", "nl", _truncate(STATE), STATE),
    Case("state.pt empty", "nl", _write(STATE, b""), STATE),
    Case("state.pt is a directory", "nl", _as_directory(STATE), STATE),
    Case("state.pt missing", "nl", _remove(STATE), STATE),
    Case("state.pt holds pickled code", "nl", lambda f: torch.save({"x": _Evil()}, f / STATE), STATE),
    Case("state.pt not a dict", "nl", lambda f: torch.save(torch.zeros(3), f / STATE), STATE),
    Case("extra state key", "nl", _edit_torch(STATE, _set(["extra"], torch.zeros(2))), STATE),
    Case("missing state key", "nl", _edit_torch(STATE, _delete(["critic"])), STATE),
    Case("tensor size mismatch", "nl", _edit_torch(STATE, _set(["policy", "logits"], torch.zeros(6))), STATE),
    Case("int weights", "nl", _edit_torch(STATE, _set(["policy", "logits"], lambda t: t.long())), STATE),
    Case("float64 weights", "nl", _edit_torch(STATE, _set(["policy", "logits"], lambda t: t.double())), STATE),
    Case("NaN weights", "nl", _edit_torch(STATE, _set(["policy", "logits"], lambda t: t * float("nan"))), STATE),
    Case("inf critic", "nl", _edit_torch(STATE, _set(["critic", "values"], lambda t: t + float("inf"))), STATE),
    Case("counter of the wrong type", "nl", _edit_torch(STATE, _set(["updates"], "7")), STATE),
    Case("generator state garbage", "nl", _edit_torch(STATE, _set(["rng"], "not json")), STATE),
    Case("optimiser with an extra group", "nl",
         _edit_torch(STATE, _set(["policy_optimizer", "param_groups"], lambda g: g + g)), STATE),
    Case("LOLA-DiCE state under an NL-PG config", "nl",
         lambda f: shutil.copy(f.parent / "_bases" / "dice" / STATE, f / STATE), STATE),
    # --- config.json of a learner
    Case("config.json invalid JSON", "nl", _write(CONFIG, "{not json"), CONFIG),
    Case("config.json empty", "nl", _write(CONFIG, ""), CONFIG),
    Case("config.json a list", "nl", _write(CONFIG, "[]"), CONFIG),
    Case("config.json is a directory", "nl", _as_directory(CONFIG), CONFIG),
    Case('"config": null', "nl", _edit_json(lambda p: {**p, "config": None}), CONFIG),
    Case('unknown "class"', "nl", _edit_json(lambda p: {**p, "class": "Nope"}), CONFIG),
    Case('"class" missing', "nl", _edit_json(lambda p: {"config": p["config"]}), CONFIG),
    Case('"class" not a string', "nl", _edit_json(lambda p: {**p, "class": 5}), CONFIG),
    Case("extra top-level key", "nl", _edit_json(lambda p: {**p, "extra": 1}), CONFIG),
    Case("extra config key", "nl", _edit_json(_config("momentum", 0.9)), CONFIG),
    Case("missing config key", "nl", _edit_json(_config("lr", _DELETE)), CONFIG),
    Case("config value of the wrong type", "nl", _edit_json(_config("lr", "fast")), CONFIG),
    Case("NaN in the config", "nl", _edit_json(_config("lr", float("nan"))), CONFIG),
    Case("config of another class (LOLA-DiCE config)", "nl",
         lambda f: shutil.copy(f.parent / "_bases" / "dice" / CONFIG, f / CONFIG), STATE),
    # --- a network learner with Adam (coin game)
    Case("Adam moment of the wrong shape", "coin",
         _edit_torch(STATE, _set(["policy_optimizer", "state", 0, "exp_avg"], torch.zeros(2, 2))), STATE),
    Case("Adam moment NaN", "coin",
         _edit_torch(STATE, _set(["policy_optimizer", "state", 0, "exp_avg"], lambda t: t * float("nan"))), STATE),
    Case("network width differs from the weights", "coin", _edit_json(_config("mlp_hidden", [16])), STATE),
    Case("torch generator state garbage", "coin", _edit_torch(STATE, _set(["generator"], torch.zeros(10, dtype=torch.uint8))), STATE),
    Case("acting parameters missing a tensor", "coin",
         _edit_torch(STATE, lambda s, f: [s["acting_params"].popitem(), None][1]), STATE),
    # --- fixed strategies
    Case("unknown keyword for a fixed agent", "greedy", _edit_json(_config("speed", 2)), CONFIG),
    Case("missing keyword for a fixed agent", "greedy", _edit_json(_config("egocentric", _DELETE)), CONFIG),
    Case("bad seat for a fixed agent", "greedy", _edit_json(_config("player_index", 7)), CONFIG),
    Case('fixed agent "config": null', "greedy", _edit_json(lambda p: {**p, "config": None}), CONFIG),
    Case("memory-1 table with NaN", "memory1", _edit_json(_config("p_action0", [float("nan")] * 5)), CONFIG),
    Case("memory-1 table of 3 entries", "memory1", _edit_json(_config("p_action0", [0.5] * 3)), CONFIG),
    # --- the SB3 PPO adapter (policy.pt)
    Case("PPO policy.pt truncated", "ppo", _truncate("policy.pt"), "policy.pt"),
    Case("PPO tensor size mismatch", "ppo", _edit_torch("policy.pt", _first_param("policy")), "policy.pt"),
    Case("PPO NaN weights", "ppo", _edit_torch("policy.pt", _nan_first("policy")), "policy.pt"),
    Case("PPO extra config key", "ppo",
         _edit_json(lambda p: p["config"]["ppo_config"].update(momentum=0.9)), CONFIG),
    Case("PPO missing config key", "ppo", _edit_json(_config("num_envs", _DELETE)), CONFIG),
    # --- a trainer checkpoint.pt (NL-PG vs AllC after 2 updates), resumed to 3
    Case("checkpoint.pt truncated", "run", _truncate(CKPT), CKPT),
    Case("checkpoint.pt empty", "run", _write(CKPT, b""), CKPT),
    Case("checkpoint.pt garbage", "run", _write(CKPT, b"\x80\x04garbage"), CKPT),
    Case("checkpoint.pt is a directory", "run", _as_directory(CKPT), CKPT),
    Case("checkpoint.pt holds pickled code", "run", lambda f: torch.save({"x": _Evil()}, f / CKPT), CKPT),
    Case("checkpoint format missing", "run", _edit_torch(CKPT, _delete(["format"])), CKPT),
    Case("checkpoint extra key", "run", _edit_torch(CKPT, _set(["extra"], 1)), CKPT),
    Case("checkpoint tensor size mismatch", "run",
         _edit_torch(CKPT, _set(["agents", 0, "state", "policy", "logits"], torch.zeros(6))), CKPT),
    Case("checkpoint NaN weights", "run",
         _edit_torch(CKPT, _set(["agents", 0, "state", "policy", "logits"], lambda t: t * float("nan"))), CKPT),
    Case("checkpoint int weights", "run",
         _edit_torch(CKPT, _set(["agents", 0, "state", "policy", "logits"], lambda t: t.long())), CKPT),
    Case("checkpoint extra state key", "run", _edit_torch(CKPT, _set(["agents", 0, "state", "extra"], 1)), CKPT),
    Case("checkpoint LOLA-DiCE state for NL-PG", "run",
         _edit_torch(CKPT, _set(["agents", 0, "state"],
                                lambda s: __import__("lola_agents.dice", fromlist=["x"]).LOLADiCEAgent(seed=1).state_dict())), CKPT),
    Case("checkpoint agent kind unknown", "run", _edit_torch(CKPT, _agents_entry(0, {"kind": "magic"})), CKPT),
    Case("checkpoint agent path ../x", "run",
         _edit_torch(CKPT, _agents_entry(0, {"kind": "directory", "path": "../evil"})), CKPT),
    Case("checkpoint agent path absolute", "run",
         _edit_torch(CKPT, _agents_entry(0, lambda f: {"kind": "directory", "path": str((f.parent / "evil").resolve())})), CKPT),
    Case("checkpoint fixed agent's generator garbage", "run", _edit_torch(CKPT, _agents_entry(1, {"kind": "rng", "rng": "nope"})), CKPT),
    Case("checkpoint torch generator of the wrong size", "run",
         _edit_torch(CKPT, _set(["torch_rng"], torch.zeros(10, dtype=torch.uint8))), CKPT),
    Case("checkpoint env generator garbage", "run", _edit_torch(CKPT, _set(["env_rng"], "nope")), CKPT),
    Case("checkpoint settings not JSON", "run", _edit_torch(CKPT, _set(["settings"], "{nope")), CKPT),
    Case("checkpoint history not JSON", "run", _edit_torch(CKPT, _set(["history"], "{nope")), CKPT),
    Case("checkpoint history shorter than its update count", "run",
         _edit_torch(CKPT, _set(["history"], lambda h: json.dumps(json.loads(h)[:1]))), CKPT),
    Case("checkpoint update counter a string", "run", _edit_torch(CKPT, _set(["update"], "2")), CKPT),
    Case("checkpoint with one agent", "run", _edit_torch(CKPT, _set(["agents"], lambda a: a[:1])), CKPT),
]


# --------------------------------------------------------------------------- running
def _play(agent: Any, base: str) -> None:
    import coin_game_env
    from lola_agents.fixed import RandomCoinAgent, RandomMatrixAgent
    from lola_agents.rollout import collect

    if base in ("nl", "dice", "memory1"):
        venv, other = coin_game_env.make_vec("ipd_v0", 2, seed=0), RandomMatrixAgent(seed=0)
    else:
        venv, other = coin_game_env.make_vec("coin_game_v0", 2, seed=0, **COIN_OPTIONS), RandomCoinAgent(seed=0)
    collect(venv, [agent, other], steps=2)


def run_case(case: Case, root: Path, bases: dict[str, Path]) -> tuple[str, str]:
    """Damage a copy of ``case.base`` under ``root`` and try it: (outcome, message)."""
    folder = root / case.name.replace("/", "_").replace(" ", "_").replace('"', "")
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(bases[case.base], folder)
    case.damage(folder)
    try:
        if case.base == "run":
            from lola_agents.trainer import train

            train("ipd_v0", *_trainer_pair(), updates=3, seed=0, log_dir=folder, checkpoint_every=1,
                  resume=True, **SMALL)
        else:
            from lola_agents.agents import load_agent

            _play(load_agent(str(folder)), case.base)
    except ValueError as err:
        named = str(folder / case.file) in str(err)
        return ("clear" if named else "vague"), str(err)
    except Exception as err:  # noqa: BLE001 - the point is to count them
        return "traceback", f"{type(err).__name__}: {err}"
    return "silent", ""


def run_table(root: Path) -> list[tuple[Case, str, str]]:
    bases = build_bases(root / "_bases")
    return [(case, *run_case(case, root, bases)) for case in CASES]


if __name__ == "__main__":  # python tests/checkpoint_cases.py [folder]
    import tempfile

    torch.set_num_threads(1)
    np.seterr(all="ignore")
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_table(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tmp))
        for case, outcome, message in rows:
            print(f"{outcome:9s} {case.name:48s} {message[:150]}")
        counts = Counter(outcome for _, outcome, _ in rows)
        print(f"cases {len(rows)}: " + ", ".join(f"{k} {counts[k]}" for k in ("clear", "vague", "traceback", "silent")))
