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


def test_history_frames_are_stacked_oldest_first_and_zeroed_at_episode_starts() -> None:
    from lola_agents.ppo import stack_frames
    from lola_agents.rollout import Batch

    agent = PPOAgent.for_env("coin_game_v0", 1, PPOConfig(history=2))
    assert agent.observation_space.shape == (12, 3, 3) and agent.env_observation_space.shape == (4, 3, 3)
    # One game, 4 steps; the episode restarts at step 2. Frame k is filled with k + 1.
    obs = torch.stack([torch.full((1, 4, 3, 3), float(k + 1)) for k in range(4)])  # [T=4, N=1, 4, 3, 3]
    starts = torch.tensor([[True], [False], [True], [False]])
    zeros = torch.zeros(1, 4, 3, 3)
    batch = Batch(obs=obs, actions=torch.zeros(4, 1, dtype=torch.long), log_probs=torch.zeros(4, 1),
                  rewards=torch.zeros(4, 1), terminated=torch.zeros(4, 1, dtype=torch.bool),
                  truncated=torch.zeros(4, 1, dtype=torch.bool), episode_starts=starts,
                  next_obs=torch.cat([obs[1:], torch.full((1, 1, 4, 3, 3), 5.0)]), infos={}, agent_index=0)
    inputs, next_inputs = agent.policy_inputs(batch)
    # by hand: [t-2, t-1, current] of the same episode (SB3's VecFrameStack order), zeros before its start
    expected = [(0, 0, 1), (0, 1, 2), (0, 0, 3), (0, 3, 4)]
    for t, frames in enumerate(expected):
        want = torch.cat([torch.full((1, 4, 3, 3), float(v)) if v else zeros for v in frames], dim=1)
        assert torch.equal(inputs[t], want), t
    assert torch.equal(next_inputs[3], stack_frames(torch.full((1, 4, 3, 3), 5.0),
                                                    torch.stack([obs[2], obs[3]], dim=1)))
    # the next batch continues the episode: its first input carries frames 4 and 3
    follow = Batch(**{**batch.__dict__, "obs": torch.full((1, 1, 4, 3, 3), 5.0).expand(4, 1, 4, 3, 3).clone(),
                      "episode_starts": torch.zeros(4, 1, dtype=torch.bool)})
    assert torch.equal(agent.policy_inputs(follow)[0][0], next_inputs[3])
    with pytest.raises(ValueError, match="consecutive batches"):
        agent.policy_inputs(batch.__class__(**{**follow.__dict__, "obs": obs}))


def test_history_inputs_in_learning_are_those_the_policy_acted_on() -> None:
    """act() stacks frames step by step; the update rebuilds them from the batches: the two
    paths must agree over consecutive updates whose episodes continue across batches."""
    config = PPOConfig(**{**TINY.__dict__, "n_steps": 30, "batch_size": 60, "history": 3})
    agents = make_ippo("coin_game_v0", 4, seed=2, config=config, max_cycles=50)
    seen: list[torch.Tensor] = []
    rebuilt: list[torch.Tensor] = []
    policy = agents[0].policy
    original = policy.get_distribution

    def recording(obs):
        seen.append(obs.clone())
        return original(obs)

    policy.get_distribution = recording
    original_inputs = agents[0].policy_inputs

    def rebuilding(batch):
        obs, next_obs = original_inputs(batch)
        rebuilt.extend(obs)
        return obs, next_obs

    agents[0].policy_inputs = rebuilding
    train("coin_game_v0", agents, total_steps=3 * 30 * 4, num_envs=4, seed=2, max_cycles=50)
    assert len(seen) == len(rebuilt) == 90  # 3 updates x 30 steps; episodes of 50 span batches
    assert all(torch.equal(a, b) for a, b in zip(seen, rebuilt, strict=True))
    assert any(bool(s[:, :-4].abs().sum() > 0) for s in seen[31:])  # earlier frames are really there


def test_history_agents_save_load_and_reject_bad_settings(tmp_path) -> None:
    config = PPOConfig(**{**TINY.__dict__, "history": 2})
    agents = make_ippo("coin_game_v0", 4, seed=1, config=config)
    train("coin_game_v0", agents, total_steps=150 * 4, num_envs=4, seed=1)
    for i, agent in enumerate(agents):
        agent.save(tmp_path / f"p{i}")
    loaded = [PPOAgent.load(tmp_path / f"p{i}") for i in range(2)]
    assert loaded[0].config.history == 2 and loaded[0].observation_space.shape == (12, 3, 3)
    r1 = evaluate("coin_game_v0", agents[0], agents[1], episodes=4, seed=2)
    r2 = evaluate("coin_game_v0", loaded[0], loaded[1], episodes=4, seed=2)
    assert r1 == r2
    with pytest.raises(ValueError, match="history must be an integer >= 0"):
        PPOConfig(history=-1)
    with pytest.raises(ValueError, match="needs a Box observation space"):
        PPOAgent.for_env("ipd_v0", 2, PPOConfig(history=1))


def test_history_stacks_frames_exactly_as_sb3_vecframestack_does() -> None:
    """The shared policy trains on SB3's VecFrameStack; PPOAgent.act must rebuild the same
    inputs when it plays that policy (3 frames, 5-step episodes, random moves)."""
    from stable_baselines3.common.vec_env import VecFrameStack

    from lola_agents.ppo import next_frames, stack_frames

    stacked_env = VecFrameStack(make_supersuit_vec_env("coin_game_v0", 2, egocentric=True, max_cycles=5),
                                n_stack=3, channels_order="first")
    rng = np.random.default_rng(0)
    stacked = torch.as_tensor(stacked_env.reset())  # [4 slots, 12, 3, 3]
    previous = torch.zeros(4, 2, 4, 3, 3)
    starts = torch.ones(4, dtype=torch.bool)
    episode_ends = 0
    for _ in range(12):  # crosses two episode ends
        current = stacked[:, -4:]  # VecFrameStack puts the current frame last
        previous = previous.masked_fill(starts.reshape(-1, 1, 1, 1, 1), 0.0)
        assert torch.equal(stack_frames(current, previous), stacked)
        previous = next_frames(current, previous)
        obs, _, dones, _ = stacked_env.step(rng.integers(4, size=4))
        stacked, starts = torch.as_tensor(obs), torch.as_tensor(dones)
        episode_ends += int(starts.sum())
    assert episode_ends == 8  # 2 ends x 4 slots: the zeroing after an end was checked


def test_shared_ppo_with_history_trains_saves_and_plays(tmp_path) -> None:
    config = PPOConfig(**{**TINY.__dict__, "history": 2})
    agent, _ = train_shared_ppo("coin_game_v0", 150 * 2, num_games=2, seed=5, config=config)
    assert agent.observation_space.shape == (12, 3, 3) and agent.env_observation_space.shape == (4, 3, 3)
    agent.save(tmp_path / "shared")
    loaded = PPOAgent.load(tmp_path / "shared")
    assert _same(_params(agent), _params(loaded)) and loaded.config.history == 2
    r1 = evaluate("coin_game_v0", agent, agent, episodes=2, seed=0, egocentric=True)
    r2 = evaluate("coin_game_v0", loaded, loaded, episodes=2, seed=0, egocentric=True)
    assert r1 == r2 and 0.0 <= r1["pickups_per_step"] <= 2.0
