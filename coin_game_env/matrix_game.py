"""Iterated 2x2 matrix games: the batched rules and the payoff presets.

Every rule of the iterated prisoner's dilemma, matching pennies, chicken, stag
hunt and custom 2x2 games lives here.

Conventions (those of the LOLA paper and its official code):

* actions: 0 = cooperate (IPD) / heads (IMP) / swerve (chicken) / stag, 1 = the other;
* the observation of an agent is the previous joint action from its OWN side,
  ``state = 2 * my_action + other_action`` (CC=0, CD=1, DC=2, DD=3) and 4 at
  the start of an episode;
* ``payoffs[a0, a1] = (reward of player_0, reward of player_1)``;
* episodes end by truncation after ``max_cycles`` steps (default 150).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium
import numpy as np

from coin_game_env.core import CoreStep, GameCore, OneGameStep, check_int

NUM_STATES = 5
START_STATE = 4
STATE_NAMES = ("CC", "CD", "DC", "DD", "start")
OBS_TYPES = ("discrete", "onehot")
# Rewards are float32: a payoff must survive that cast unchanged in kind, so it is 0
# or its magnitude lies between float32's smallest normal number and its largest.
FLOAT32 = np.finfo(np.float32)


@dataclass(frozen=True)
class MatrixGameSpec:
    """A named 2x2 game: payoffs ``[2, 2, 2]`` indexed [a0, a1, player] and the
    discount the paper's learners use on it."""

    name: str
    payoffs: tuple
    gamma: float
    action_names: tuple[str, str]
    description: str

    def payoff_array(self) -> np.ndarray:
        return np.asarray(self.payoffs, dtype=np.float64)


PRESETS: dict[str, MatrixGameSpec] = {
    "prisoners_dilemma": MatrixGameSpec(
        "prisoners_dilemma",
        (((-1, -1), (-3, 0)), ((0, -3), (-2, -2))),
        0.96,
        ("cooperate", "defect"),
        "LOLA paper payoffs: CC -1/-1, CD -3/0, DC 0/-3, DD -2/-2.",
    ),
    "matching_pennies": MatrixGameSpec(
        "matching_pennies",
        (((1, -1), (-1, 1)), ((-1, 1), (1, -1))),
        0.9,
        ("heads", "tails"),
        "Zero-sum; player_0 is the matcher (+1 on a match), player_1 gets the negative.",
    ),
    "chicken": MatrixGameSpec(
        "chicken",
        (((0, 0), (-1, 1)), ((1, -1), (-10, -10))),
        0.96,
        ("swerve", "straight"),
        "Both swerve 0/0; one goes straight +1/-1; both straight -10/-10.",
    ),
    "stag_hunt": MatrixGameSpec(
        "stag_hunt",
        (((4, 4), (1, 3)), ((3, 1), (2, 2))),
        0.96,
        ("stag", "hare"),
        "Both stag 4/4; stag alone 1 (hare 3); both hare 2/2.",
    ),
}


