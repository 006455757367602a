"""The coin game: batched rules over ``num_envs`` games, no Python loop over games.

Every rule of the coin game lives here. Defaults
are the LOLA paper's:

* a 3x3 grid that wraps at the edges (torus); ``player_0`` is red, ``player_1`` blue;
* one coin, red or blue; after each pickup a new coin appears at once on a cell
  neither agent occupies, and its colour alternates (red -> blue -> red ...);
* 4 actions, no stay: 0 right (0,+1), 1 left (0,-1), 2 down (+1,0), 3 up (-1,0);
* both agents move at once and may share a cell; every agent on the coin picks
  it up and gets +1; if the coin is not its colour, the coin's owner gets -2
  (a tie applies both: red coin, both on it -> red -1, blue +1);
* reset: the agents on two different random cells, the coin on a random free
  cell with a random colour; episodes are truncated after 150 steps.

Variants (named options): ``grid_size``, ``max_cycles``, ``num_coins=2`` (one red
and one blue coin at all times, each respawning in its own colour, as in
M-FOS/pax), ``stay_action`` (action 4 = stay), ``egocentric`` (agent i's planes
are [me, other, my coin, other's coin]) and ``obs_type`` ("planes" [4, H, W],
"flat" [4*H*W], or "planes_hwc" [H, W, 4]: the same planes with the channel axis
last, as RLlib's CNNs and SuperSuit's frame stacking expect; all float32).

State layout: cells are flat indices ``row * grid_size + col``; ``agent_cells``
int64 ``[num_envs, 2]`` (red, blue), ``coin_cells`` int64 ``[num_envs, num_coins]``,
``coin_colours`` int64 ``[num_envs, num_coins]`` (0 red, 1 blue; with two coins
slot k always holds colour k), ``t`` int64 ``[num_envs]`` steps taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np

from coin_game_env.core import CoreStep, GameCore, OneGameStep, check_int

RED, BLUE = 0, 1
OBS_TYPES = ("planes", "flat", "planes_hwc")
MAX_GRID_SIZE = 64
NUM_PLANES = 4
# (row, col) displacement of each action; index 4 only exists with stay_action=True.
MOVES = ((0, 1), (0, -1), (1, 0), (-1, 0), (0, 0))
ACTION_NAMES = ("right", "left", "down", "up", "stay")
# AGENT_COLOURS[agent, 0]: the colour each agent owns, shaped to broadcast over [games, agents, coins].
AGENT_COLOURS = np.array([[RED], [BLUE]])
# Precompute every observation when the table of all states is at most this big:
# one gather per step then replaces zero-fill + scatter (about 2x faster).
OBS_TABLE_MAX_BYTES = 4 * 2**20


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a bool, else raise a ValueError naming the option."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def free_cell(u: np.ndarray, occupied: list[np.ndarray], num_cells: int) -> np.ndarray:
    """A cell drawn uniformly among the cells not in ``occupied``, per game.

    Args:
        u: float64 ``[n]`` uniform in [0, 1) (one draw per game).
        occupied: 1 to 3 int64 arrays ``[n]`` of cells to avoid (may coincide).
        num_cells: cells on the board.

    Returns:
        int64 ``[n]``: the r-th free cell in ascending order, r = floor(u * free).
    """
    occ = sorted_columns(occupied)
    # distinct[k]: occ[k] is not a repeat of occ[k - 1] (occ[0] always counts).
    distinct = [occ[k] != occ[k - 1] for k in range(1, len(occ))]
    free = num_cells - 1 - sum(d.astype(np.int64) for d in distinct)
    # u <= 1 - 2**-53, so u * free rounds to a value < free for any free < 2**52.
    cell = (u * free).astype(np.int64)
    # Walk the avoided cells in ascending order; each one at or below the
    # candidate shifts it up by one (repeats only once).
    cell += cell >= occ[0]
    for avoid, is_new in zip(occ[1:], distinct, strict=True):
        cell += (cell >= avoid) & is_new
    return cell


def pickup_outcome(
    on_coin: np.ndarray, coin_colours: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pickup rule.

    Args:
        on_coin: bool ``[n, 2, num_coins]``, agent i stands on coin k after the move.
        coin_colours: int ``[n, num_coins]``, 0 red, 1 blue.

    Returns:
        ``(rewards, own, other)``: rewards float32 ``[n, 2]`` (+1 per coin picked,
        -2 to the owner for each coin of its colour the other agent picked; on a
        tie both apply) and int32 ``[n, 2]`` counts of coins of the agent's own /
        the other colour it picked.
    """
    mine = coin_colours[:, None, :] == AGENT_COLOURS
    own = (on_coin & mine).sum(axis=2)
    other = (on_coin & ~mine).sum(axis=2)
    rewards = own + other - 2 * other[:, ::-1]
    return rewards.astype(np.float32), own.astype(np.int32), other.astype(np.int32)


