"""The recurrent coin-game network of POLA and LOQA: an MLP, a GRU, a linear head.

:class:`CoinGRU` reads the flattened canonical planes ``[me, other, my coin, other's
coin]`` (:func:`lola_agents.policies.coin.canonical_obs`), optionally with the step index
of the episode appended (LOQA's Q-value critic sees it), through
``layers_before_gru`` dense layers (``Linear -> ReLU -> Linear``: no activation after the
second, as in the published cell), a GRU cell of ``hidden`` units whose state is reset at
every episode start, and a linear head of ``num_outputs`` (action logits or Q-values).
The memory of the episode is what lets a policy react to having been robbed: the
observation alone never says who took which coin.

Same interface as the networks of :mod:`lola_agents.policies.coin` (T = steps, N = games):
``encode(obs [T, N, 4, g, g], starts [T, N]) -> [T, N, F]`` (parameter-free),
``forward(encoded, starts) -> [T, N, num_outputs]`` (every sequence begins at an
episode start), ``initial_state(N)`` and ``step(obs [N, 4, g, g], state, starts [N])``.
``step`` also runs D policies of this architecture at once from their stacked weights
(the replay buffer of past selves plays D snapshots per step): games are then grouped
``[D, n, ...]`` and every product is a batched one (``torch.baddbmm``). Its results equal
bit for bit those of ``torch.func.vmap`` over the policies' own steps, and are close to each
policy's own step on its n games (the last bits may differ: another matrix kernel).
"""

from __future__ import annotations

import torch
from torch import nn

from lola_agents.policies.coin import NUM_PLANES


def steps_since_start(episode_starts: torch.Tensor) -> torch.Tensor:
    """int64 ``[T, N]``: the index of each step in its episode (row 0 counts as a start)."""
    starts = episode_starts.clone()
    starts[0] = True
    time = torch.arange(starts.shape[0]).unsqueeze(1).expand_as(starts)
    last_start = torch.cummax(torch.where(starts, time, torch.zeros_like(time)), dim=0).values
    return time - last_start


