"""The paper's tabular IPD learners are presets of the one LOLA agent, and the checkpoints
their separate classes wrote still load and continue as they did."""

from pathlib import Path

import pytest
import torch

from lola_agents.agents import load_agent
from lola_agents.dice import LOLADiCEAgent, LOLADiCEConfig
from lola_agents.learners.lola import LOLAAgent
from lola_agents.opponent_model import LOLAOMAgent, LOLAOMConfig
from lola_agents.pg import FixedTabularAgent, LOLAPGAgent, LOLAPGConfig, NaivePGAgent, NaivePGConfig
from lola_agents.trainer import train

# Agent folders written by the separate classes (commit 4e24e24) after 2 updates against a
# fixed memory-1 table, and what that code gave after 1 more update (expected.pt).
OLD = Path(__file__).parent / "data" / "tabular_4e24e24"
OPPONENT = [1.0, -0.5, 0.3, -1.0, 0.8]
PRESETS = {
    "nl_pg": (NaivePGAgent, NaivePGConfig, "NL-PG"),
    "lola_pg": (LOLAPGAgent, LOLAPGConfig, "LOLA-PG"),
    "lola_om": (LOLAOMAgent, LOLAOMConfig, "LOLA-OM"),
    "lola_dice": (LOLADiCEAgent, LOLADiCEConfig, "LOLA-DiCE"),
}


@pytest.mark.parametrize("cls,config_class,name", PRESETS.values(), ids=list(PRESETS))
def test_tabular_learners_run_the_one_agents_loop_and_checkpoint_code(cls, config_class, name):
    assert issubclass(cls, LOLAAgent)
    for method in ("learn", "_step_policy", "state_dict", "load_state_dict", "config"):
        assert getattr(cls, method) is getattr(LOLAAgent, method), method
    agent = cls(seed=1)
    assert agent.name == name and type(agent.cfg) is config_class
    assert agent.initial_state(4) is None


@pytest.mark.parametrize("key", list(PRESETS))
def test_checkpoints_of_the_separate_classes_load_and_continue_as_before(key):
    cls = PRESETS[key][0]
    expected = torch.load(OLD / "expected.pt", weights_only=True)[key]
    saved = torch.load(OLD / key / "state.pt", weights_only=True)
    agent = load_agent(OLD / key)
    assert type(agent) is cls
    assert torch.equal(agent.policy.logits.detach(), saved["policy"]["logits"])
    assert agent.state_dict()["rng"] == saved["rng"]
    result = train("ipd_v0", agent, FixedTabularAgent(OPPONENT, seed=6), updates=1, steps_per_update=20,
                   num_envs=16, seed=7, progress=False, threads=1)
    # Same batch (the restored generators) and the same step: equal up to rounding on another machine.
    torch.testing.assert_close(agent.policy.logits.detach(), expected["logits"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(agent.critic.values.detach(), expected["critic"], rtol=1e-5, atol=1e-5)
    row = result.history[-1]
    assert set(row) == set(expected["history"])
    for column, value in expected["history"].items():
        assert row[column] == pytest.approx(value, rel=1e-5, abs=1e-6, nan_ok=True), column
