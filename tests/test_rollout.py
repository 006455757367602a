"""The rollout interface: collect() shapes and contents against hand-run episodes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import coin_game_env
from lola_agents.fixed import AlwaysDefect, RandomCoinAgent, RandomMatrixAgent, TitForTat
from lola_agents.rollout import (
    Agent,
    BaseAgent,
    Batch,
    Rollout,
    collect,
    new_rollout_state,
    reset_state_where,
)


def test_tft_vs_alld_batch_matches_the_hand_played_episode() -> None:
    # 3-step episodes, 5 steps: the second episode starts at t=3 (same-step auto-reset).
    venv = coin_game_env.make_vec("ipd_v0", num_envs=2, seed=0, max_cycles=3)
    tft, alld = collect(venv, [TitForTat(), AlwaysDefect()], steps=5)
    # TFT cooperates first, then copies D; states from its side: start, CD, DD | start, CD.
    assert tft.obs[:, 0].tolist() == [4, 1, 3, 4, 1]
    assert alld.obs[:, 0].tolist() == [4, 2, 3, 4, 2]
    assert tft.actions[:, 0].tolist() == [0, 1, 1, 0, 1]
    assert alld.actions[:, 0].tolist() == [1, 1, 1, 1, 1]
    assert tft.rewards[:, 0].tolist() == [-3, -2, -2, -3, -2]
    assert alld.rewards[:, 0].tolist() == [0, -2, -2, 0, -2]
    assert tft.truncated[:, 0].tolist() == [False, False, True, False, False]
    assert not tft.terminated.any()
    assert tft.dones[:, 0].tolist() == [False, False, True, False, False]
    assert tft.episode_starts[:, 0].tolist() == [True, False, False, True, False]
    # next_obs holds the episode's true last obs (DD = 3), not the reset obs (4).
    assert tft.next_obs[:, 0].tolist() == [1, 3, 3, 1, 3]
    assert alld.next_obs[:, 0].tolist() == [2, 3, 3, 2, 3]
    assert tft.log_probs.eq(0).all()  # deterministic strategies
    # both games play the same deterministic episode
    assert torch.equal(tft.obs[:, 0], tft.obs[:, 1])
    assert tft.infos["episode_return"][:, 0].tolist() == [0, 0, -7, 0, 0]
    assert alld.infos["episode_return"][:, 0].tolist() == [0, 0, -4, 0, 0]
    assert (tft.agent_index, alld.agent_index) == (0, 1)


def test_batch_layout_and_dtypes() -> None:
    steps, num_envs = 7, 3
    venv = coin_game_env.make_vec("ipd_v0", num_envs=num_envs, seed=1)
    batches = collect(venv, [RandomMatrixAgent(seed=1), RandomMatrixAgent(seed=2)], steps)
    for b in batches:
        assert isinstance(b, Batch)
        assert b.obs.shape == b.next_obs.shape == (steps, num_envs)
        assert b.obs.dtype == torch.int64
        assert b.actions.dtype == torch.int64 and b.actions.shape == (steps, num_envs)
        assert b.log_probs.dtype == torch.float32
        assert b.rewards.dtype == torch.float32
        for flags in (b.terminated, b.truncated, b.episode_starts, b.dones):
            assert flags.dtype == torch.bool and flags.shape == (steps, num_envs)
        assert torch.allclose(b.log_probs, torch.full_like(b.log_probs, np.log(0.5)))
    # the state each seat sees is the same joint action from its own side
    a0, a1 = batches[0].actions, batches[1].actions
    assert torch.equal(batches[0].next_obs, 2 * a0 + a1)
    assert torch.equal(batches[1].next_obs, 2 * a1 + a0)


def test_coin_game_batch_matches_a_hand_run_of_the_env() -> None:
    steps, num_envs, seed = 160, 4, 3  # crosses one episode end (150 steps)
    agents = [RandomCoinAgent(seed=10), RandomCoinAgent(seed=11)]
    batches = collect(coin_game_env.make_vec("coin_game_v0", num_envs, seed=seed), agents, steps)

    # Hand run: same env seed, same action streams, plain loop over steps.
    venv = coin_game_env.make_vec("coin_game_v0", num_envs, seed=seed)
    obs, _ = venv.reset()
    rngs = [np.random.default_rng(10), np.random.default_rng(11)]
    starts = np.ones(num_envs, dtype=bool)
    for t in range(steps):
        actions = np.stack([r.integers(0, 4, num_envs) for r in rngs], axis=1)
        for i, b in enumerate(batches):
            assert np.array_equal(b.obs[t].numpy(), obs[:, i])
            assert np.array_equal(b.actions[t].numpy(), actions[:, i])
            assert np.array_equal(b.episode_starts[t].numpy(), starts)
        obs, rewards, terminated, truncated, info = venv.step(actions)
        ended = terminated | truncated
        true_next = np.where(ended[:, None, None, None, None], info.get("final_obs", obs), obs)
        for i, b in enumerate(batches):
            assert np.array_equal(b.rewards[t].numpy(), rewards[:, i])
            assert np.array_equal(b.truncated[t].numpy(), truncated)
            assert np.array_equal(b.next_obs[t].numpy(), true_next[:, i])
            assert np.array_equal(b.infos["own_coins"][t].numpy(), info["own_coins"][:, i])
            assert np.array_equal(b.infos["other_coins"][t].numpy(), info["other_coins"][:, i])
        starts = ended
    assert batches[0].obs.dtype == torch.float32
    assert batches[0].obs.shape == (steps, num_envs, 4, 3, 3)
    assert batches[0].truncated[149].all() and not batches[0].truncated[:149].any()
    assert batches[0].infos["own_coins"].sum() > 0  # random play does pick coins


def test_continued_collect_equals_one_long_collect() -> None:
    def fresh() -> tuple:
        venv = coin_game_env.make_vec("ipd_v0", num_envs=3, seed=5, max_cycles=4)
        return venv, [RandomMatrixAgent(seed=1), TitForTat()]

    venv, agents = fresh()
    whole = collect(venv, agents, steps=9)
    venv, agents = fresh()
    state = new_rollout_state()
    first = collect(venv, agents, steps=5, rollout_state=state)
    second = collect(venv, agents, steps=4, reset=False, rollout_state=state)
    for seat in (0, 1):
        for name in ("obs", "actions", "log_probs", "rewards", "truncated", "episode_starts", "next_obs"):
            joined = torch.cat([getattr(first[seat], name), getattr(second[seat], name)])
            assert torch.equal(joined, getattr(whole[seat], name)), name

    # the Rollout class does the same without in-place state
    venv, agents = fresh()
    rollout = Rollout(venv, agents)
    parts = [rollout.collect(5), rollout.collect(4)]
    assert torch.equal(torch.cat([p[0].obs for p in parts]), whole[0].obs)


class StepCounter(BaseAgent):
    """Recurrent test agent: its state counts steps since the episode began;
    it reports the count as its log-prob so the batch shows the state it acted with."""

    def initial_state(self, num_envs: int) -> torch.Tensor:
        return torch.full((num_envs, 1), -100.0)  # must be reset before the first act

    def act(self, obs, state, episode_starts):
        state = reset_state_where(state, episode_starts)  # zero where an episode starts
        counts = state[:, 0].numpy().astype(np.float32).copy()
        return np.zeros(len(obs), dtype=np.int64), counts, state + 1


def test_recurrent_state_is_carried_and_reset_at_episode_starts() -> None:
    venv = coin_game_env.make_vec("ipd_v0", num_envs=2, seed=0, max_cycles=3)
    counter = StepCounter()
    assert isinstance(counter, Agent)
    state = new_rollout_state()
    first = collect(venv, [counter, TitForTat()], steps=4, rollout_state=state)
    second = collect(venv, [counter, TitForTat()], steps=4, reset=False, rollout_state=state)
    counts = torch.cat([first[0].log_probs, second[0].log_probs])[:, 0].tolist()
    assert counts == [0, 1, 2, 0, 1, 2, 0, 1]


def test_reset_state_where_handles_tuples_and_batch_dim() -> None:
    h = torch.ones(2, 3, 4)  # [layers, N, H]
    c = torch.ones(2, 3, 4)
    h2, c2 = reset_state_where((h, c), np.array([False, True, False]), batch_dim=1)
    assert h2[:, 1].eq(0).all() and h2[:, [0, 2]].eq(1).all() and torch.equal(h2, c2)
    assert reset_state_where(None, np.array([True])) is None


def test_bad_calls_raise_clear_errors() -> None:
    venv = coin_game_env.make_vec("ipd_v0", num_envs=2, seed=0)
    with pytest.raises(ValueError, match="needs the rollout_state"):
        collect(venv, [TitForTat(), TitForTat()], steps=3, reset=False)
    with pytest.raises(ValueError, match="2 seats"):
        collect(venv, [TitForTat()], steps=3)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        collect(venv, [TitForTat(), TitForTat()], steps=0)