def payoffs_from(payoffs: object) -> np.ndarray:
    """Validate a payoff matrix (preset name or array ``[2, 2, 2]``) -> float64 array."""
    if isinstance(payoffs, str):
        if payoffs not in PRESETS:
            raise ValueError(f"unknown payoff preset {payoffs!r}; known: {sorted(PRESETS)}")
        return PRESETS[payoffs].payoff_array()
    try:
        arr = np.asarray(payoffs, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"payoffs must be numbers of shape (2, 2, 2), got {payoffs!r}") from err
    if arr.shape != (2, 2, 2):
        raise ValueError(
            f"payoffs must have shape (2, 2, 2) = [action of player_0, action of player_1, "
            f"player]; got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"payoffs must be finite, got {arr.tolist()}")
    magnitude = np.abs(arr)
    lost = (magnitude > FLOAT32.max) | ((magnitude < FLOAT32.smallest_normal) & (arr != 0))
    if lost.any():
        bad = arr[lost].ravel()[0].item()
        with np.errstate(over="ignore"):
            cast = np.float32(bad)
        raise ValueError(
            f"payoffs must be finite after the cast to float32 rewards: each value 0 or of "
            f"magnitude in [{FLOAT32.smallest_normal:.4g}, {FLOAT32.max:.4g}]; got {bad!r} "
            f"(float32 makes it {cast!r})"
        )
    return arr


def describe_payoffs(payoffs: np.ndarray) -> str:
    """``"(0,0) 3/3, (0,1) 0/5, ..."``: each joint action's rewards of player_0/player_1."""
    return ", ".join(
        f"({a0},{a1}) {payoffs[a0, a1, 0]:g}/{payoffs[a0, a1, 1]:g}" for a0 in range(2) for a1 in range(2)
    )


def own_state(my_action: np.ndarray, other_action: np.ndarray) -> np.ndarray:
    """Observation index of the previous joint action from one agent's side."""
    return 2 * my_action + other_action


class MatrixGameCore(GameCore):
    """``num_envs`` iterated 2x2 games advanced in lock-step.

    Observations are int64 ``[num_envs, 2]`` (``obs_type="discrete"``) or
    float32 one-hot ``[num_envs, 2, 5]`` (``obs_type="onehot"``). The step
    info is empty: the state is the observation.

    ``name`` is the env id shown by the renderers; ``game`` names the payoffs
    (the preset's name, or ``"custom payoffs (0,0) r0/r1, ..."``).
    """

    def __init__(
        self,
        num_envs: int = 1,
        payoffs: object = "prisoners_dilemma",
        max_cycles: int = 150,
        obs_type: str = "discrete",
        name: str | None = None,
    ) -> None:
        super().__init__(num_envs)
        self.payoffs = payoffs_from(payoffs)
        self.max_cycles = check_int("max_cycles", max_cycles, minimum=1)
        if obs_type not in OBS_TYPES:
            raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {obs_type!r}")
        self.obs_type = obs_type
        # Per game: 5 int64 values (state, last actions, step) and the largest observations.
        self.check_memory(8 * 5 + 4 * 2 * NUM_STATES)
        self.name = name or "matrix_game"
        preset = PRESETS.get(payoffs) if isinstance(payoffs, str) else None
        self.game = preset.name if preset else f"custom payoffs {describe_payoffs(self.payoffs)}"
        self.action_names = preset.action_names if preset else ("action 0", "action 1")
        self.action_space = gymnasium.spaces.Discrete(2)
        if obs_type == "discrete":
            self.observation_space = gymnasium.spaces.Discrete(NUM_STATES)
        else:
            self.observation_space = gymnasium.spaces.Box(0.0, 1.0, (NUM_STATES,), np.float32)

        # Lookup tables over the joint action j = 2*a0 + a1 (j in 0..3).
        joint = np.arange(4)
        a0, a1 = joint // 2, joint % 2
        self._state_of_joint = np.stack([own_state(a0, a1), own_state(a1, a0)], axis=1)
        self._reward_of_joint = self.payoffs[a0, a1].astype(np.float32)  # [4, 2]
        self._onehot = np.eye(NUM_STATES, dtype=np.float32)
        # The one-game path's tables (read-only: their rows become state):
        # per joint action the state, the actions, the observation pair and the rewards.
        actions_of_joint = np.stack([a0, a1], axis=1)
        self._obs_pairs = self._observe(self._state_of_joint)  # [4, 2, *obs_shape]
        for table in (self._state_of_joint, actions_of_joint, self._obs_pairs):
            table.setflags(write=False)  # before taking views, which inherit the flag
        self._state_rows = self._state_of_joint[:, None, :]  # [4, 1, 2]
        self._action_rows = actions_of_joint[:, None, :]  # [4, 1, 2]
        self._reward_pairs = [tuple(row) for row in self._reward_of_joint.tolist()]

        self._joint_weights = np.array([2, 1], dtype=np.int64)
        self._never_terminated = np.zeros(self.num_envs, dtype=bool)
        self._never_terminated.setflags(write=False)
        self.reset(np.random.default_rng(0))

    def _observe(self, state: np.ndarray) -> np.ndarray:
        # state arrays are replaced, never written in place, so they can be handed out.
        return state if self.obs_type == "discrete" else self._onehot[state]

    def reset(self, rng: np.random.Generator, mask: np.ndarray | None = None) -> np.ndarray:
        if mask is None:
            self.t = np.zeros(self.num_envs, dtype=np.int64)
            self.state = np.full((self.num_envs, 2), START_STATE, dtype=np.int64)
            self.last_actions = np.full((self.num_envs, 2), -1, dtype=np.int64)
        else:
            self.t = np.where(mask, 0, self.t)
            self.state = np.where(mask[:, None], START_STATE, self.state)
            self.last_actions = np.where(mask[:, None], -1, self.last_actions)
        return self._observe(self.state)

    def step(self, actions: np.ndarray, rng: np.random.Generator) -> CoreStep:
        joint = actions @ self._joint_weights  # 2 * a0 + a1
        self.state = self._state_of_joint.take(joint, axis=0)  # take: faster than [] here
        self.last_actions = actions.copy()  # never alias the caller's array
        self.t = self.t + 1
        return CoreStep(
            obs=self._observe(self.state),
            rewards=self._reward_of_joint.take(joint, axis=0),
            terminated=self._never_terminated,
            truncated=self.t >= self.max_cycles,
        )

    def step_one_game(self, actions: list[int], rng: np.random.Generator) -> OneGameStep:
        """:meth:`step` of one game on Python ints: the same tables, no batch arrays."""
        joint = 2 * actions[0] + actions[1]
        self.state = self._state_rows[joint]
        self.last_actions = self._action_rows[joint]
        t = self.t.item() + 1
        self.t = np.array([t])
        pair = self._obs_pairs[joint].copy()  # fresh: the caller may write to it
        return [pair[0, ...], pair[1, ...]], self._reward_pairs[joint], False, t >= self.max_cycles, None

    def render_ansi(self, index: int, returns: np.ndarray) -> str:
        names = self.action_names
        last = self.last_actions[index]
        move = "start" if last[0] < 0 else f"{names[last[0]]} / {names[last[1]]}"
        return (
            f"{self.name} ({self.game}) step {self.t[index]}/{self.max_cycles}: last joint action {move}; "
            f"returns player_0 {returns[0]:+.2f}, player_1 {returns[1]:+.2f}"
        )

    def render_rgb(self, index: int, returns: np.ndarray) -> np.ndarray:
        from coin_game_env.rendering import draw_matrix_game

        return draw_matrix_game(
            self.payoffs,
            self.last_actions[index],
            self.action_names,
            int(self.t[index]),
            self.max_cycles,
            returns,
        )

