"""Coin-game networks for the sampled learners (``lola_agents.learners.coin``).

Two networks, both behind one interface so a learner can evaluate them at any
parameters (``torch.func.functional_call``) for look-ahead and shaping terms:

==================  =========================================================
:class:`CoinConvGRU`  the LOLA paper's network: two 3x3 convolutions of 20
                    filters (circular padding: the board is a torus), a GRU
                    core of 32 units, a linear head (4 logits, or values)
:class:`CoinMLP`    the fast option: an MLP that sees the current and the
                    previous observation(s) and both agents' moves between them
==================  =========================================================

Interface (T = steps, N = games, F = encoded features):

* ``encode(obs [T, N, 4, g, g], episode_starts bool [T, N]) -> [T, N, F]``:
  parameter-free preprocessing, done once per update;
* ``forward(encoded [T, N, F], episode_starts [T, N]) -> [T, N, num_outputs]``:
  the whole sequence; every sequence must begin at an episode start (the
  recurrent state starts at zero there);
* ``initial_state(N)`` and ``step(obs [N, 4, g, g], state, episode_starts [N])
  -> (outputs [N, num_outputs], new_state)``: one step while acting.

Observations are *canonical*: planes ``[me, other, my coin, other's coin]``.
:func:`canonical_obs` turns the shared view of the paper (``[red, blue, red
coin, blue coin]``, the same tensor for both seats) into it, which is a fixed
permutation of the input for a given seat, so a network trained as red can
play blue.

Memory: a learner bounds the graph of one update by running the network over
slices of games (``chunk_games``); every objective is a mean over games, so
the summed slice gradients equal the full-batch gradients exactly (tested).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

NUM_PLANES = 4
# (row, col) step of each action, as in coin_game_env.coin_game (index 4 = stay).
MOVES = ((0, 1), (0, -1), (1, 0), (-1, 0), (0, 0))
_SWAP_SEAT = torch.tensor([1, 0, 3, 2])


def canonical_obs(obs: torch.Tensor, seat: int, egocentric_env: bool = False) -> torch.Tensor:
    """Planes ``[me, other, my coin, other's coin]`` from the env's view.

    Args:
        obs: ``[..., 4, g, g]`` (or flat ``[..., 4*g*g]``, reshaped by the caller).
        seat: 0 (red) or 1 (blue).
        egocentric_env: the env already gives egocentric planes.
    """
    if egocentric_env or seat == 0:
        return obs
    return obs.index_select(-3, _SWAP_SEAT)  # = obs[..., [1, 0, 3, 2], :, :], a faster kernel


def log_softmax_no_grad(logits: torch.Tensor) -> torch.Tensor:
    """``torch.log_softmax(logits, dim=-1)`` for ``[..., A]`` logits that need no gradient,
    computed over the first axis of a transposed copy: torch's kernel over a last axis as
    short as A = 4 or 5 is several times slower, and the values are the same bits (its
    second derivative is not, hence only without gradient)."""
    return torch.log_softmax(logits.movedim(-1, 0).contiguous(), dim=0).movedim(0, -1).contiguous()


def move_table(grid_size: int, num_actions: int) -> torch.Tensor:
    """float32 ``[g*g, num_actions]``: row ``dr*g + dc`` is the one-hot of the moves
    with displacement (dr, dc) mod g (two moves coincide only on grids below 3)."""
    table = torch.zeros(grid_size * grid_size, num_actions)
    for action, (dr, dc) in enumerate(MOVES[:num_actions]):
        table[(dr % grid_size) * grid_size + dc % grid_size, action] = 1.0
    return table


def cell_pair_move_table(grid_size: int, num_actions: int) -> torch.Tensor:
    """float32 ``[g^4, num_actions]``: row ``previous_cell * g*g + cell`` is the row of
    :func:`move_table` for the displacement from ``previous_cell`` to ``cell`` on the torus
    (one lookup per agent instead of the modular arithmetic on every step)."""
    g = grid_size
    cells = torch.arange(g * g)
    previous, current = cells.repeat_interleave(g * g), cells.repeat(g * g)
    delta = ((current // g - previous // g) % g) * g + (current % g - previous % g) % g
    return move_table(grid_size, num_actions)[delta]


def agent_cells(obs: torch.Tensor) -> torch.Tensor:
    """int64 ``[..., 2]``: the cell (row * g + column) of each agent from planes ``[..., 4, g, g]``
    (the first cell of the plane's maximum: 0 in an all-zero frame)."""
    return obs[..., :2, :, :].flatten(-2).argmax(-1)


class CoinMLP(nn.Module):
    """Fast coin-game network: MLP over the observation, the ``history`` previous
    observations and both agents' moves between them.

    The moves are read off consecutive observations (each agent's displacement
    on the torus), so acting and learning compute the same features from
    observations alone. ``history=1`` (the default) sees one step back; a
    longer history lets the policy remember for a few steps what the opponent
    did (e.g. that it took my coin), which a reciprocal strategy needs.

    Args:
        grid_size: board side g.
        num_actions: 4 (5 with the stay action).
        num_outputs: logits (``num_actions``) or values.
        hidden: hidden layer widths.
        history: previous observations seen, >= 1.
    """

    recurrent = False

    def __init__(
        self,
        grid_size: int = 3,
        num_actions: int = 4,
        num_outputs: int = 4,
        hidden: Sequence[int] = (64, 64),
        history: int = 1,
    ) -> None:
        super().__init__()
        if not isinstance(history, int) or history < 1:
            raise ValueError(f"history must be an integer >= 1, got {history!r}")
        self.grid_size, self.num_actions, self.history = grid_size, num_actions, history
        self.register_buffer("moves", cell_pair_move_table(grid_size, num_actions), persistent=False)
        width = (1 + history) * NUM_PLANES * grid_size**2 + 2 * num_actions * history
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, num_outputs))
        self.net = nn.Sequential(*layers)

    def _moves(self, cells: torch.Tensor, prev_cells: torch.Tensor) -> torch.Tensor:
        """One-hot moves of (me, other) from cells ``prev_cells`` to ``cells`` (int64 ``[..., 2]``,
        :func:`agent_cells`) -> ``[..., 2*A]``."""
        pairs = prev_cells * self.grid_size**2 + cells
        return nn.functional.embedding(pairs, self.moves).flatten(-2)

    def _features(self, obs: torch.Tensor, previous: list[torch.Tensor], available: list[torch.Tensor],
                  cells: list[torch.Tensor]) -> torch.Tensor:
        """``obs`` and ``previous[k]`` (k+1 steps back) ``[..., 4, g, g]``, ``available[k]`` bool
        ``[...]`` (that step exists in this episode), ``cells[k]`` the agents' cells in ``obs``
        (k = 0) and ``previous[k-1]`` -> ``[..., F]``."""
        frames, moves = [obs.flatten(-3)], []
        for k, (prev, has) in enumerate(zip(previous, available, strict=True)):
            mask = has.unsqueeze(-1).to(obs.dtype)
            frames.append(prev.flatten(-3) * mask)
            moves.append(self._moves(cells[k], cells[k + 1]) * mask)
        return torch.cat(frames + moves, dim=-1)

    def encode(self, obs: torch.Tensor, episode_starts: torch.Tensor) -> torch.Tensor:
        """``[T, N, 4, g, g]`` canonical obs -> features ``[T, N, F]``."""
        steps = obs.shape[0]
        starts = episode_starts.clone()
        starts[0] = True
        if bool(starts[1:].any()):
            age = torch.zeros(starts.shape, dtype=torch.long)  # steps since the episode began
            for t in range(1, steps):
                age[t] = torch.where(starts[t], torch.zeros_like(age[t]), age[t - 1] + 1)
        else:  # every episode fills the batch
            age = torch.arange(steps).unsqueeze(1).expand(starts.shape)
        # A step k back is the observation shifted by k (zeros before row 0); so are its cells.
        now = agent_cells(obs)
        previous, available, cells = [], [], [now]
        for k in range(1, self.history + 1):
            if k < steps:
                previous.append(torch.cat([torch.zeros_like(obs[:k]), obs[:-k]], dim=0))
                cells.append(torch.cat([torch.zeros_like(now[:k]), now[:-k]], dim=0))
            else:
                previous.append(torch.zeros_like(obs))
                cells.append(torch.zeros_like(now))
            available.append(age >= k)
        return self._features(obs, previous, available, cells)

    def forward(self, encoded: torch.Tensor, episode_starts: torch.Tensor) -> torch.Tensor:
        """``[T, N, F]`` -> ``[T, N, num_outputs]`` (no recurrence: starts are not needed)."""
        return self.net(encoded)

    def initial_state(self, num_envs: int) -> torch.Tensor:
        """The previous observations, zeros before the first step: ``[N, 4, g, g]`` for
        ``history=1``, else ``[N, history, 4, g, g]`` (most recent first)."""
        g = self.grid_size
        if self.history == 1:
            return torch.zeros(num_envs, NUM_PLANES, g, g)
        return torch.zeros(num_envs, self.history, NUM_PLANES, g, g)

    def step(
        self, obs: torch.Tensor, state: torch.Tensor, episode_starts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: ``obs [N, 4, g, g]``, state = previous observations -> (outputs ``[N, out]``, new state)."""
        if self.history == 1:
            cells = [agent_cells(obs), agent_cells(state)]
            return self.net(self._features(obs, [state], [~episode_starts], cells)), obs
        # A zero frame is a step before the episode began (a real observation shows both agents).
        fresh = ~episode_starts
        state = state * fresh.view(-1, 1, 1, 1, 1).to(state.dtype)
        previous = list(state.unbind(1))
        available = [fresh & (prev.flatten(1).sum(1) > 0) for prev in previous]
        cells = [agent_cells(obs), *agent_cells(state).unbind(1)]
        new_state = torch.cat([obs.unsqueeze(1), state[:, :-1]], dim=1)
        return self.net(self._features(obs, previous, available, cells)), new_state


class CircularConv3x3(nn.Module):
    """A 3x3 convolution with circular padding (the board is a torus), same shape in and out.

    Computed as the equivalent dense matrix ``[out*g*g, in*g*g]`` built from the
    kernel, so forward, backward and double backward are single matrix
    products (about 5x faster on CPU than ``nn.Conv2d`` with circular padding,
    whose double backward is slow). Parameters as in ``nn.Conv2d``:
    ``weight [out, in, 3, 3]``, ``bias [out]``; equality with ``F.conv2d`` is tested.
    """

    def __init__(self, in_channels: int, out_channels: int, grid_size: int) -> None:
        super().__init__()
        reference = nn.Conv2d(in_channels, out_channels, 3)  # nn.Conv2d's initialisation
        self.weight = nn.Parameter(reference.weight.detach().clone())
        self.bias = nn.Parameter(reference.bias.detach().clone())
        self.grid_size = grid_size
        g = grid_size
        # taps[r, c, y, x, a, b] = 1 if kernel tap (a, b) at output (r, c) reads input (y, x).
        taps = torch.zeros(g, g, g, g, 3, 3)
        for r in range(g):
            for c in range(g):
                for a in range(3):
                    for b in range(3):
                        taps[r, c, (r + a - 1) % g, (c + b - 1) % g, a, b] += 1.0
        self.register_buffer("taps", taps, persistent=False)

    def dense_weight(self) -> torch.Tensor:
        """``[out*g*g, in*g*g]`` matrix of the convolution (differentiable in the kernel)."""
        out_c, in_c = self.weight.shape[:2]
        g = self.grid_size
        dense = torch.einsum("oiab,rcyxab->orciyx", self.weight, self.taps)
        return dense.reshape(out_c * g * g, in_c * g * g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in, g, g]`` -> ``[B, out, g, g]``."""
        g = self.grid_size
        bias = self.bias.repeat_interleave(g * g)
        return nn.functional.linear(x.flatten(1), self.dense_weight(), bias).view(x.shape[0], -1, g, g)


class CoinConvGRU(nn.Module):
    """The paper's coin-game network: conv(20) -> conv(20) -> GRU(32) -> linear head.

    Args:
        grid_size: board side g.
        num_actions: 4 (5 with the stay action); only used for the default head.
        num_outputs: logits (``num_actions``) or values.
        channels: filters per convolution (paper 20).
        hidden: GRU units (paper 32).
    """

    recurrent = True

    def __init__(
        self,
        grid_size: int = 3,
        num_actions: int = 4,
        num_outputs: int = 4,
        channels: int = 20,
        hidden: int = 32,
    ) -> None:
        super().__init__()
        self.grid_size, self.num_actions, self.hidden = grid_size, num_actions, hidden
        self.conv = nn.Sequential(
            CircularConv3x3(NUM_PLANES, channels, grid_size),
            nn.ReLU(),
            CircularConv3x3(channels, channels, grid_size),
            nn.ReLU(),
            nn.Flatten(),
        )
        # GRUCell (not nn.GRU): its composite ops support double backward on CPU.
        self.core = nn.GRUCell(channels * grid_size**2, hidden)
        self.head = nn.Linear(hidden, num_outputs)

    def encode(self, obs: torch.Tensor, episode_starts: torch.Tensor) -> torch.Tensor:
        """Identity: the convolutions are part of the parameters. ``[T, N, 4, g, g]``."""
        return obs

    def forward(self, encoded: torch.Tensor, episode_starts: torch.Tensor) -> torch.Tensor:
        """``[T, N, 4, g, g]`` -> ``[T, N, num_outputs]``; the state is zero at episode starts
        (and at row 0)."""
        steps, num_envs = encoded.shape[:2]
        conv = self.conv(encoded.reshape(steps * num_envs, *encoded.shape[2:]))
        conv = conv.reshape(steps, num_envs, -1)
        keep = (~episode_starts).to(encoded.dtype).unsqueeze(-1).unbind(0)
        state = encoded.new_zeros(num_envs, self.hidden)
        states = []
        # unbind, not conv[t]: indexing would make backward build a full-size zero
        # gradient per step (T^2 memory when the graph is kept for second order).
        for conv_t, keep_t in zip(conv.unbind(0), keep, strict=True):
            state = self.core(conv_t, state * keep_t)
            states.append(state)
        return self.head(torch.stack(states))

    def initial_state(self, num_envs: int) -> torch.Tensor:
        """GRU state zeros ``[N, hidden]``."""
        return torch.zeros(num_envs, self.hidden)

    def step(
        self, obs: torch.Tensor, state: torch.Tensor, episode_starts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: ``obs [N, 4, g, g]``, state ``[N, hidden]`` -> (outputs, new state)."""
        state = state * (~episode_starts).to(state.dtype).unsqueeze(-1)
        state = self.core(self.conv(obs), state)
        return self.head(state), state


NETWORKS = {"mlp": CoinMLP, "conv_gru": CoinConvGRU}


def game_slices(num_envs: int, chunk_games: int) -> list[slice]:
    """Slices of the game axis of at most ``chunk_games`` games (0 = one slice of all)."""
    if chunk_games <= 0 or chunk_games >= num_envs:
        return [slice(0, num_envs)]
    return [slice(start, min(start + chunk_games, num_envs)) for start in range(0, num_envs, chunk_games)]
