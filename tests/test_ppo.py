"""Independent PPO (one SB3 model per agent) and the SuperSuit shared-policy baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import coin_game_env
from lola_agents.evaluation import evaluate
from lola_agents.fixed import AlwaysDefect, TitForTat
from lola_agents.ppo import PPOAgent, PPOConfig, make_ippo, train
from lola_agents.rollout import collect
from lola_agents.shared_ppo import make_supersuit_vec_env, train_shared_ppo

# Tiny but real runs: 4 games x 150 steps per update, 2 epochs of 2 minibatches.
TINY = PPOConfig(batch_size=300, n_epochs=2)


def _params(agent: PPOAgent) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in agent.policy.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_ippo_keeps_two_distinct_parameter_sets_that_both_change() -> None:
    agents = make_ippo("ipd_v0", 4, seed=0, config=TINY)
    assert agents[0].model is not agents[1].model
    assert agents[0].policy.optimizer is not agents[1].policy.optimizer
    assert agents[0].model.rollout_buffer is not agents[1].model.rollout_buffer
    before = [_params(a) for a in agents]
    assert not _same(before[0], before[1])  # different seeds, different weights
    history = train("ipd_v0", agents, total_steps=2 * 150 * 4, num_envs=4, seed=0)
    after = [_params(a) for a in agents]
    assert len(history) == 2
    for b, a in zip(before, after, strict=True):
        assert not _same(a, b)  # both learned
        assert all(torch.isfinite(t).all() for t in a.values())
    assert not _same(after[0], after[1])
    assert all(a.model._n_updates == 2 * TINY.n_epochs for a in agents)
    stats = history[-1]["player_0"]
    assert {"train/value_loss", "train/approx_kl", "rollout/reward_per_step"} <= stats.keys()


def test_same_seed_gives_bit_identical_parameters() -> None:
    def run(seed: int) -> list[dict[str, torch.Tensor]]:
        agents = make_ippo("coin_game_v0", 4, seed=seed, config=TINY)
        train("coin_game_v0", agents, total_steps=2 * 150 * 4, num_envs=4, seed=seed)
        return [_params(a) for a in agents]

    first, second, other = run(3), run(3), run(4)
    assert all(_same(a, b) for a, b in zip(first, second, strict=True))
    assert not _same(first[0], other[0])


def test_save_load_gives_identical_actions(tmp_path) -> None:
    config = PPOConfig(**{**TINY.__dict__, "features": "coin_cnn", "cnn_channels": 4})
    agents = make_ippo("coin_game_v0", 4, seed=1, config=config)
    train("coin_game_v0", agents, total_steps=150 * 4, num_envs=4, seed=1)
    for i, agent in enumerate(agents):
        agent.save(tmp_path / f"p{i}")
    loaded = [PPOAgent.load(tmp_path / f"p{i}") for i in range(2)]
    for orig, copy in zip(agents, loaded, strict=True):
        assert _same(_params(orig), _params(copy))
        assert orig.config == copy.config and orig.model.num_timesteps == copy.model.num_timesteps
    venv = coin_game_env.make_vec("coin_game_v0", 8, seed=9)
    obs, _ = venv.reset()
    for orig, copy in zip(agents, loaded, strict=True):
        a1, lp1, _ = orig.act(obs[:, 0], None, np.ones(8, bool))
        a2, lp2, _ = copy.act(obs[:, 0], None, np.ones(8, bool))
        assert np.array_equal(a1, a2) and np.array_equal(lp1, lp2)  # generator state saved too
    # whole episodes agree as well
    r1 = evaluate("coin_game_v0", agents[0], agents[1], episodes=4, seed=2)
    r2 = evaluate("coin_game_v0", loaded[0], loaded[1], episodes=4, seed=2)
    assert r1 == r2


def test_load_rejects_corrupt_checkpoints(tmp_path) -> None:
    agent = PPOAgent.for_env("ipd_v0", 2, TINY)
    agent.save(tmp_path / "a")
    (tmp_path / "a" / "config.json").write_text('{"class": "PPOAgent", "config": {}}')
    with pytest.raises(ValueError, match="corrupt PPOAgent checkpoint"):
        PPOAgent.load(tmp_path / "a")


def test_rollout_buffer_matches_sb3_semantics() -> None:
    """Values from the policy, log-probs of the acting policy, SB3's time-limit bootstrap."""
    agent = PPOAgent.for_env("ipd_v0", 2, TINY)
    venv = coin_game_env.make_vec("ipd_v0", 2, seed=0, max_cycles=3)
    batch, _ = collect(venv, [agent, TitForTat()], steps=4)
    buffer = agent.fill_rollout_buffer(batch)
    values = agent.predict_values(batch.obs.reshape(-1)).reshape(4, 2)
    assert np.allclose(buffer.values, values.numpy())
    assert np.array_equal(buffer.log_probs, batch.log_probs.numpy())
    assert np.array_equal(buffer.episode_starts, batch.episode_starts.numpy().astype(np.float32))
    # step 2 ends the 3-step episode by truncation: reward + gamma * V(true last obs)
    v_last = agent.predict_values(batch.next_obs[2])
    expected = batch.rewards[2] + agent.model.gamma * v_last
    assert np.allclose(buffer.rewards[2], expected.numpy())
    assert np.array_equal(buffer.rewards[[0, 1, 3]], batch.rewards[[0, 1, 3]].numpy())
    # GAE at the truncated step stops there: advantage = bootstrapped reward - V
    assert np.allclose(buffer.advantages[2], (expected - values[2]).numpy(), atol=1e-6)


