"""The shared trainer: bit-identical reruns, atomic checkpoints, exact resume, safe loading,
non-finite guard, CSV logging."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from lola_agents.dice import LOLADiCEAgent
from lola_agents.opponent_model import LOLAOMAgent
from lola_agents.pg import LOLAPGAgent, NaivePGAgent, NonFiniteUpdateError
from lola_agents.trainer import CHECKPOINT_FILE, CSV_FILE, load_checkpoint, train

SMALL = {"num_envs": 64, "steps_per_update": 20, "progress": False}


def _lola_pair() -> tuple[LOLAPGAgent, LOLAPGAgent]:
    return LOLAPGAgent(seed=3, lr=0.5), LOLAPGAgent(seed=4, lr=0.5)


def _final(result) -> tuple[torch.Tensor, torch.Tensor, list]:
    a, b = result.agents
    return a.policy.logits.detach().clone(), b.policy.logits.detach().clone(), result.history


def test_same_seed_is_bit_identical_and_other_seed_differs():
    first = _final(train("ipd_v0", *_lola_pair(), updates=3, seed=7, **SMALL))
    second = _final(train("ipd_v0", *_lola_pair(), updates=3, seed=7, **SMALL))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert first[2] == second[2]
    a, b = LOLAPGAgent(seed=30, lr=0.5), LOLAPGAgent(seed=40, lr=0.5)
    other = _final(train("ipd_v0", a, b, updates=3, seed=7, **SMALL))
    assert not torch.equal(first[0], other[0])


def _om_pair() -> tuple[LOLAOMAgent, LOLAOMAgent]:
    return LOLAOMAgent(seed=5, lr=0.5), LOLAOMAgent(seed=6, lr=0.5)


def _dice_pair() -> tuple[LOLADiCEAgent, LOLADiCEAgent]:
    return tuple(LOLADiCEAgent(seed=s, lookahead=2, sim_envs=16) for s in (7, 8))


@pytest.mark.parametrize("make_pair", [_lola_pair, _om_pair, _dice_pair], ids=["lola_pg", "lola_om", "dice"])
def test_resume_in_new_objects_matches_uninterrupted_run(tmp_path: Path, make_pair):
    straight = _final(train("ipd_v0", *make_pair(), updates=6, seed=1, **SMALL))
    log_dir = tmp_path / "run"
    train("ipd_v0", *make_pair(), updates=3, seed=1, log_dir=log_dir, checkpoint_every=1, **SMALL)
    # New agent objects, fresh-from-config, as after a restart.
    resumed = train(
        "ipd_v0", *make_pair(), updates=6, seed=1, log_dir=log_dir,
        checkpoint_every=1, resume=True, **SMALL,
    )
    assert resumed.resumed_from == 3
    got = _final(resumed)
    assert torch.equal(got[0], straight[0]) and torch.equal(got[1], straight[1])
    assert got[2] == straight[2]
    rows = (log_dir / CSV_FILE).read_text().strip().splitlines()
    assert len(rows) == 1 + 6  # header + one row per update, none duplicated


KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys, torch
    torch.set_num_threads(1)
    from lola_agents.pg import LOLAPGAgent
    from lola_agents.trainer import train

    def crash(update, row):
        if update == 4:  # checkpoint of update 4 is due at 6: kill mid-way, as a crash would
            os.kill(os.getpid(), signal.SIGKILL)

    train("ipd_v0", LOLAPGAgent(seed=3, lr=0.5), LOLAPGAgent(seed=4, lr=0.5), updates=6,
          seed=1, log_dir=sys.argv[1], checkpoint_every=3, num_envs=64, steps_per_update=20,
          progress=False, on_update=crash)
    """
)


def test_killed_process_resumes_to_the_uninterrupted_result(tmp_path: Path):
    straight = _final(train("ipd_v0", *_lola_pair(), updates=6, seed=1, **SMALL))
    log_dir = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(log_dir)],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == -9, proc.stderr  # really killed
    assert load_checkpoint(log_dir / CHECKPOINT_FILE)["update"] == 3
    assert not (log_dir / (CHECKPOINT_FILE + ".tmp")).exists()
    resumed = train(
        "ipd_v0", *_lola_pair(), updates=6, seed=1, log_dir=log_dir,
        checkpoint_every=3, resume=True, **SMALL,
    )
    got = _final(resumed)
    assert resumed.resumed_from == 3
    assert torch.equal(got[0], straight[0]) and torch.equal(got[1], straight[1])
    assert got[2] == straight[2]


