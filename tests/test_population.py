"""Population training wrapper (lola_agents.population): who plays which game, who learns from what."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import coin_game_env
from lola_agents.coin_lola import CoinLOLAAgent, preset
from lola_agents.fixed import GreedyCoinAgent, RandomCoinAgent, _greedy_moves
from lola_agents.population import (
    PastSelves,
    WithStandIn,
    with_greedy_stand_ins,
    with_past_self_stand_ins,
)
from lola_agents.rollout import BaseAgent, collect
from lola_agents.trainer import train

GAMES, STEPS = 12, 10


class Recorder(BaseAgent):
    """Plays action 3 everywhere and keeps what it was given to learn from."""

    def __init__(self) -> None:
        self.seen: list = []

    def act(self, obs, state, episode_starts):
        return np.full(len(obs), 3, dtype=np.int64), np.zeros(len(obs), dtype=np.float32), state

    def learn(self, batch, opponent_batch):
        self.seen.append((batch, opponent_batch))
        return {}


def test_stand_in_plays_its_games_and_the_learner_learns_only_from_the_rest() -> None:
    learner = Recorder()
    seat_0 = WithStandIn(learner, GreedyCoinAgent(seed=0), slice(2, 5))
    venv = coin_game_env.make_vec("coin_game_v0", GAMES, seed=0, max_cycles=STEPS)
    batches = collect(venv, [seat_0, RandomCoinAgent(seed=1)], STEPS)
    actions = batches[0].actions.numpy()
    assert (actions[:, :2] == 3).all() and (actions[:, 5:] == 3).all()
    # Games 2-4: greedy's moves, recomputed from the same observations.
    replay = GreedyCoinAgent(seed=0)
    replay.assign_seat(0)
    for t in range(STEPS):
        expected, _, _ = replay.act(batches[0].obs[t, 2:5].numpy(), None, batches[0].episode_starts[t, 2:5].numpy())
        assert (actions[t, 2:5] == expected).all()
    seat_0.learn(batches[0], batches[1])
    mine, theirs = learner.seen[0]
    own = [0, 1] + list(range(5, GAMES))
    assert mine.num_envs == theirs.num_envs == len(own)
    torch.testing.assert_close(mine.rewards, batches[0].rewards[:, own])
    torch.testing.assert_close(theirs.obs, batches[1].obs[:, own])
    assert mine.infos.keys() == batches[0].infos.keys()


def test_greedy_stand_ins_take_disjoint_games_of_the_two_seats() -> None:
    seats = with_greedy_stand_ins([Recorder(), Recorder()], num_envs=100, fraction=0.1)
    assert seats[0].stand_in_games == slice(0, 10) and seats[1].stand_in_games == slice(10, 20)
    for bad in (0.0, 0.5, -0.1):
        with pytest.raises(ValueError, match="fraction"):
            with_greedy_stand_ins([Recorder(), Recorder()], num_envs=100, fraction=bad)
    with pytest.raises(ValueError, match="slice"):
        WithStandIn(Recorder(), GreedyCoinAgent(), slice(5, 2))
    with pytest.raises(ValueError, match="do not fit"):
        WithStandIn(Recorder(), GreedyCoinAgent(), slice(0, 20))._own_games(10)


def test_learners_are_told_which_of_their_games_were_against_greedy() -> None:
    learners = [Recorder(), Recorder()]
    seats = with_greedy_stand_ins(learners, num_envs=GAMES, fraction=0.25, mark_fixed_opponents=True)
    venv = coin_game_env.make_vec("coin_game_v0", GAMES, seed=0, max_cycles=STEPS)
    batches = collect(venv, seats, STEPS)
    for seat, (learner, wrapper) in enumerate(zip(learners, seats, strict=True)):
        wrapper.learn(batches[seat], batches[1 - seat])
        mine, _ = learner.seen[0]
        # Seat 0 plays games 3..11 (greedy sits in 0..2); greedy plays seat 1 in games 3..5.
        own = [g for g in range(GAMES) if not (3 * seat <= g < 3 * seat + 3)]
        against_greedy = set(range(3, 6)) if seat == 0 else set(range(0, 3))
        expected = torch.tensor([g not in against_greedy for g in own])
        assert mine.infos["opponent_learns"].shape == (STEPS, len(own))
        assert (mine.infos["opponent_learns"] == expected).all()
        # Greedy really did play the opponent's seat in the games marked False.
        # (greedy breaks ties at random, so check the move is one of its shortest moves)
        replay = GreedyCoinAgent(seed=0)
        replay.assign_seat(1 - seat)
        games = sorted(against_greedy)
        for step in range(STEPS):
            _, dist_mine, dist_other, _ = replay._positions(batches[1 - seat].obs[step, games].numpy())
            allowed = _greedy_moves(dist_mine, dist_other)
            taken = batches[1 - seat].actions[step, games].numpy()
            assert allowed[np.arange(len(games)), taken].all()
    unmarked = with_greedy_stand_ins([Recorder(), Recorder()], num_envs=GAMES, fraction=0.25)
    unmarked[0].learn(batches[0], batches[1])
    assert "opponent_learns" not in unmarked[0].learner.seen[0][0].infos
    with pytest.raises(ValueError, match="overlap"):
        WithStandIn(Recorder(), GreedyCoinAgent(), slice(0, 3), fixed_opponent_games=slice(2, 5))


def test_trainer_runs_wrapped_learners_and_checkpoints_the_learners(tmp_path) -> None:
    config = preset("adalign").agent
    learners = [CoinLOLAAgent(config, seed=s, mlp_hidden=(8,)) for s in (0, 1)]
    before = [{k: v.detach().clone() for k, v in a.policy.named_parameters()} for a in learners]
    seats = with_greedy_stand_ins(learners, num_envs=GAMES, fraction=0.25)
    result = train("coin_game_v0", *seats, updates=2, steps_per_update=STEPS, num_envs=GAMES, seed=0,
                   log_dir=tmp_path, checkpoint_every=1, env_options={"max_cycles": STEPS})
    assert len(result.history) == 2 and (tmp_path / "checkpoint.pt").exists()
    for agent, old in zip(learners, before, strict=True):
        assert any(not torch.equal(p, old[k]) for k, p in agent.policy.named_parameters())
    assert seats[0].name == learners[0].name == "AdAlign"


def test_past_selves_pool_draws_and_plays_snapshots() -> None:
    learner = CoinLOLAAgent(preset("adalign").agent, seed=0, mlp_hidden=(8,))
    initial = {k: v.clone() for k, v in learner.policy.state_dict().items()}
    past = PastSelves(learner, every=2, size=2, seed=0)
    assert len(past.pool) == 1
    snapshots = []
    for update in range(1, 7):
        with torch.no_grad():
            for p in learner.policy.parameters():
                p.add_(1.0)  # a visible change per "update"
        past.after_update(learner)
        if update % 2 == 0:
            snapshots.append(learner.policy.state_dict()["net.0.bias"].clone())
        assert len(past.pool) == min(2, 1 + update // 2)
    # The oldest (the initial policy) has left; the pool holds the last two snapshots.
    kept = [p["net.0.bias"] for p in past.pool]
    assert torch.equal(kept[0], snapshots[-2]) and torch.equal(kept[1], snapshots[-1])
    assert not any(torch.equal(k, initial["net.0.bias"]) for k in kept)
    # The stand-in plays the drawn snapshot: its log-probs are that policy's.
    past.assign_seat(1)
    obs = coin_game_env.make_vec("coin_game_v0", 5, seed=0).reset()[0][:, 1]
    actions, log_probs, _ = past.act(obs, None, np.ones(5, dtype=bool))
    drawn = CoinLOLAAgent(preset("adalign").agent, seed=0, mlp_hidden=(8,))
    drawn.policy.load_state_dict(past.pool[past.current])
    with torch.no_grad():
        obs_t = drawn._canonical(torch.as_tensor(obs), 1)
        logits, _ = drawn.policy.step(obs_t, drawn.policy.initial_state(5), torch.ones(5, dtype=torch.bool))
    expected = torch.log_softmax(logits, -1).gather(-1, torch.as_tensor(actions).unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(torch.as_tensor(log_probs), expected)
    with pytest.raises(ValueError, match="every"):
        PastSelves(learner, every=0)


def test_past_self_population_resumes_bit_identically(tmp_path) -> None:
    def seats():
        learners = [CoinLOLAAgent(preset("adalign").agent, seed=s, mlp_hidden=(8,)) for s in (0, 1)]
        return learners, with_past_self_stand_ins(learners, GAMES, 0.25, every=1, size=3, seed=5)

    run = {"steps_per_update": STEPS, "num_envs": GAMES, "seed": 0, "env_options": {"max_cycles": STEPS}}
    straight, straight_players = seats()
    train("coin_game_v0", *straight_players, updates=4, **run)
    _, players = seats()
    train("coin_game_v0", *players, updates=2, log_dir=tmp_path, checkpoint_every=1, **run)
    resumed, players = seats()
    result = train("coin_game_v0", *players, updates=4, log_dir=tmp_path, checkpoint_every=1, resume=True, **run)
    assert result.resumed_from == 2
    for a, b in zip(straight, resumed, strict=True):
        for (k, p), q in zip(a.policy.named_parameters(), b.policy.parameters(), strict=True):
            assert torch.equal(p, q), k
    for a, b in zip(straight_players, players, strict=True):
        assert len(a.stand_in.pool) == len(b.stand_in.pool) == 3 and a.stand_in.current == b.stand_in.current
        for x, y in zip(a.stand_in.pool, b.stand_in.pool, strict=True):
            assert all(torch.equal(x[k], y[k]) for k in x)
