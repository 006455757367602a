"""Named experiment configs: every TOML entry parses and expands; one runs end to end."""

from __future__ import annotations

import json

import pytest

from lola_agents.bench.cli import main
from lola_agents.bench.core import get_suite
from lola_agents.bench.experiments import (
    TINY_SETTINGS,
    load_experiments,
    parse_experiment,
    ship_checkpoint,
)
from lola_agents.bench.studies import COIN_FIXED_KINDS, COIN_LEARNER_KINDS, _coin_reference_agents
from lola_agents.bench.suites import SAMPLED_LEARNERS
from lola_agents.exact import RULE_NAMES
from lola_agents.learners.loqa import SHAPING_TERMS

EXPERIMENTS = load_experiments()
# The agent names each suite understands.
KNOWN_AGENTS = {
    "coin_pair": {*COIN_LEARNER_KINDS, *COIN_FIXED_KINDS, "ippo"},
    "coin_cross_play": {*COIN_LEARNER_KINDS, "ippo"},
    "exact": set(RULE_NAMES),
    "sampled_ipd": set(SAMPLED_LEARNERS),
    "ppo_baselines": {"IPPO", "PPO", "TFT", "AllD", "shared PPO"},
    "coin_reference": set(_coin_reference_agents()),
    "loqa": {*SHAPING_TERMS.values(), "past selves"},
}
GAMES = {"ipd_v0", "imp_v0", "coin_game_v0", "tandem"}


def test_the_recorded_studies_are_all_configs() -> None:
    suites = {e.suite for e in EXPERIMENTS.values()}
    assert suites == {
        "coin_pair",
        "coin_cross_play",
        "coin_reference",
        "exact",
        "sampled_ipd",
        "ppo_baselines",
        "loqa",
    }
    # coin.toml: the 52 recorded pairings; om.toml adds the opponent-model studies
    assert sum(e.suite == "coin_pair" and e.source == "coin.toml" for e in EXPERIMENTS.values()) == 52
    om = {name for name, e in EXPERIMENTS.items() if e.source == "om.toml"}
    assert "ipd-lola-om-paper" in om and "coin-lola_ps-lola_ps_om_eta0.3_ent0.03_decay0.96" in om
    assert len(EXPERIMENTS["exact-learners"].pairs) == 36
    assert EXPERIMENTS["exact-learners"].games == ("ipd_v0", "imp_v0")
    assert EXPERIMENTS["coin-aa-aa"].seeds == (0, 1, 2, 3, 4)
    assert {name for name, e in EXPERIMENTS.items() if e.source == "loqa.toml"} == {"coin-loqa-cpu", "coin-loqa-cpu30", "coin-loqa-paper", "coin-aaq-1500", "coin-lolaq-1500",
                                                                                    "coin-aaq-start1000", "coin-lolaq-start1000"}


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_each_config_expands_into_valid_tiny_tasks(name: str) -> None:
    experiment = EXPERIMENTS[name]
    full = experiment.tasks()
    tiny = experiment.tasks("tiny")
    assert full and tiny and len(tiny) <= len(full)
    suite = get_suite(experiment.suite)
    for task in tiny:
        assert task.suite == suite.name and task.env_id in GAMES
        assert set(task.agents) <= KNOWN_AGENTS[suite.name], task.agents
        assert task.seeds == [experiment.seeds[0]] or suite.name in ("exact",)
        for key, value in TINY_SETTINGS[suite.name].items():
            if not isinstance(value, dict):
                assert task.settings[key] == value
    keys = [t.key for t in full]
    assert len(set(keys)) == len(keys)
    # Seeds are covered exactly once by the full-scale tasks of each report row.
    for group in {t.group for t in full}:
        seeds = sorted(s for t in full if t.group == group for s in t.seeds)
        assert seeds == sorted(experiment.seeds)


