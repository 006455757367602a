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


# --------------------------------------------------------------------------- the replay buffer of past selves
def _tiny_loqa(seed: int = 0):
    from lola_agents.learners.loqa import LOQAAgent

    return LOQAAgent(actor_hidden=4, critic_hidden=4, seed=seed)


def _nudge(learner) -> None:
    with torch.no_grad():
        for p in learner.policy.parameters():
            p.add_(0.05)  # a visible change per "update" that keeps the logits moderate


def test_buffer_snapshots_every_interval_and_evicts_the_oldest_at_capacity() -> None:
    learner = _tiny_loqa()
    past = PastSelves(learner, every=3, size=4, seed=0)
    marks = [float(learner.policy.head.bias[0].detach())]  # the initial policy is the first snapshot
    for update in range(1, 16):
        _nudge(learner)
        past.after_update(learner)
        if update % 3 == 0:
            marks.append(float(learner.policy.head.bias[0].detach()))
        assert len(past.pool) == min(4, 1 + update // 3)
    assert [float(p["head.bias"][0]) for p in past.pool] == marks[-4:]  # the newest four, oldest first


def test_draws_are_uniform_over_the_whole_buffer_back_to_initialisation() -> None:
    from scipy import stats

    learner = _tiny_loqa()
    past = PastSelves(learner, every=10, size=10_000, seed=3, draws=8)
    for _ in range(50):  # 6 snapshots: the initial one and those of updates 10..50
        past.after_update(learner)
    counts = np.zeros(6)
    for _ in range(400):  # 3200 draws, the buffer no longer grows between them
        past.updates_seen = 1  # stay off the snapshot schedule
        past.after_update(learner)
        np.add.at(counts, past.drawn, 1)
    assert len(past.pool) == 6 and counts[0] > 0
    assert stats.chisquare(counts).pvalue > 1e-3
    # and a buffer that is not uniform is caught by the same check
    assert stats.chisquare(counts + np.array([200, 0, 0, 0, 0, -200])).pvalue < 1e-3


def _tiny_adalign(seed: int = 0):
    return CoinLOLAAgent(preset("adalign").agent, seed=seed, mlp_hidden=(8,), mlp_history=3)


def _buffer_of_four_draws(learner, seed: int) -> PastSelves:
    """A buffer of 7 snapshots of ``learner`` (nudged between them), 4 draws, not all the same."""
    past = PastSelves(learner, every=1, size=10, seed=seed, draws=4)
    for _ in range(6):
        _nudge(learner)
        past.after_update(learner)
    assert len(set(past.drawn)) > 1
    return past


@pytest.mark.parametrize("make", [_tiny_loqa, _tiny_adalign], ids=["loqa-gru", "adalign-mlp-history3"])
def test_per_block_draws_play_their_own_snapshot(make) -> None:
    past = _buffer_of_four_draws(make(), seed=1)
    past.assign_seat(1)
    venv = coin_game_env.make_vec("coin_game_v0", 8, seed=0)
    obs = venv.reset()[0][:, 1]
    starts = np.ones(8, dtype=bool)
    actions, log_probs, state = past.act(obs, None, starts)
    for block, index in enumerate(past.drawn):
        player = make()
        player.set_policy_weights(past.pool[index])
        games = slice(2 * block, 2 * block + 2)
        with torch.no_grad():
            logits, _ = player.policy.step(player._canonical(torch.as_tensor(obs[games]).float(), 1),
                                           player.policy.initial_state(2), torch.ones(2, dtype=torch.bool))
        expected = torch.log_softmax(logits, -1).gather(-1, torch.as_tensor(actions[games]).unsqueeze(-1))
        torch.testing.assert_close(torch.as_tensor(log_probs[games]), expected.squeeze(-1))
    with pytest.raises(ValueError, match="divide"):
        past.act(obs[:7], None, starts[:7])


def test_stacked_gru_step_plays_each_snapshot_with_the_bits_of_vmap() -> None:
    # Bit-equal to the vmap path (so runs recorded with it reproduce); close to each snapshot's
    # own step (the last bits may differ there: another matrix kernel).
    from torch.func import functional_call

    from lola_agents.population import _Stepper

    learner = _tiny_loqa()
    past = _buffer_of_four_draws(learner, seed=2)
    past.assign_seat(0)
    venv = coin_game_env.make_vec("coin_game_v0", 8, seed=0, max_cycles=STEPS)
    obs, starts, state = venv.reset()[0][:, 0], np.ones(8, dtype=bool), None
    own_states = [None] * 4
    vmap_state = (torch.zeros(4, 2, learner.policy.hidden), torch.zeros(4, 2, dtype=torch.long))
    policy = past.player.policy
    step = lambda p, o, s, e: functional_call(_Stepper(policy), p, (o, s, e))  # noqa: E731
    for _ in range(STEPS):  # the hidden state carries the episode: every step is compared
        past.player.generator.manual_seed(0)
        actions, log_probs, state = past.act(obs, state, starts)
        stacked = {k: torch.stack([past.pool[i][k] for i in past.drawn]) for k in past.pool[0]}
        obs_t = past.player._canonical(torch.as_tensor(obs), 0).reshape(4, 2, 4, 3, 3)
        for block, index in enumerate(past.drawn):
            player = _tiny_loqa()
            player.set_policy_weights(past.pool[index])
            games = slice(2 * block, 2 * block + 2)
            with torch.no_grad():
                own = own_states[block] or player.policy.initial_state(2)
                logits, own_states[block] = player.policy.step(obs_t[block], own, torch.as_tensor(starts[games]))
                expected = torch.log_softmax(logits, -1).gather(-1, torch.as_tensor(actions[games]).unsqueeze(-1))
            torch.testing.assert_close(torch.as_tensor(log_probs[games]), expected.squeeze(-1))
            torch.testing.assert_close(state[0][games], own_states[block][0])
        with torch.no_grad():  # the generic path of other networks, from the same state
            blocks = torch.as_tensor(starts).reshape(4, 2)
            by_vmap = torch.func.vmap(step)({f"policy.{k}": v for k, v in stacked.items()}, obs_t, vmap_state, blocks)
            direct = policy.step(obs_t, vmap_state, blocks, stacked)
        assert torch.equal(by_vmap[0], direct[0]) and torch.equal(by_vmap[1][0], direct[1][0])
        assert torch.equal(by_vmap[1][0].reshape(8, -1), state[0])
        vmap_state = by_vmap[1]
        obs = venv.step(np.stack([actions, actions[::-1]], axis=1))[0][:, 0]
        starts = np.zeros(8, dtype=bool)


def test_self_play_seat_plays_past_selves_in_its_share_and_the_current_policy_in_the_rest() -> None:
    from lola_agents.population import SelfPlayOpponent, self_play_with_past_selves

    learner = _tiny_loqa()
    seats = self_play_with_past_selves(learner, num_envs=8, share=0.5, every=1, size=5, seed=0, draws=2)
    assert seats[0] is learner and isinstance(seats[1], SelfPlayOpponent) and seats[1].past_games == 4
    venv = coin_game_env.make_vec("coin_game_v0", 8, seed=0, max_cycles=STEPS)
    batches = collect(venv, seats, STEPS)
    learner.learn(batches[0], batches[1])
    seats[1].learn(batches[1], batches[0])
    # After the update the mirror holds the learner's new policy and the buffer its snapshot.
    for k, v in learner.policy.state_dict().items():
        assert torch.equal(seats[1].mirror.policy.state_dict()[k], v)
        assert torch.equal(seats[1].past.pool[-1][k], v)
    everything = self_play_with_past_selves(_tiny_loqa(), num_envs=8)
    assert everything[1].mirror is None and everything[1].past.draws == 8  # anchors: one draw per game
    for bad in (0.0, 1.5, True):
        with pytest.raises(ValueError, match="share"):
            self_play_with_past_selves(_tiny_loqa(), num_envs=8, share=bad)
    with pytest.raises(ValueError, match="divide"):
        self_play_with_past_selves(_tiny_loqa(), num_envs=8, share=0.5, draws=3)


def test_two_learners_can_play_only_past_selves() -> None:
    seats = with_past_self_stand_ins([_tiny_loqa(0), _tiny_loqa(1)], num_envs=8, fraction=0.5, every=1, size=3)
    assert seats[0].stand_in_games == slice(0, 4) and seats[1].stand_in_games == slice(4, 8)
    venv = coin_game_env.make_vec("coin_game_v0", 8, seed=0, max_cycles=STEPS)
    batches = collect(venv, seats, STEPS)
    for i, seat in enumerate(seats):
        seat.learn(batches[i], batches[1 - i])
    assert all(len(seat.stand_in.pool) == 2 for seat in seats)
    with pytest.raises(ValueError, match="fraction"):
        with_past_self_stand_ins([_tiny_loqa(0), _tiny_loqa(1)], num_envs=8, fraction=0.6)