def test_ppo_agent_plays_and_learns_against_fixed_strategies() -> None:
    learner = PPOAgent.for_env("ipd_v0", 4, TINY)
    opponent = AlwaysDefect()
    before = _params(learner)
    history = train("ipd_v0", [learner, opponent], total_steps=150 * 4, num_envs=4, seed=0)
    assert not _same(before, _params(learner))
    assert history[0]["player_1"] == {}  # fixed strategies do not learn
    result = evaluate("ipd_v0", learner, TitForTat(), episodes=4, seed=0)
    assert -3.0 <= result["reward_per_step"][0] <= 0.0


def test_training_writes_tensorboard_and_csv_logs(tmp_path) -> None:
    agents = make_ippo("imp_v0", 2, seed=0, config=TINY, log_dir=tmp_path)
    train("imp_v0", agents, total_steps=150 * 2, num_envs=2, seed=0, progress_bar=True)
    for i in (0, 1):
        files = [p.name for p in (tmp_path / f"player_{i}").iterdir()]
        assert "progress.csv" in files and any(f.startswith("events.out.tfevents") for f in files)
        assert "train/value_loss" in (tmp_path / f"player_{i}" / "progress.csv").read_text()


def test_supersuit_adapter_fills_the_gaps() -> None:
    venv = make_supersuit_vec_env("ipd_v0", 3, max_cycles=2)
    assert venv.num_envs == 6  # 3 games x 2 agent slots
    assert venv.get_attr("render_mode") == [None] * 6
    venv.seed(7)
    first = venv.reset()
    venv.seed(7)
    assert np.array_equal(venv.reset(), first)
    _, _, dones, infos = venv.step(np.zeros(6, dtype=np.int64))
    assert not dones.any()
    _, rewards, dones, infos = venv.step(np.zeros(6, dtype=np.int64))
    assert dones.all()
    assert all(info["TimeLimit.truncated"] for info in infos)  # SuperSuit alone never says so
    assert all("terminal_observation" in info for info in infos)
    assert rewards.tolist() == [-1.0] * 6


def test_shared_ppo_trains_one_policy_reproducibly() -> None:
    def run() -> tuple[PPOAgent, dict]:
        return train_shared_ppo("coin_game_v0", 150 * 2, num_games=2, seed=5, config=TINY)

    agent, info = run()
    again, _ = run()
    assert info["env_options"] == {"egocentric": True}
    assert info["agent_steps"] == 2 * 150 * 2
    assert _same(_params(agent), _params(again))
    result = evaluate("coin_game_v0", agent, agent, episodes=2, seed=0, egocentric=True)
    assert 0.0 <= result["pickups_per_step"] <= 2.0