@pytest.mark.parametrize(
    "table, message",
    [
        (
            {"suite": "coin_pair", "game": "coin_game_v0", "learners": ["aa", "aa"]},
            "missing 'seeds'",
        ),
        (
            {
                "suite": "coin_pair",
                "game": "x",
                "games": ["y"],
                "learners": ["a", "b"],
                "seeds": [0],
            },
            "exactly one of 'game' and 'games'",
        ),
        ({"suite": "coin_pair", "game": "x", "learners": ["a"], "seeds": [0]}, "two agent names"),
        (
            {"suite": "coin_pair", "game": "x", "learners": ["a", "b"], "seeds": []},
            "non-empty list",
        ),
        (
            {"suite": "coin_pair", "game": "x", "learners": ["a", "b"], "seeds": [0], "update": 3},
            "unknown keys \\['update'\\]",
        ),
    ],
)
def test_bad_configs_are_refused_with_the_reason(table: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_experiment("bad", table, "bad.toml")


def test_unknown_suite_and_experiment_names_are_refused(capsys) -> None:
    with pytest.raises(KeyError, match="unknown suite 'nope'"):
        parse_experiment(
            "bad", {"suite": "nope", "game": "x", "learners": ["a", "b"], "seeds": [0]}
        )
    assert main(["--experiment", "no-such-experiment"]) == 2
    assert "unknown experiment 'no-such-experiment'" in capsys.readouterr().err


def test_list_shows_suites_and_experiments(capsys) -> None:
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert "coin_pair" in listed and "coin-aa-aa " in listed and "exact-learners" in listed


def test_a_tiny_experiment_runs_end_to_end_and_ships(tmp_path) -> None:
    out = tmp_path / "run"
    assert (
        main(["--experiment", "coin-aa-aa", "--scale", "tiny", "--workers", "1", "--out", str(out)])
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["experiments"] == ["coin-aa-aa"] and summary["suites"] == ["coin_pair"]
    (group,) = summary["groups"]
    assert group["group"] == "coin-aa-aa" and group["seeds"] == [0]
    own = group["metrics"]["own_coin_rate"]["per_seed"][0]
    assert 0.0 <= own <= 1.0
    vs_greedy = group["metrics"]["player_0_vs_greedy_as_player_0_reward"]["per_seed"][0]
    assert -2.0 <= vs_greedy <= 1.0
    # One update of 8 games x 50 steps: the common axis counts 400 environment steps.
    assert group["curves"]["env_steps"] == [[400]]
    assert group["curves"]["wall_time_s"][0][0] > 0
    assert "| coin-aa-aa | 1 |" in (out / "report.md").read_text()
    assert "figures/coin-game-v0-own-coin-rate.png" in summary["figures"]
    # The trained pair ships as a package checkpoint, with its command as provenance.
    saved = out / "checkpoints" / "coin_pair" / "coin-aa-aa-seed0"
    shipped = ship_checkpoint(saved, "adalign-test", shipped_dir=tmp_path / "shipped")
    source = json.loads((shipped / "source.json").read_text())
    assert "--experiment coin-aa-aa" in source["command"]
    with pytest.raises(FileExistsError):
        ship_checkpoint(saved, "adalign-test", shipped_dir=tmp_path / "shipped")
    with pytest.raises(ValueError, match="missing"):
        ship_checkpoint(tmp_path, "empty", shipped_dir=tmp_path / "shipped")


def test_coin_pair_self_play_against_past_selves_trains_one_learner_and_returns_its_policy_twice(tmp_path) -> None:
    import torch

    from lola_agents.bench.studies import train_coin_pair

    settings = {"preset": "fast", "updates": 3, "num_envs": 16, "overrides": {"mlp_history": 2},
                "population": {"past_self_share": 1.0, "past_self_every": 1, "past_self_draws": 4}}
    agents, curves, _, _ = train_coin_pair(["aa", "aa"], 0, settings, log_dir=str(tmp_path / "run"))
    learner, copy = agents
    assert learner.updates == 3 and copy.updates == 0  # only the seat-0 learner learned
    weights = learner.policy.state_dict()
    assert all(torch.equal(v, copy.policy.state_dict()[k]) for k, v in weights.items())
    assert len(curves.values["own_coin_rate"]) == 3 and (tmp_path / "run" / "progress.csv").exists()
    with pytest.raises(ValueError, match="one coin-game learner kind in both seats"):
        train_coin_pair(["aa", "nl"], 0, settings)


def test_seed_list_runs_the_named_seeds_and_refuses_bad_lists(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    args = ["--experiment", "coin-aa-aa", "--scale", "tiny", "--workers", "1", "--out", str(out)]
    assert main([*args, "--seed-list", "3"]) == 0
    (group,) = json.loads((out / "summary.json").read_text())["groups"]
    assert group["seeds"] == [3]
    assert (out / "checkpoints" / "coin_pair" / "coin-aa-aa-seed3").is_dir()
    for bad in (["--seed-list", "1", "1"], ["--seed-list", "-1"], ["--seeds", "2", "--seed-list", "3"]):
        with pytest.raises(SystemExit):
            main([*args, *bad])
        assert "--seed-list" in capsys.readouterr().err
