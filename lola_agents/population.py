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
:class:`lola_agents.coin_lola.CoinLOLAAgent` then drops its shaping term there:
LOLA's term is the gradient through the opponent's anticipated learning step,
and a fixed stand-in takes no step, so against it LOLA is the naive learner.

Only the learner is saved, checkpointed and evaluated: the wrapper forwards
everything else to it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lola_agents.rollout import Batch


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
        for name, games in (("stand_in_games", stand_in_games), ("fixed_opponent_games", fixed_opponent_games)):
            if games is None and name == "fixed_opponent_games":
                continue
            if not (isinstance(games, slice) and games.step in (None, 1) and games.start is not None
                    and 0 <= games.start < games.stop):
                raise ValueError(f"{name} must be a slice [start, stop) with 0 <= start < stop, got {games!r}")
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
        return self.learner.learn(mine, theirs)


def with_greedy_stand_ins(learners: list[Any], num_envs: int, fraction: float, seed: int = 0,
                          mark_fixed_opponents: bool = False) -> list[WithStandIn]:
    """Both seats wrapped: greedy plays seat 0 in the first ``fraction`` of the games and
    seat 1 in the next ``fraction``, so each learner meets greedy in that share of all games.

    ``fraction`` in (0, 0.5); ``mark_fixed_opponents``: tell each learner which of its
    games were against greedy (``infos["opponent_learns"]``, see the module doc).
    Returns ``[seat 0, seat 1]``.
    """
    from lola_agents.fixed import GreedyCoinAgent

    if not 0 < fraction < 0.5:
        raise ValueError(f"the stand-in fraction must be in (0, 0.5), got {fraction!r}")
    games = max(1, round(fraction * num_envs))
    first, second = slice(0, games), slice(games, 2 * games)
    return [WithStandIn(learners[0], GreedyCoinAgent(seed=seed), first, second if mark_fixed_opponents else None),
            WithStandIn(learners[1], GreedyCoinAgent(seed=seed + 1), second, first if mark_fixed_opponents else None)]