class _Boom:
    """Unpickling this runs a shell command that leaves a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_loading_refuses_pickled_code_and_garbage(tmp_path: Path):
    evil = tmp_path / "evil.pt"
    marker = tmp_path / "code_ran"
    with open(evil, "wb") as f:
        pickle.dump({"format": 1, "payload": _Boom(marker)}, f, protocol=2)
    with pytest.raises(ValueError, match="corrupt or unsafe checkpoint"):
        load_checkpoint(evil)
    assert not marker.exists()
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt or unsafe checkpoint"):
        load_checkpoint(garbage)


def test_resume_refuses_a_checkpoint_of_another_run(tmp_path: Path):
    train("ipd_v0", *_lola_pair(), updates=1, seed=1, log_dir=tmp_path, checkpoint_every=1, **SMALL)
    with pytest.raises(ValueError, match="was written for"):
        train("ipd_v0", *_lola_pair(), updates=2, seed=2, log_dir=tmp_path, resume=True, **SMALL)


def test_non_finite_update_stops_with_a_clear_message():
    # Finite payoffs whose discounted sums overflow float32: the returns, hence the step, are inf.
    huge = [[[3e38, 3e38], [3e38, 3e38]], [[3e38, 3e38], [3e38, 3e38]]]
    agent = NaivePGAgent(seed=0)
    before = agent.policy.logits.detach().clone()
    with pytest.raises(NonFiniteUpdateError, match=r"player_0 \(NaivePGAgent\) at update 1: non-finite update"):
        train("matrix_game_v0", agent, NaivePGAgent(seed=1), updates=3, seed=0,
              env_options={"payoffs": huge}, **SMALL)
    assert torch.equal(agent.policy.logits.detach(), before)  # the bad step was not applied


def test_csv_log_has_reward_and_cooperation_columns(tmp_path: Path):
    train("ipd_v0", NaivePGAgent(seed=0), NaivePGAgent(seed=1), updates=2, seed=0,
          log_dir=tmp_path, tensorboard=True, **SMALL)
    header, *rows = (tmp_path / CSV_FILE).read_text().strip().splitlines()
    assert len(rows) == 2
    for column in ("reward_0", "reward_1", "p_action0_0_CC", "p_action0_1_start", "agent0/critic_loss"):
        assert column in header.split(",")
    assert any((tmp_path / "tb").iterdir())


def test_logs_are_indexed_by_env_steps_with_wall_time_by_default(tmp_path: Path):
    import csv

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = train("ipd_v0", NaivePGAgent(seed=0), NaivePGAgent(seed=1), updates=3, seed=0,
                   log_dir=tmp_path, **SMALL)  # TensorBoard on by default with a log_dir
    rows = list(csv.DictReader((tmp_path / CSV_FILE).open()))
    steps_per_update = SMALL["num_envs"] * SMALL["steps_per_update"]
    assert [float(r["env_steps"]) for r in rows] == [steps_per_update * k for k in (1, 2, 3)]
    walls = [float(r["wall_time_s"]) for r in rows]
    assert walls == sorted(walls) and walls[0] > 0 and walls == result.wall_time_s
    assert "wall_time_s" not in result.history[0]  # histories stay bit-identical across runs
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("reward_0")] == [steps_per_update * k for k in (1, 2, 3)]


def test_continuing_episodes_run_across_updates_and_refuse_checkpoints(tmp_path: Path):
    from lola_agents.fixed import AlwaysCooperate, TitForTat

    seen: list[bool] = []
    # 150-step episodes, 60 steps per update: the second update starts mid-episode.
    train("ipd_v0", AlwaysCooperate(seed=0), TitForTat(seed=1), updates=3, num_envs=4,
          steps_per_update=60, progress=False, continue_episodes=True,
          on_batches=lambda update, batches, row: seen.append(bool(batches[0].episode_starts[0].all())))
    assert seen == [True, False, False]
    with pytest.raises(ValueError, match="continue_episodes"):
        train("ipd_v0", AlwaysCooperate(seed=0), TitForTat(seed=1), updates=2, num_envs=4,
              log_dir=tmp_path, checkpoint_every=1, continue_episodes=True, progress=False)
