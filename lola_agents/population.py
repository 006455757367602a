"""Population training: a learner whose seat is taken by a fixed stand-in in some games.

:class:`WithStandIn` wraps a learner for one seat: in the games ``stand_in_games``
of every batch a fixed agent (e.g. :class:`lola_agents.fixed.GreedyCoinAgent`)
plays instead of it, and the learner learns only from its own games. With
stand-ins in disjoint games of both seats (:func:`with_greedy_stand_ins`),
each learner meets its co-learner and a defector in the same batch, so a
reciprocal policy has to learn to tell them apart, i.e. to retaliate.
Self-play alone converges to pure cooperation that greedy then exploits
(docs/coin_game_lola.md); Duque et al. (2024) train Advantage Alignment
against a replay buffer of past agents for the same reason.

With ``mark_fixed_opponents=True`` the learner is also told which of its own
games were played against the other seat's stand-in: the batch it learns from
carries ``infos["opponent_learns"]`` (bool ``[T, n]``, False in those games).
:class:`lola_agents.learners.coin.CoinLOLAAgent` then drops its shaping term there:
LOLA's term is the gradient through the opponent's anticipated learning step,
and a fixed stand-in takes no step, so against it LOLA is the naive learner.

:class:`PastSelves` is a stand-in that plays frozen past versions of a
learner (a pool of policy snapshots, one drawn per batch), the "agent replay
buffer" of LOQA and advantage alignment: the co-learner keeps meeting the
less cooperative policies of earlier training, so it keeps seeing defections.

Only the learner is saved and evaluated: the wrapper forwards everything else
to it. The trainer's checkpoints hold the stand-in's state too (its
generator, its pool), so a resumed run continues bit-identically.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from lola_agents.rollout import Batch, sample_actions
from lola_agents.seeding import Stream, derive_seed, torch_generator
from lola_agents.trainer import in_memory_state, restore_in_memory_state


def _check_games(name: str, games: Any) -> None:
    if not (isinstance(games, slice) and games.step in (None, 1) and games.start is not None
            and 0 <= games.start < games.stop):
        raise ValueError(f"{name} must be a slice [start, stop) with 0 <= start < stop, got {games!r}")


class WithStandIn:
    """One seat: ``stand_in`` plays the games ``stand_in_games``, ``learner`` the rest.

    Args:
        learner: any Agent that learns (its ``learn`` sees only its own games).
        stand_in: a fixed Agent (its ``learn`` is never called).
        stand_in_games: game indices ``[start, stop)`` of the batch given to the stand-in.
        fixed_opponent_games: games ``[start, stop)`` in which the *opponent's* seat is
            a fixed stand-in; if given, the learner's batch carries
            ``infos["opponent_learns"]`` (False in those games).
    """

    def __init__(self, learner: Any, stand_in: Any, stand_in_games: slice,
                 fixed_opponent_games: slice | None = None) -> None:
        _check_games("stand_in_games", stand_in_games)
        if fixed_opponent_games is not None:
            _check_games("fixed_opponent_games", fixed_opponent_games)
        if fixed_opponent_games is not None and (
                fixed_opponent_games.start < stand_in_games.stop and stand_in_games.start < fixed_opponent_games.stop):
            raise ValueError(f"fixed_opponent_games {fixed_opponent_games} overlap stand_in_games {stand_in_games}: "
                             "a stand-in would play a stand-in")
        self.learner = learner
        self.stand_in = stand_in
        self.stand_in_games = stand_in_games
        self.fixed_opponent_games = fixed_opponent_games

    def __getattr__(self, name: str) -> Any:  # name, cfg, save, state_dict, ... of the learner
        learner = self.__dict__.get("learner")
        if learner is None:
            raise AttributeError(name)
        return getattr(learner, name)

    def _own_games(self, num_envs: int) -> torch.Tensor:
        if self.stand_in_games.stop > num_envs:
            raise ValueError(f"stand-in games {self.stand_in_games} do not fit a batch of {num_envs} games")
        own = torch.ones(num_envs, dtype=torch.bool)
        own[self.stand_in_games] = False
        return own.nonzero().squeeze(1)

    def assign_seat(self, agent_index: int) -> None:
        for agent in (self.learner, self.stand_in):
            if hasattr(agent, "assign_seat"):
                agent.assign_seat(agent_index)

    def set_opponent(self, opponent: Any) -> None:
        if hasattr(self.learner, "set_opponent"):
            self.learner.set_opponent(getattr(opponent, "learner", opponent))

    def initial_state(self, num_envs: int) -> tuple[Any, Any]:
        games = self.stand_in_games
        return self.learner.initial_state(num_envs), self.stand_in.initial_state(games.stop - games.start)

    def act(self, obs: np.ndarray, state: tuple[Any, Any], episode_starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
        """The learner acts in every game (its recurrent state stays whole); the stand-in's moves replace its own."""
        if state is None:
            state = self.initial_state(len(obs))
        learner_state, stand_in_state = state
        actions, log_probs, learner_state = self.learner.act(obs, learner_state, episode_starts)
        games = self.stand_in_games
        sub_actions, sub_log_probs, stand_in_state = self.stand_in.act(
            obs[games], stand_in_state, np.asarray(episode_starts)[games])
        actions, log_probs = np.array(actions), np.array(log_probs)
        actions[games], log_probs[games] = sub_actions, sub_log_probs
        return actions, log_probs, (learner_state, stand_in_state)

    def state_dict(self) -> dict[str, Any]:
        """The learner's state and the stand-in's (its generator, or its own ``state_dict``)."""
        return {"learner": self.learner.state_dict(), "stand_in": in_memory_state(self.stand_in)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.learner.load_state_dict(state["learner"])
        restore_in_memory_state(self.stand_in, state["stand_in"])

    def learn(self, batch: Batch, opponent_batch: Batch) -> dict[str, float]:
        """The learner's update from its own games only (the stand-in's games are dropped)."""
        own = self._own_games(batch.num_envs)
        mine, theirs = batch.select_games(own), opponent_batch.select_games(own)
        if self.fixed_opponent_games is not None:
            if self.fixed_opponent_games.stop > batch.num_envs:
                raise ValueError(f"fixed-opponent games {self.fixed_opponent_games} do not fit a batch of "
                                 f"{batch.num_envs} games")
            learns = torch.ones(batch.num_envs, dtype=torch.bool)
            learns[self.fixed_opponent_games] = False
            mine.infos["opponent_learns"] = learns[own].expand(batch.num_steps, -1)
        logs = self.learner.learn(mine, theirs)
        if hasattr(self.stand_in, "after_update"):  # e.g. PastSelves takes a new snapshot
            self.stand_in.after_update(self.learner)
        return logs


class PastSelves:
    """A stand-in that plays frozen past versions of ``learner``: the replay buffer of past selves.

    The buffer starts with the learner's initial policy; every ``every`` updates of the
    learner a snapshot of its policy joins it, and when it holds ``size`` snapshots the
    oldest leaves. Before each batch ``draws`` snapshots are drawn uniformly (with
    replacement) from the whole buffer, and the stand-in's games are split into ``draws``
    equal blocks of consecutive games, block ``j`` played by snapshot ``drawn[j]``.
    ``draws=1`` (the default) plays one snapshot in all its games; ``draws`` equal to the
    number of the stand-in's games gives every game its own snapshot, as LOQA and
    advantage alignment do (their buffer: ``every=10``, ``size=10_000``). Acting samples
    from a generator of its own.

    Cost: with ``draws > 1`` the drawn policies run as one batched call over their
    stacked weights (the network's own stacked step where it has one, as
    :class:`~lola_agents.policies.gru.CoinGRU`; ``torch.func.vmap`` otherwise), so each
    step reads ``draws`` copies of the policy's weights; the buffer keeps ``size`` copies
    in memory and in checkpoints.

    Args:
        learner: a coin-game learner with ``policy``, ``cfg`` and ``set_policy_weights``
            (:class:`~lola_agents.learners.lola.LOLAAgent`,
            :class:`~lola_agents.learners.loqa.LOQAAgent`); its architecture is copied.
        every: updates between snapshots (the snapshot interval), >= 1.
        size: capacity of the buffer (snapshots kept), >= 1.
        seed: seeds the draws and the action sampling (:mod:`lola_agents.seeding`).
        draws: snapshots drawn per batch, >= 1; it must divide the stand-in's games.
    """

    def __init__(self, learner: Any, every: int = 10, size: int = 20, seed: int = 0, draws: int = 1) -> None:
        for name, value in (("every", every), ("size", size), ("draws", draws)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.every, self.size, self.draws = every, size, draws
        self.player = type(learner)(learner.cfg, seed=seed)  # same network, own generator
        self.pool: list[dict[str, torch.Tensor]] = [self._snapshot(learner)]
        self.player.set_policy_weights(self.pool[0])
        self.generator = torch_generator(seed, Stream.SNAPSHOT_DRAW)
        self.updates_seen = 0
        self.drawn = [0] * draws
        self._stacked: dict[str, torch.Tensor] | None = None

    @property
    def current(self) -> int:
        """Index in :attr:`pool` of the snapshot playing the first block of games."""
        return self.drawn[0]

    @staticmethod
    def _snapshot(learner: Any) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in learner.policy.state_dict().items()}

    @property
    def name(self) -> str:
        return f"past {self.player.name}"

    def assign_seat(self, agent_index: int) -> None:
        self.player.assign_seat(agent_index)

    def initial_state(self, num_envs: int) -> Any:
        return self.player.initial_state(num_envs)

    def act(self, obs: np.ndarray, state: Any, episode_starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
        if self.draws == 1:
            return self.player.act(obs, state, episode_starts)
        return self._act_per_block(obs, state, episode_starts)

    def _act_per_block(self, obs: np.ndarray, state: Any, episode_starts: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, Any]:
        """Block ``j`` of the games acts with snapshot ``drawn[j]``: one vmapped call over the
        stacked weights (games reshaped ``[N] -> [draws, N / draws]``)."""
        games = len(obs)
        if games % self.draws:
            raise ValueError(f"{self.draws} past-self draws must divide the stand-in's {games} games")
        player = self.player
        # Networks whose step takes stacked weights run them directly (batched products, the
        # same bits as vmap, less overhead: benchmarks.loqa_speed --compare-vmap); others through vmap.
        direct = getattr(player.policy, "stacked_step", False)
        if self._stacked is None:
            prefix = "" if direct else "policy."
            self._stacked = {prefix + k: torch.stack([self.pool[i][k] for i in self.drawn]) for k in self.pool[0]}
        blocks = lambda tree: torch.utils._pytree.tree_map(  # noqa: E731
            lambda x: x.reshape(self.draws, games // self.draws, *x.shape[1:]), tree)
        joined = lambda tree: torch.utils._pytree.tree_map(lambda x: x.reshape(games, *x.shape[2:]), tree)  # noqa: E731
        with torch.no_grad():
            obs_t = player._canonical(torch.as_tensor(np.asarray(obs)), player.seat)
            starts = torch.as_tensor(np.asarray(episode_starts, dtype=bool))
            if state is None:
                state = player.policy.initial_state(games)

            if direct:
                logits, state = player.policy.step(blocks(obs_t), blocks(state), blocks(starts), self._stacked)
            else:
                stepper = _Stepper(player.policy)

                def step(params: dict[str, torch.Tensor], o: torch.Tensor, s: Any, e: torch.Tensor) -> Any:
                    return functional_call(stepper, params, (o, s, e))

                logits, state = torch.func.vmap(step)(self._stacked, blocks(obs_t), blocks(state), blocks(starts))
            actions, log_probs = sample_actions(joined(logits), player.generator)
        return actions, log_probs, joined(state)

    def after_update(self, learner: Any) -> None:
        """Called once per learner update: maybe snapshot it, then draw the next players."""
        self.updates_seen += 1
        if self.updates_seen % self.every == 0:
            self.pool.append(self._snapshot(learner))
            del self.pool[:-self.size]
        self.drawn = [int(i) for i in torch.randint(len(self.pool), (self.draws,), generator=self.generator)]
        self._play_drawn()

    def _play_drawn(self) -> None:
        self.player.set_policy_weights(self.pool[self.drawn[0]])
        self._stacked = None  # rebuilt from the new draws at the next step

    def state_dict(self) -> dict[str, Any]:
        state = {"pool": list(self.pool), "current": self.current, "updates_seen": self.updates_seen,
                 "generator": self.generator.get_state(), "player_generator": self.player.generator.get_state()}
        if self.draws > 1:
            state["drawn"] = list(self.drawn)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pool = [dict(p) for p in state["pool"]]
        drawn = [int(i) for i in state.get("drawn", [state["current"]])]
        if not pool or len(pool) > self.size or len(drawn) != self.draws or not all(0 <= i < len(pool) for i in drawn):
            raise ValueError(f"a past-selves state must hold 1 to {self.size} snapshots and {self.draws} draws "
                             f"indexing them, got {len(pool)} snapshots and draws {drawn}")
        self.pool, self.drawn = pool, drawn
        self.updates_seen = int(state["updates_seen"])
        self.generator.set_state(state["generator"])
        self.player.generator.set_state(state["player_generator"])
        self._play_drawn()


class _Stepper(nn.Module):
    """Calls ``policy.step`` (so ``functional_call`` evaluates one acting step)."""

    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, obs: torch.Tensor, state: Any, episode_starts: torch.Tensor) -> Any:
        return self.policy.step(obs, state, episode_starts)


class SelfPlayOpponent:
    """The other seat of a learner's self-play against its replay buffer of past selves.

    In the first ``past_games`` games of each batch a snapshot drawn from ``past`` plays
    (:class:`PastSelves`); in the rest a mirror holding the learner's current policy
    plays (LOQA's ``cur_agent_frac``). It never learns: after each update of the learner
    (the trainer calls this seat's ``learn`` after the learner's) it copies the
    learner's new policy into the mirror and lets ``past`` take its snapshot and draw.

    Args:
        learner: the learner of the other seat.
        past: the buffer of the learner's past selves.
        past_games: games played by a snapshot, 1 to ``num_envs``.
        num_envs: games per batch.
        mirror_seed: seeds the mirror's action sampling.
    """

    def __init__(self, learner: Any, past: PastSelves, past_games: int, num_envs: int, mirror_seed: int) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or not 1 <= past_games <= num_envs:
            raise ValueError(f"past_games must be in [1, num_envs={num_envs!r}], got {past_games!r}")
        if past_games % past.draws:
            raise ValueError(f"{past.draws} past-self draws must divide the {past_games} games of past selves")
        self.learner, self.past = learner, past
        self.past_games, self.num_envs = past_games, num_envs
        self.mirror = type(learner)(learner.cfg, seed=mirror_seed) if past_games < num_envs else None
        if self.mirror is not None:
            self.mirror.set_policy_weights(PastSelves._snapshot(learner))

    @property
    def name(self) -> str:
        return self.past.name

    def assign_seat(self, agent_index: int) -> None:
        for agent in (self.past, self.mirror):
            if agent is not None:
                agent.assign_seat(agent_index)

    def initial_state(self, num_envs: int) -> tuple[Any, Any]:
        self._check_num_envs(num_envs)
        mirror = None if self.mirror is None else self.mirror.initial_state(num_envs - self.past_games)
        return self.past.initial_state(self.past_games), mirror

    def _check_num_envs(self, num_envs: int) -> None:
        if num_envs != self.num_envs:
            raise ValueError(f"this self-play seat was built for batches of {self.num_envs} games, got {num_envs}")

    def act(self, obs: np.ndarray, state: tuple[Any, Any], episode_starts: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, Any]:
        if state is None:
            state = self.initial_state(len(obs))
        self._check_num_envs(len(obs))
        k = self.past_games
        starts = np.asarray(episode_starts)
        actions, log_probs, past_state = self.past.act(obs[:k], state[0], starts[:k])
        if self.mirror is None:
            return actions, log_probs, (past_state, None)
        more_actions, more_log_probs, mirror_state = self.mirror.act(obs[k:], state[1], starts[k:])
        return (np.concatenate([actions, more_actions]), np.concatenate([log_probs, more_log_probs]),
                (past_state, mirror_state))

    def learn(self, batch: Batch, opponent_batch: Batch) -> dict[str, float]:
        """No learning: follow the learner (mirror) and let the buffer snapshot and draw."""
        if self.mirror is not None:
            self.mirror.set_policy_weights(PastSelves._snapshot(self.learner))
        self.past.after_update(self.learner)
        return {"past_self_buffer": float(len(self.past.pool))}

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"past": self.past.state_dict()}
        if self.mirror is not None:
            state["mirror_policy"] = PastSelves._snapshot(self.mirror)
            state["mirror_generator"] = self.mirror.generator.get_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.past.load_state_dict(state["past"])
        if self.mirror is not None:
            self.mirror.set_policy_weights(state["mirror_policy"])
            self.mirror.generator.set_state(state["mirror_generator"])


def self_play_with_past_selves(learner: Any, num_envs: int, share: float = 1.0, every: int = 10,
                               size: int = 10_000, seed: int = 0, draws: int | None = None) -> list[Any]:
    """The anchors' protocol (LOQA, advantage alignment): ``learner`` in seat 0 of every game,
    seat 1 a snapshot drawn uniformly from its replay buffer of past selves in a share
    ``share`` of the games (the first ones) and its current policy in the rest.

    Args:
        learner: a coin-game learner (see :class:`PastSelves`); it learns from all its games.
        num_envs: games per batch.
        share: share of the learner's games against a snapshot, in (0, 1] (anchors: 1.0).
        every, size: snapshot interval and capacity (anchors: 10 and 10,000).
        seed: the stand-ins' seed; the buffer uses ``derive_seed(seed, 0)``, the mirror
            of the current policy ``derive_seed(seed, 1)`` (:mod:`lola_agents.seeding`).
        draws: snapshots drawn per batch (default: one per game, as the anchors).

    Returns:
        ``[seat 0, seat 1]`` for :func:`lola_agents.trainer.train`.
    """
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise ValueError(f"the past-self share must be in (0, 1], got {share!r}")
    past_games = max(1, round(share * num_envs))
    past = PastSelves(learner, every, size, seed=derive_seed(seed, 0), draws=past_games if draws is None else draws)
    return [learner, SelfPlayOpponent(learner, past, past_games, num_envs, mirror_seed=derive_seed(seed, 1))]


def with_greedy_stand_ins(learners: list[Any], num_envs: int, fraction: float, seed: int = 0,
                          mark_fixed_opponents: bool = False) -> list[WithStandIn]:
    """Both seats wrapped: greedy plays seat 0 in the first ``fraction`` of the games and
    seat 1 in the next ``fraction``, so each learner meets greedy in that share of all games.

    ``fraction`` in (0, 0.5); ``mark_fixed_opponents``: tell each learner which of its
    games were against greedy (``infos["opponent_learns"]``, see the module doc).
    Returns ``[seat 0, seat 1]``.
    """
    from lola_agents.fixed import GreedyCoinAgent

    if isinstance(fraction, int | float) and fraction == 0.5:  # the learners would only ever meet greedy
        raise ValueError(f"the greedy stand-in fraction must be in (0, 0.5), got {fraction!r}")
    return with_stand_ins(learners, num_envs, fraction, [GreedyCoinAgent(seed=derive_seed(seed, k)) for k in (0, 1)],
                          mark_fixed_opponents)


def with_past_self_stand_ins(learners: list[Any], num_envs: int, fraction: float, every: int = 10,
                             size: int = 20, seed: int = 0, draws: int = 1) -> list[WithStandIn]:
    """Both seats wrapped with :class:`PastSelves` of their own learner: in a share
    ``fraction`` of the batch's games each learner meets a past version of its co-learner
    (a share ``fraction / (1 - fraction)`` of its own games; ``fraction = 0.5``: all of them,
    the learners never meet live). ``every``, ``size``, ``draws``: see :class:`PastSelves`."""
    stand_ins = [PastSelves(learner, every, size, seed=derive_seed(seed, i), draws=draws)
                 for i, learner in enumerate(learners)]
    return with_stand_ins(learners, num_envs, fraction, stand_ins)


def with_stand_ins(learners: list[Any], num_envs: int, fraction: float, stand_ins: list[Any],
                   mark_fixed_opponents: bool = False) -> list[WithStandIn]:
    """``stand_ins[0]`` plays seat 0 in the first ``fraction`` of the games, ``stand_ins[1]``
    seat 1 in the next ``fraction``; ``fraction`` in (0, 0.5]. Returns ``[seat 0, seat 1]``."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction <= 0.5:
        raise ValueError(f"the stand-in fraction must be in (0, 0.5], got {fraction!r}")
    games = max(1, round(fraction * num_envs))
    first, second = slice(0, games), slice(games, 2 * games)
    return [WithStandIn(learners[0], stand_ins[0], first, second if mark_fixed_opponents else None),
            WithStandIn(learners[1], stand_ins[1], second, first if mark_fixed_opponents else None)]