class CoinGRU(nn.Module):
    """MLP -> GRU -> linear head over the flattened canonical planes.

    Args:
        grid_size: board side g.
        num_actions: 4 (5 with the stay action); kept for the interface.
        num_outputs: logits (``num_actions``) or Q-values per action.
        hidden: width of the dense layers and of the GRU state.
        layers_before_gru: dense layers before the GRU, 0, 1 or 2.
        time_input: append the step index within the episode (a float, 0 at the
            episode's first observation) to the input.
    """

    recurrent = True
    stacked_step = True  # step() takes stacked weights of D policies (PastSelves)

    def __init__(self, grid_size: int = 3, num_actions: int = 4, num_outputs: int = 4, hidden: int = 64,
                 layers_before_gru: int = 2, time_input: bool = False) -> None:
        super().__init__()
        if layers_before_gru not in (0, 1, 2):
            raise ValueError(f"layers_before_gru must be 0, 1 or 2, got {layers_before_gru!r}")
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"hidden must be an integer >= 1, got {hidden!r}")
        self.grid_size, self.num_actions, self.hidden = grid_size, num_actions, hidden
        self.time_input = bool(time_input)
        width = NUM_PLANES * grid_size**2 + int(self.time_input)
        layers: list[nn.Module] = []
        if layers_before_gru >= 1:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        if layers_before_gru >= 2:
            layers.append(nn.Linear(hidden, hidden))
        self.pre = nn.Sequential(*layers)
        # The weights of nn.GRUCell, evaluated by _gru (plain linear algebra: batched by
        # torch.func.vmap, which has no rule for the fused GRU cell, and twice differentiable).
        self.core = nn.GRUCell(width, hidden)
        self.head = nn.Linear(hidden, num_outputs)

    def _input(self, obs: torch.Tensor, time: torch.Tensor | None) -> torch.Tensor:
        flat = obs.flatten(-3)
        if not self.time_input:
            return flat
        return torch.cat([flat, time.to(flat.dtype).unsqueeze(-1)], dim=-1)

    def encode(self, obs: torch.Tensor, episode_starts: torch.Tensor) -> torch.Tensor:
        """``[T, N, 4, g, g]`` canonical obs -> ``[T, N, 4*g*g (+1)]``."""
        return self._input(obs, steps_since_start(episode_starts) if self.time_input else None)

    def forward(self, encoded: torch.Tensor, episode_starts: torch.Tensor) -> torch.Tensor:
        """``[T, N, F]`` -> ``[T, N, num_outputs]``; the GRU state is zero at episode starts
        (and at row 0)."""
        # The input side of the gates for every step in one product; only the recurrent
        # side is computed step by step.
        input_gates = nn.functional.linear(self.pre(encoded), self.core.weight_ih, self.core.bias_ih)
        keep = (~episode_starts).to(encoded.dtype).unsqueeze(-1).unbind(0)
        state = encoded.new_zeros(encoded.shape[1], self.hidden)
        states = []
        for gates_t, keep_t in zip(input_gates.unbind(0), keep, strict=True):
            state = self._gru_update(gates_t, state * keep_t)
            states.append(state)
        return self.head(torch.stack(states))

    def _gru(self, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """``nn.GRUCell``'s update (same weights, same gate order r, z, n)."""
        return self._gru_update(nn.functional.linear(x, self.core.weight_ih, self.core.bias_ih), hidden)

    def _gru_update(self, input_gates: torch.Tensor, hidden: torch.Tensor,
                    weights: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The GRU update from the input side of its gates ``x W_ih^T + b_ih`` ``[..., 3H]``
        (``weights``: stacked parameters, see :meth:`step`)."""
        if weights is None:
            recurrent = nn.functional.linear(hidden, self.core.weight_hh, self.core.bias_hh)
        else:
            recurrent = stacked_linear(hidden, weights["core.weight_hh"], weights["core.bias_hh"])
        input_r, input_z, input_n = input_gates.chunk(3, -1)
        hidden_r, hidden_z, hidden_n = recurrent.chunk(3, -1)
        reset = torch.sigmoid(input_r + hidden_r)
        update = torch.sigmoid(input_z + hidden_z)
        candidate = torch.tanh(input_n + reset * hidden_n)
        return (1 - update) * candidate + update * hidden

    def initial_state(self, num_envs: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(GRU state zeros ``[N, hidden]``, step index zeros int64 ``[N]``)."""
        return torch.zeros(num_envs, self.hidden), torch.zeros(num_envs, dtype=torch.long)

    def step(self, obs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], episode_starts: torch.Tensor,
             weights: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One step: ``obs [N, 4, g, g]``, state from :meth:`initial_state` -> (outputs, new state).

        With ``weights`` (``{name: [D, *shape]}`` for every name of ``named_parameters()``),
        D policies step at once: ``obs [D, n, 4, g, g]``, state ``([D, n, hidden], [D, n])``,
        starts ``[D, n]`` -> outputs ``[D, n, num_outputs]``; block d plays the weights ``[d]``.
        """
        hidden, time = state
        fresh = ~episode_starts
        hidden = hidden * fresh.to(hidden.dtype).unsqueeze(-1)
        time = time * fresh.long()
        x = self._input(obs, time)
        if weights is None:
            hidden = self._gru(self.pre(x), hidden)
            return self.head(hidden), (hidden, time + 1)
        for index, layer in enumerate(self.pre):
            x = stacked_linear(x, weights[f"pre.{index}.weight"], weights[f"pre.{index}.bias"]) \
                if isinstance(layer, nn.Linear) else layer(x)
        gates = stacked_linear(x, weights["core.weight_ih"], weights["core.bias_ih"])
        hidden = self._gru_update(gates, hidden, weights)
        return stacked_linear(hidden, weights["head.weight"], weights["head.bias"]), (hidden, time + 1)


def stacked_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``nn.functional.linear`` per block: ``x [D, n, in]``, ``weight [D, out, in]``, ``bias [D, out]``
    -> ``[D, n, out]`` (one ``baddbmm``)."""
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
