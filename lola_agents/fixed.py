"""Fixed strategies behind the rollout :class:`~lola_agents.rollout.Agent` protocol.

Matrix games (ipd_v0, imp_v0, ...; obs = own-perspective previous joint action
``2*my + other``, start = 4, action 0 = cooperate / heads):

=====================  ===================================================
:class:`Memory1Agent`  any memory-1 table: P(action 0) per state, given in
                       the order ``[CC, CD, DC, DD, start]`` (= observation index)
:class:`AlwaysCooperate`  P(action 0) = 1 everywhere (AllC)
:class:`AlwaysDefect`  P(action 0) = 0 everywhere (AllD)
:class:`TitForTat`     cooperate first, then copy the opponent's last action
:class:`RandomMatrixAgent`  P(action 0) = 0.5 everywhere
=====================  ===================================================

Coin game (coin_game_v0; planes ``[red agent, blue agent, red coin, blue coin]``,
or ``[me, other, my coin, other's coin]`` with ``egocentric=True``; actions
right, left, down, up on a torus):

=====================  ===================================================
:class:`RandomCoinAgent`  uniform over the 4 moves
:class:`GreedyCoinAgent`  a shortest move to the coin, whatever its colour
:class:`AlwaysDefectCoinAgent`  always-defect of the LOQA league protocol: the
                       same moves, under the name the league uses
:class:`OwnCoinAgent`  a shortest move to its own coin; when the coin is the
                       other's, a random move that does not step onto it
:class:`TitForTatCoinAgent`  own-coin, but greedy for a few steps after the
                       opponent takes one of its coins (the coin game's
                       reciprocal strategy; stateful)
=====================  ===================================================

Ties between equally good moves are broken uniformly at random; ``log_probs``
are the exact log-probabilities of the chosen actions. Randomness comes from
``seed`` (or :meth:`reseed`), so evaluations are reproducible. Coin-game
agents need their seat to read the shared planes: :class:`~lola_agents.rollout.Rollout`
tells them through :meth:`assign_seat`.

Their names (``AllC``, ``AllD``, ``TFT``, ``random-matrix``, ``random-coin``, ``greedy``,
``always-defect``, ``own-coin``, ``tft-coin``) are registered once, in :data:`lola_agents.agents.AGENTS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from coin_game_env import coin_game
from lola_agents.rollout import BaseAgent

# Matrix-game observation indices (coin_game_env.matrix_game): CC, CD, DC, DD, start.
NUM_MATRIX_STATES = 5
MATRIX_START_STATE = 4

# Coin-game moves as (row, col) steps, indexed by action.
# The four moves of the coin game's rules (no stay), read from the game itself.
COIN_MOVES = np.array(coin_game.MOVES[:4], dtype=np.int64)
COIN_ACTION_NAMES = coin_game.ACTION_NAMES[:4]


class SeededAgent(BaseAgent):
    """A fixed strategy with its own numpy generator."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed: int | None) -> None:
        """Restart the generator from ``seed`` (used by ``evaluate`` for reproducible runs)."""
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class Memory1Agent(SeededAgent):
    """Memory-1 strategy for iterated 2x2 games.

    Args:
        p_action0: probability of action 0 (cooperate / heads) in each state, in
            the package's memory-1 order = observation index ``[CC, CD, DC, DD, start]``
            (own perspective: my previous action first), as in ``lola_agents.exact``.
        seed: seed of the sampling generator.
    """

    def __init__(self, p_action0: Sequence[float], seed: int | None = None) -> None:
        super().__init__(seed)
        probs = np.asarray(p_action0, dtype=np.float64)
        if probs.shape != (NUM_MATRIX_STATES,):
            raise ValueError(
                f"p_action0 must hold 5 probabilities [CC, CD, DC, DD, start], got shape {probs.shape}"
            )
        if not np.all((probs >= 0.0) & (probs <= 1.0)):
            raise ValueError(f"p_action0 must be probabilities in [0, 1], got {probs.tolist()}")
        self.p_action0 = probs
        self.p_action0_by_obs = probs  # the order is the observation index: no permutation

    def act(
        self, obs: np.ndarray, state: Any, episode_starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        states = matrix_state_index(obs)
        p0 = self.p_action0_by_obs[states]
        actions = (self.rng.random(len(states)) >= p0).astype(np.int64)
        probs = np.where(actions == 0, p0, 1.0 - p0)
        return actions, np.log(probs).astype(np.float32), state

    def config(self) -> dict[str, Any]:
        return {"p_action0": self.p_action0.tolist(), "seed": self.seed}


class AlwaysCooperate(Memory1Agent):
    """AllC: action 0 in every state."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__([1.0] * 5, seed)

    def config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class AlwaysDefect(Memory1Agent):
    """AllD: action 1 in every state."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__([0.0] * 5, seed)

    def config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class TitForTat(Memory1Agent):
    """TFT: cooperate at the start, then repeat the opponent's previous action."""

    def __init__(self, seed: int | None = None) -> None:
        #            CC   CD   DC   DD  start  (opponent's last action is the 2nd letter)
        super().__init__([1.0, 0.0, 1.0, 0.0, 1.0], seed)

    def config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class RandomMatrixAgent(Memory1Agent):
    """Uniformly random: P(action 0) = 0.5 in every state."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__([0.5] * 5, seed)

    def config(self) -> dict[str, Any]:
        return {"seed": self.seed}


def matrix_state_index(obs: np.ndarray) -> np.ndarray:
    """State index int64 ``[N]`` from matrix-game obs: ints ``[N]`` or one-hot ``[N, 5]``."""
    obs = np.asarray(obs)
    if obs.ndim == 2 and obs.shape[1] == NUM_MATRIX_STATES:
        return obs.argmax(axis=1).astype(np.int64)
    if obs.ndim != 1:
        raise ValueError(f"matrix-game obs must be [N] ints or [N, 5] one-hot, got shape {obs.shape}")
    return obs.astype(np.int64, copy=False)


class CoinGameAgent(SeededAgent):
    """Base of the coin-game strategies: reads positions from the obs planes.

    Args:
        player_index: seat (0 = red, 1 = blue), fixed for the agent's life; None
            (default): the seat the rollout assigns, so the same agent may play
            either colour in different games.
        egocentric: the env was made with ``egocentric=True`` (planes
            ``[me, other, my coin, other's coin]``).
        seed: seed of the tie-breaking generator.
    """

    def __init__(
        self, player_index: int | None = None, egocentric: bool = False, seed: int | None = None
    ) -> None:
        super().__init__(seed)
        if player_index not in (None, 0, 1):
            raise ValueError(f"player_index must be 0, 1 or None, got {player_index!r}")
        self.fixed_seat = player_index
        self.player_index = player_index
        self.egocentric = bool(egocentric)

    def assign_seat(self, agent_index: int) -> None:
        if self.fixed_seat is not None and self.fixed_seat != agent_index:
            raise ValueError(
                f"{type(self).__name__} was built for seat {self.fixed_seat} but plays seat {agent_index}"
            )
        self.player_index = agent_index

    def config(self) -> dict[str, Any]:
        return {"player_index": self.fixed_seat, "egocentric": self.egocentric, "seed": self.seed}

    def _positions(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Read obs ``[N, 4, H, W]`` (planes; ``[N, 4*H*W]`` flat obs must be reshaped first).

        Returns ``(next_cells, dist_mine, dist_other, grid)``: ``next_cells`` int64
        ``[N, 4, 2]`` the (row, col) each move leads to; ``dist_mine`` / ``dist_other``
        float ``[N, 4]`` torus distance from there to my / the other's coin
        (inf where that coin is not on the board); grid = (H, W).
        """
        if obs.ndim != 4 or obs.shape[1] != 4:
            raise ValueError(f"coin-game obs must be [N, 4, H, W] planes, got shape {obs.shape}")
        if self.egocentric:
            me, my_coin, other_coin = 0, 2, 3
        else:
            if self.player_index is None:
                raise RuntimeError(
                    f"{type(self).__name__} needs its seat: pass player_index or play it through Rollout"
                )
            me, my_coin, other_coin = self.player_index, 2 + self.player_index, 3 - self.player_index
        n, _, h, w = obs.shape
        grid = np.array([h, w])
        flat = obs.reshape(n, 4, h * w)
        my_cell = flat[:, me].argmax(axis=1)
        my_pos = np.stack([my_cell // w, my_cell % w], axis=1)
        next_cells = (my_pos[:, None, :] + COIN_MOVES[None]) % grid

        def distances(plane: int) -> np.ndarray:
            cell = flat[:, plane].argmax(axis=1)
            present = flat[np.arange(n), plane, cell] > 0
            pos = np.stack([cell // w, cell % w], axis=1)
            dist = torus_distance(next_cells, pos[:, None, :], grid).astype(np.float64)
            return np.where(present[:, None], dist, np.inf)

        return next_cells, distances(my_coin), distances(other_coin), grid

    def _sample(self, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Uniform choice among allowed moves (bool ``[N, 4]``, at least one per row)."""
        scores = np.where(allowed, self.rng.random(allowed.shape), -1.0)
        actions = scores.argmax(axis=1).astype(np.int64)
        log_probs = -np.log(allowed.sum(axis=1)).astype(np.float32)
        return actions, log_probs


def torus_distance(a: np.ndarray, b: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Fewest moves between cells ``a`` and ``b`` (``[..., 2]`` row, col) on a torus of ``grid``."""
    delta = np.abs(a - b) % grid
    return np.minimum(delta, grid - delta).sum(axis=-1)


def _nearest(dist: np.ndarray) -> np.ndarray:
    """bool ``[N, 4]``: the moves that minimise ``dist`` (all moves where it is inf)."""
    return dist == dist.min(axis=1, keepdims=True)


def _greedy_moves(dist_mine: np.ndarray, dist_other: np.ndarray) -> np.ndarray:
    """bool ``[N, 4]``: the shortest moves to the nearest coin, whatever its colour."""
    return _nearest(np.minimum(dist_mine, dist_other))


def _own_coin_moves(dist_mine: np.ndarray, dist_other: np.ndarray) -> np.ndarray:
    """bool ``[N, 4]``: the shortest moves to my coin that do not step onto the other's;
    while only the other's coin is out, every move that avoids it."""
    safe = dist_other > 0  # all True when the other's coin is absent (inf)
    towards_safe = _nearest(np.where(safe, dist_mine, np.inf)) & safe
    return np.where(towards_safe.any(axis=1, keepdims=True), towards_safe, safe)


class RandomCoinAgent(CoinGameAgent):
    """Uniformly random moves (never the optional stay action)."""

    def act(
        self, obs: np.ndarray, state: Any, episode_starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        n = len(obs)
        actions = self.rng.integers(0, len(COIN_MOVES), n).astype(np.int64)
        return actions, np.full(n, -np.log(len(COIN_MOVES)), dtype=np.float32), state

    def assign_seat(self, agent_index: int) -> None:
        self.player_index = agent_index  # the seat does not matter to a random agent


class GreedyCoinAgent(CoinGameAgent):
    """Takes a shortest move towards the nearest coin, whatever its colour."""

    def act(
        self, obs: np.ndarray, state: Any, episode_starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        _, dist_mine, dist_other, _ = self._positions(obs)
        actions, log_probs = self._sample(_greedy_moves(dist_mine, dist_other))
        return actions, log_probs, state


class AlwaysDefectCoinAgent(GreedyCoinAgent):
    """Always-defect (AD) of the coin-game league protocol (LOQA, Aghajohari et al. 2024):
    every step, a move along a shortest wrapped (torus) path to the coin, whatever its
    colour; when several moves are equally short, one of them uniformly at random.

    On a 3x3 torus each axis is at most one move from the coin, so a tie is only ever
    "one row move or one column move" (probability 1/2 each); on an even grid a coin half
    way round an axis adds both directions along it to the tie.

    How it differs from :class:`GreedyCoinAgent`: it does not. In every setting of
    ``coin_game_v0`` the two allow the same moves with the same probabilities:

    * one coin (the default and the protocol's game): the shortest moves to it, ties
      uniform, in both;
    * ``num_coins=2`` (not part of the protocol): both head for the nearer coin and,
      when the two coins are equally near, draw uniformly among the moves that are
      shortest to either;
    * ``stay_action=True``: neither ever stays (the coin never lies under an agent:
      it respawns off both agents at once after a pickup).

    It is a class of its own so that evaluations name the protocol they follow (the
    league's fixed opponents are always-defect, always-own-coin, random and coin
    tit-for-tat) and so that its tests pin the protocol: a change to the greedy
    agent's rule would show up there.
    """


class OwnCoinAgent(CoinGameAgent):
    """Takes a shortest move to its own coin and never steps onto the other's coin;
    while only the other's coin is out, a random move that avoids it."""

    def act(
        self, obs: np.ndarray, state: Any, episode_starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        _, dist_mine, dist_other, _ = self._positions(obs)
        actions, log_probs = self._sample(_own_coin_moves(dist_mine, dist_other))
        return actions, log_probs, state


class TitForTatCoinAgent(CoinGameAgent):
    """Coin-game tit-for-tat: plays :class:`OwnCoinAgent` until the opponent takes one of
    its coins, then :class:`GreedyCoinAgent` for ``retaliation_steps`` steps (counting the
    step it sees the theft), then cooperates again.

    A theft is read off two consecutive observations: the opponent now stands where my
    coin stood before the move (a pickup always happens on the step it is made).

    Args:
        retaliation_steps: steps of greedy play after each theft, >= 1; None = for the rest
            of the episode (grim trigger).
        player_index, egocentric, seed: as :class:`CoinGameAgent`.

    State per game: ``(previous obs [N, 4, H, W], steps since the last theft [N], -1 = none)``.
    """

    def __init__(
        self, retaliation_steps: int | None = 3, player_index: int | None = None,
        egocentric: bool = False, seed: int | None = None,
    ) -> None:
        super().__init__(player_index, egocentric, seed)
        if retaliation_steps is not None and (isinstance(retaliation_steps, bool)
                                              or not isinstance(retaliation_steps, int) or retaliation_steps < 1):
            raise ValueError(f"retaliation_steps must be an integer >= 1 or None, got {retaliation_steps!r}")
        self.retaliation_steps = retaliation_steps

    def config(self) -> dict[str, Any]:
        return {**super().config(), "retaliation_steps": self.retaliation_steps}

    def initial_state(self, num_envs: int) -> None:
        return None  # built on the first observation (its board size)

    def act(
        self, obs: np.ndarray, state: Any, episode_starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        _, dist_mine, dist_other, _ = self._positions(obs)
        n = len(obs)
        starts = np.asarray(episode_starts, dtype=bool)
        if state is None:
            state = (np.zeros_like(obs), np.full(n, -1, dtype=np.int64))
            starts = np.ones(n, dtype=bool)
        prev_obs, since_theft = state
        if self.egocentric:
            other, my_coin = 1, 2
        else:
            other, my_coin = 1 - self.player_index, 2 + self.player_index
        flat, prev_flat = obs.reshape(n, 4, -1), prev_obs.reshape(n, 4, -1)
        other_cell = flat[:, other].argmax(axis=1)
        theft = (prev_flat[np.arange(n), my_coin, other_cell] > 0) & ~starts
        since_theft = np.where(starts, -1, since_theft)
        since_theft = np.where(theft, 0, np.where(since_theft >= 0, since_theft + 1, -1))
        angry = since_theft >= 0
        if self.retaliation_steps is not None:
            angry &= since_theft < self.retaliation_steps
        allowed = np.where(angry[:, None], _greedy_moves(dist_mine, dist_other), _own_coin_moves(dist_mine, dist_other))
        actions, log_probs = self._sample(allowed)
        return actions, log_probs, (np.array(obs, copy=True), since_theft)

