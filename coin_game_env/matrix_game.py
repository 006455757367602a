"""Iterated 2x2 matrix games: the batched rules and the payoff presets.

Every rule of the iterated prisoner's dilemma, matching pennies, chicken, stag
hunt and custom 2x2 games lives here.

Conventions (shared/REFERENCE.md, shared/DESIGN.md):

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

from coin_game_env.core import CoreStep, GameCore, check_int

NUM_STATES = 5
START_STATE = 4
STATE_NAMES = ("CC", "CD", "DC", "DD", "start")
OBS_TYPES = ("discrete", "onehot")


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
    return arr


def own_state(my_action: np.ndarray, other_action: np.ndarray) -> np.ndarray:
    """Observation index of the previous joint action from one agent's side."""
    return 2 * my_action + other_action


class MatrixGameCore(GameCore):
    """``num_envs`` iterated 2x2 games advanced in lock-step.

    Observations are int64 ``[num_envs, 2]`` (``obs_type="discrete"``) or
    float32 one-hot ``[num_envs, 2, 5]`` (``obs_type="onehot"``). The step
    info is empty: the state is the observation.
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
        self.name = name or (payoffs if isinstance(payoffs, str) else "matrix_game")
        preset = PRESETS.get(payoffs) if isinstance(payoffs, str) else None
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

    def render_ansi(self, index: int, returns: np.ndarray) -> str:
        names = self.action_names
        last = self.last_actions[index]
        move = "start" if last[0] < 0 else f"{names[last[0]]} / {names[last[1]]}"
        return (
            f"{self.name} step {self.t[index]}/{self.max_cycles}: last joint action {move}; "
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

