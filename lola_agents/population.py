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

from lola_agents.rollout import Batch
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
    """A stand-in that plays frozen past versions of ``learner``.

    Every ``every`` updates of the learner a snapshot of its policy joins a pool of
    at most ``size`` (the oldest leaves); before each batch one snapshot is drawn
    uniformly from the pool and plays. The pool starts with the learner's
    initial policy. Acting samples from a generator of its own.

    Args:
        learner: a :class:`~lola_agents.learners.lola.LOLAAgent` (its architecture is copied).
        every: updates between snapshots, >= 1.
        size: pool size, >= 1.
        seed: seeds the draws and the action sampling.
    """

    def __init__(self, learner: Any, every: int = 10, size: int = 20, seed: int = 0) -> None:
        from lola_agents.learners.lola import LOLAAgent

        for name, value in (("every", every), ("size", size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.every, self.size = every, size
        self.player = LOLAAgent(learner.cfg, seed=seed)  # same network, own generator
        self.pool: list[dict[str, torch.Tensor]] = [self._snapshot(learner)]
        self.player.set_policy_weights(self.pool[0])
        self.generator = torch_generator(seed, Stream.SNAPSHOT_DRAW)
        self.updates_seen = 0
        self.current = 0

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
        return self.player.act(obs, state, episode_starts)

    def after_update(self, learner: Any) -> None:
        """Called once per learner update: maybe snapshot it, then draw the next player."""
        self.updates_seen += 1
        if self.updates_seen % self.every == 0:
            self.pool.append(self._snapshot(learner))
            del self.pool[:-self.size]
        self.current = int(torch.randint(len(self.pool), (1,), generator=self.generator))
        self.player.set_policy_weights(self.pool[self.current])

    def state_dict(self) -> dict[str, Any]:
        return {"pool": list(self.pool), "current": self.current, "updates_seen": self.updates_seen,
                "generator": self.generator.get_state(), "player_generator": self.player.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pool = [dict(p) for p in state["pool"]]
        self.current, self.updates_seen = int(state["current"]), int(state["updates_seen"])
        self.generator.set_state(state["generator"])
        self.player.generator.set_state(state["player_generator"])
        self.player.set_policy_weights(self.pool[self.current])


def with_greedy_stand_ins(learners: list[Any], num_envs: int, fraction: float, seed: int = 0,
                          mark_fixed_opponents: bool = False) -> list[WithStandIn]:
    """Both seats wrapped: greedy plays seat 0 in the first ``fraction`` of the games and
    seat 1 in the next ``fraction``, so each learner meets greedy in that share of all games.

    ``fraction`` in (0, 0.5); ``mark_fixed_opponents``: tell each learner which of its
    games were against greedy (``infos["opponent_learns"]``, see the module doc).
    Returns ``[seat 0, seat 1]``.
    """
    from lola_agents.fixed import GreedyCoinAgent

    return with_stand_ins(learners, num_envs, fraction, [GreedyCoinAgent(seed=derive_seed(seed, k)) for k in (0, 1)],
                          mark_fixed_opponents)


def with_past_self_stand_ins(learners: list[Any], num_envs: int, fraction: float, every: int = 10,
                             size: int = 20, seed: int = 0) -> list[WithStandIn]:
    """Both seats wrapped with :class:`PastSelves` of their own learner: in a share
    ``fraction`` of the games each learner meets a past version of its co-learner."""
    stand_ins = [PastSelves(learner, every, size, seed=derive_seed(seed, i)) for i, learner in enumerate(learners)]
    return with_stand_ins(learners, num_envs, fraction, stand_ins)


def with_stand_ins(learners: list[Any], num_envs: int, fraction: float, stand_ins: list[Any],
                   mark_fixed_opponents: bool = False) -> list[WithStandIn]:
    """``stand_ins[0]`` plays seat 0 in the first ``fraction`` of the games, ``stand_ins[1]``
    seat 1 in the next ``fraction``; ``fraction`` in (0, 0.5). Returns ``[seat 0, seat 1]``."""
    if not 0 < fraction < 0.5:
        raise ValueError(f"the stand-in fraction must be in (0, 0.5), got {fraction!r}")
    games = max(1, round(fraction * num_envs))
    first, second = slice(0, games), slice(games, 2 * games)
    return [WithStandIn(learners[0], stand_ins[0], first, second if mark_fixed_opponents else None),
            WithStandIn(learners[1], stand_ins[1], second, first if mark_fixed_opponents else None)]