def free_cell_one_game(u: float, occupied: list[int], num_cells: int) -> int:
    """:func:`free_cell` for one game on Python ints (same result for the same ``u``)."""
    avoid = sorted(set(occupied))
    cell = int(u * (num_cells - len(avoid)))
    for occupied_cell in avoid:
        cell += cell >= occupied_cell
    return cell


def sorted_columns(columns: list[np.ndarray]) -> list[np.ndarray]:
    """Element-wise ascending sort of 1 to 3 arrays (a sorting network: much
    faster than ``np.sort(axis=1)`` on rows of 2 or 3)."""
    if len(columns) == 1:
        return list(columns)
    if len(columns) == 2:
        a, b = columns
        return [np.minimum(a, b), np.maximum(a, b)]
    if len(columns) == 3:
        a, b, c = columns
        a, b = np.minimum(a, b), np.maximum(a, b)
        b, c = np.minimum(b, c), np.maximum(b, c)
        a, b = np.minimum(a, b), np.maximum(a, b)
        return [a, b, c]
    raise ValueError(f"sorted_columns takes 1 to 3 arrays, got {len(columns)}")


class CoinGameCore(GameCore):
    """``num_envs`` coin games advanced in lock-step (see the module docstring).

    Step info: ``own_coins`` and ``other_coins``, int32 ``[num_envs, 2]``: coins
    of the agent's own colour / of the other colour that each agent picked up
    this step (0 or 1 each).

    Observations: float32 ``[num_envs, 2, 4, grid_size, grid_size]`` (or
    ``[num_envs, 2, 4 * grid_size**2]`` with ``obs_type="flat"``, or
    ``[num_envs, 2, grid_size, grid_size, 4]`` with ``obs_type="planes_hwc"``), a
    fresh array every call. Planes: [red agent, blue agent, red coin, blue coin] for both
    agents, or with ``egocentric=True`` [me, other, my coin, other's coin].
    """

    render_fps = 4
    # One game (the ParallelEnv) steps on Python ints; the tests switch this off
    # to check that path against the batched one.
    fast_one_game_path = True

    def __init__(
        self,
        num_envs: int = 1,
        grid_size: int = 3,
        max_cycles: int = 150,
        num_coins: int = 1,
        stay_action: bool = False,
        egocentric: bool = False,
        obs_type: str = "planes",
    ) -> None:
        super().__init__(num_envs)
        self.grid_size = check_int("grid_size", grid_size, minimum=1, maximum=MAX_GRID_SIZE)
        self.max_cycles = check_int("max_cycles", max_cycles, minimum=1)
        self.num_coins = check_int("num_coins", num_coins, minimum=1, maximum=2)
        self.stay_action = check_bool("stay_action", stay_action)
        self.egocentric = check_bool("egocentric", egocentric)
        if obs_type not in OBS_TYPES:
            raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {obs_type!r}")
        self.obs_type = obs_type
        self.num_cells = self.grid_size**2
        needed = self.num_agents + self.num_coins
        if self.num_cells < needed:
            raise ValueError(
                f"grid_size={self.grid_size} gives {self.num_cells} cell(s), but 2 agents and "
                f"{self.num_coins} coin(s) need {needed} distinct cells at reset; "
                f"use grid_size >= 2"
            )
        self.name = "coin_game_v0"
        self.num_actions = 5 if self.stay_action else 4
        self.action_names = ACTION_NAMES[: self.num_actions]
        self.action_space = gymnasium.spaces.Discrete(self.num_actions)
        g = self.grid_size
        self.obs_shape = {
            "planes": (NUM_PLANES, g, g),
            "flat": (NUM_PLANES * g * g,),
            "planes_hwc": (g, g, NUM_PLANES),
        }[obs_type]
        self.observation_space = gymnasium.spaces.Box(0.0, 1.0, self.obs_shape, np.float32)
        # int64 cells, colours and step, and one step's float32 observations of both agents.
        self.check_memory(8 * (3 + 2 * self.num_coins) + 2 * 4 * NUM_PLANES * self.num_cells)

        # next_cell[cell * num_actions + action]: the move on the torus.
        rows, cols = np.divmod(np.arange(self.num_cells), g)
        moves = np.asarray(MOVES[: self.num_actions])
        next_rows = (rows[:, None] + moves[None, :, 0]) % g
        next_cols = (cols[:, None] + moves[None, :, 1]) % g
        self._next_cell = (next_rows * g + next_cols).reshape(-1).astype(np.int64)
        self._next_cell_list = self._next_cell.tolist()

        n = self.num_envs
        self.agent_cells = np.zeros((n, 2), dtype=np.int64)
        self.coin_cells = np.zeros((n, self.num_coins), dtype=np.int64)
        self.coin_colours = np.tile(np.arange(self.num_coins, dtype=np.int64), (n, 1))
        self.t = np.zeros(n, dtype=np.int64)

        self._view_size = NUM_PLANES * self.num_cells  # one agent's observation, flat
        self._obs_table = self._build_obs_table()
        self._rewards_by_code, self._own_by_code, self._other_by_code = self._pickup_tables()
        # The one-game path's rows: Python float rewards, numpy int32 scalars (immutable).
        self._reward_pairs = [tuple(row) for row in self._rewards_by_code.tolist()]
        self._own_scalars = [tuple(row) for row in self._own_by_code]
        self._other_scalars = [tuple(row) for row in self._other_by_code]
        self._any_pickup_bits = sum(3 << 2 * k for k in range(self.num_coins))
        # Shared by every step's result; read-only so no caller can change it.
        self._never_terminated = np.zeros(n, dtype=bool)
        self._never_terminated.setflags(write=False)

    # ----------------------------------------------------------------- reset
    def reset(self, rng: np.random.Generator, mask: np.ndarray | None = None) -> np.ndarray:
        games = slice(None) if mask is None else np.flatnonzero(mask)
        count = self.num_envs if mask is None else len(games)
        # One draw per agent, per coin and, with one coin, for its colour.
        u = rng.random((2 + self.num_coins + (self.num_coins == 1), count))
        red = (u[0] * self.num_cells).astype(np.int64)
        blue = free_cell(u[1], [red], self.num_cells)
        coins = []
        for k in range(self.num_coins):
            coins.append(free_cell(u[2 + k], [red, blue, *coins], self.num_cells))
        self.agent_cells[games] = np.stack([red, blue], axis=1)
        self.coin_cells[games] = np.stack(coins, axis=1)
        if self.num_coins == 1:
            self.coin_colours[games, 0] = u[-1] < 0.5
        self.t[games] = 0
        return self._observe()

    # ------------------------------------------------------------------ step
    def step(self, actions: np.ndarray, rng: np.random.Generator) -> CoreStep:
        if self.num_envs == 1 and self.fast_one_game_path:
            return self._step_one_game(actions, rng)
        # Move on the torus, then look up the pickup rule's outcome by pickup code.
        cells = self._next_cell.take(self.agent_cells * self.num_actions + actions)
        self.agent_cells = cells
        coins = [self.coin_cells[:, k] for k in range(self.num_coins)]
        colours = [self.coin_colours[:, k] for k in range(self.num_coins)]
        code = self._pickup_code(cells[:, 0], cells[:, 1], coins, colours)
        picked = [(code & (3 << 2 * k)) != 0 for k in range(self.num_coins)]
        if any(p.any() for p in picked):
            self._respawn(np.stack(picked, axis=1), rng)
        self.t += 1
        return CoreStep(
            obs=self._observe(),
            rewards=self._rewards_by_code.take(code, axis=0),
            terminated=self._never_terminated,
            truncated=self.t >= self.max_cycles,
            info={
                "own_coins": self._own_by_code.take(code, axis=0),
                "other_coins": self._other_by_code.take(code, axis=0),
            },
        )

    def _advance_one_game(
        self, red_action: int, blue_action: int, rng: np.random.Generator
    ) -> tuple[int, int, int | None]:
        """Move, pick up and respawn in a single game on Python ints: the same tables,
        codes and draws as the batched step.

        With one game the ~25 numpy calls of a batched step (about 1 us each)
        would dominate; here the state is read once and written back in place
        (the state arrays are never handed out).

        Returns ``(pickup code, t after the step, row of the observation table or None)``.
        """
        (red, blue), (coins,), (colours,) = (
            self.agent_cells.tolist()[0], self.coin_cells.tolist(), self.coin_colours.tolist()
        )
        red = self._next_cell_list[red * self.num_actions + red_action]
        blue = self._next_cell_list[blue * self.num_actions + blue_action]
        cells = self.agent_cells
        cells[0, 0], cells[0, 1] = red, blue
        code = self._pickup_code(red, blue, coins, colours)
        if code & self._any_pickup_bits:  # as _respawn, on Python ints
            for k in range(self.num_coins):
                if code & (3 << 2 * k):
                    avoid = [red, blue] + [coins[j] for j in range(self.num_coins) if j != k]
                    coins[k] = free_cell_one_game(rng.random(), avoid, self.num_cells)
                    self.coin_cells[0, k] = coins[k]
                    if self.num_coins == 1:
                        colours[k] ^= 1
                        self.coin_colours[0, k] = colours[k]
        t = self.t.item() + 1
        self.t[0] = t
        board = None if self._obs_table is None else self._board_index(red, blue, coins, colours)
        return code, t, board

    def _step_one_game(self, actions: np.ndarray, rng: np.random.Generator) -> CoreStep:
        """``step`` for a single game as batch arrays (fresh copies of the table rows,
        so no caller can alter the tables)."""
        code, _, board = self._advance_one_game(*actions[0].tolist(), rng)
        return CoreStep(
            obs=self._observe() if board is None else self._obs_table[board : board + 1].copy(),
            rewards=self._rewards_by_code[code : code + 1].copy(),
            terminated=self._never_terminated,
            truncated=self.t >= self.max_cycles,
            info={
                "own_coins": self._own_by_code[code : code + 1].copy(),
                "other_coins": self._other_by_code[code : code + 1].copy(),
            },
        )

    def step_one_game(self, actions: list[int], rng: np.random.Generator) -> OneGameStep:
        """:meth:`step` of one game in the ParallelEnv's terms (see :class:`GameCore`)."""
        if not self.fast_one_game_path:
            return super().step_one_game(actions, rng)
        code, t, board = self._advance_one_game(actions[0], actions[1], rng)
        pair = self._observe()[0] if board is None else self._obs_table[board].copy()
        own, other = self._own_scalars[code], self._other_scalars[code]
        return (
            [pair[0], pair[1]],
            self._reward_pairs[code],
            False,
            t >= self.max_cycles,
            [{"own_coins": own[0], "other_coins": other[0]}, {"own_coins": own[1], "other_coins": other[1]}],
        )

    def _pickup_code(self, red: Any, blue: Any, coins: Sequence[Any], colours: Sequence[Any]) -> Any:
        """Who stands on which coin, as a small integer: bit ``2k`` red on coin k,
        bit ``2k + 1`` blue on coin k; with one coin, bit 2 is its colour.

        Works on ints (one game) or int arrays ``[n]`` (many); the rule's outcome
        for each code is in the tables built by :meth:`_pickup_tables`.
        """
        code = colours[0] << 2 if self.num_coins == 1 else 0
        for k, coin in enumerate(coins):
            code = code | ((red == coin) << (2 * k)) | ((blue == coin) << (2 * k + 1))
        return code

    def _pickup_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`pickup_outcome` evaluated for every pickup code (rows of
        rewards float32, own and other int32, each ``[codes, 2]``)."""
        bits = 2 * self.num_coins + (self.num_coins == 1)
        codes = np.arange(2**bits)
        shifts = 2 * np.arange(self.num_coins)[None, None, :] + np.arange(2)[None, :, None]
        on_coin = ((codes[:, None, None] >> shifts) & 1).astype(bool)  # [codes, 2, num_coins]
        if self.num_coins == 1:
            colours = ((codes >> 2) & 1)[:, None]
        else:
            colours = np.tile([RED, BLUE], (len(codes), 1))
        return pickup_outcome(on_coin, colours)

    def _respawn(self, picked: np.ndarray, rng: np.random.Generator) -> None:
        """New coins for the picked ones, on cells free of agents and other coins;
        random numbers are drawn only for the games that need them."""
        for k in range(self.num_coins):
            games = np.flatnonzero(picked[:, k])
            if len(games) == 0:
                continue
            avoid = [self.agent_cells[games, 0], self.agent_cells[games, 1]]
            # Coins respawn in slot order, so slot k avoids the already placed others.
            avoid += [self.coin_cells[games, j] for j in range(self.num_coins) if j != k]
            self.coin_cells[games, k] = free_cell(rng.random(len(games)), avoid, self.num_cells)
            if self.num_coins == 1:
                self.coin_colours[games, k] ^= 1

    # ----------------------------------------------------------- observation
    def _board_index(self, red: Any, blue: Any, coins: Sequence[Any], colours: Sequence[Any]) -> Any:
        """Index of a board among all boards (the row of the observation table).

        Works on ints (one game) or int arrays ``[n]`` (many): ``coins[k]`` and
        ``colours[k]`` are coin k's cell and colour.
        """
        c = self.num_cells
        index = red * c + blue
        if self.num_coins == 1:
            return index * (2 * c) + colours[0] * c + coins[0]
        return (index * c + coins[0]) * c + coins[1]

    def _build_obs_table(self) -> np.ndarray | None:
        """Observations of every possible board, or None if that table would be too big."""
        c = self.num_cells
        boards = c * c * (2 * c if self.num_coins == 1 else c * c)
        if boards * 2 * self._view_size * 4 > OBS_TABLE_MAX_BYTES:
            return None
        if self.num_coins == 1:
            agents01, colour, coin = np.unravel_index(np.arange(boards), (c * c, 2, c))
            coin_cells, coin_colours = coin[:, None], colour[:, None]
        else:
            agents01, red_coin, blue_coin = np.unravel_index(np.arange(boards), (c * c, c, c))
            coin_cells = np.stack([red_coin, blue_coin], axis=1)
            coin_colours = np.tile(np.arange(2), (boards, 1))
        agent_cells = np.stack(np.divmod(agents01, c), axis=1)
        return self._scatter_obs(agent_cells, coin_cells, coin_colours)

    def _scatter_obs(self, agent_cells: np.ndarray, coin_cells: np.ndarray, coin_colours: np.ndarray) -> np.ndarray:
        """Observations built directly: zeros and one write per agent and coin per view.

        Returns float32 ``[n, 2, *obs_shape]`` for the ``n`` boards given.
        """
        n, c = len(agent_cells), self.num_cells
        cells = np.concatenate([agent_cells, coin_cells], axis=1)  # [n, 2 + num_coins]
        agent_planes = np.zeros_like(agent_cells) + [0, 1]  # red agent plane 0, blue plane 1
        planes_red = np.concatenate([agent_planes, 2 + coin_colours], axis=1)  # red coin 2, blue coin 3
        if self.egocentric:  # blue sees [blue, red, blue coin, red coin]
            planes_blue = np.concatenate([1 - agent_planes, 3 - coin_colours], axis=1)
        else:
            planes_blue = planes_red
        views = []
        for planes in (planes_red, planes_blue):  # position of each one in an agent's flat view
            views.append(cells * NUM_PLANES + planes if self.obs_type == "planes_hwc" else planes * c + cells)
        offsets = np.arange(n, dtype=np.int64)[:, None] * (2 * self._view_size)
        obs = np.zeros(n * 2 * self._view_size, dtype=np.float32)
        obs[offsets + views[0]] = 1.0
        obs[offsets + self._view_size + views[1]] = 1.0
        return obs.reshape(n, 2, *self.obs_shape)

    def _observe(self) -> np.ndarray:
        """Fresh observations of all games (never written to again by the core)."""
        if self._obs_table is None:
            return self._scatter_obs(self.agent_cells, self.coin_cells, self.coin_colours)
        coins = [self.coin_cells[:, k] for k in range(self.num_coins)]
        colours = [self.coin_colours[:, k] for k in range(self.num_coins)]
        index = self._board_index(self.agent_cells[:, 0], self.agent_cells[:, 1], coins, colours)
        return np.take(self._obs_table, index, axis=0)

    # ------------------------------------------------------------- rendering
    def board(self, index: int) -> dict[str, object]:
        """The board of game ``index``: (row, col) of each agent and coin, colours, step."""
        g = self.grid_size
        return {
            "agents": [divmod(int(cell), g) for cell in self.agent_cells[index]],
            "coins": [divmod(int(cell), g) for cell in self.coin_cells[index]],
            "coin_colours": [int(colour) for colour in self.coin_colours[index]],
            "step": int(self.t[index]),
        }

    def render_ansi(self, index: int, returns: np.ndarray) -> str:
        """Text board: R/B agents (X both), r/b coins, '.' empty."""
        g = self.grid_size
        rows = [["."] * g for _ in range(g)]
        board = self.board(index)
        for (r, c), colour in zip(board["coins"], board["coin_colours"], strict=True):
            rows[r][c] = "rb"[colour]
        (r0, c0), (r1, c1) = board["agents"]
        rows[r0][c0] = "R"
        rows[r1][c1] = "X" if (r0, c0) == (r1, c1) else "B"
        lines = [" ".join(row) for row in rows]
        lines.append(
            f"step {board['step']}/{self.max_cycles}; returns red {returns[0]:+.1f}, blue {returns[1]:+.1f}"
        )
        return "\n".join(lines)

    def render_rgb(self, index: int, returns: np.ndarray) -> np.ndarray:
        from coin_game_env.rendering import draw_coin_game

        board = self.board(index)
        return draw_coin_game(
            self.grid_size,
            board["agents"],
            board["coins"],
            board["coin_colours"],
            board["step"],
            self.max_cycles,
            returns,
        )
