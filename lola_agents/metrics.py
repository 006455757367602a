"""Cooperation metrics for the iterated matrix games: one definition each.

All functions take numpy arrays (or anything ``np.asarray`` accepts, e.g. CPU
tensors) and work on any leading batch shape ``[...]``. Memory-1 policies are
in the environments' own-perspective state order ``[CC, CD, DC, DD, start]``
(``STATE_INDEX``), i.e. the observation index ``2 * my_action + other_action``
with start = 4, from the agent's OWN side: ``CD`` = "I cooperated, the
opponent defected".

Definitions (see docs/exact_learners.md for why these and not others):

* reward per step = ``(1 - gamma) * V`` for a discounted value ``V``
  (:func:`reward_per_step`);
* P(action 0 | state) = ``sigmoid(logit)`` (:func:`action_0_probabilities`);
  action 0 is cooperate in the IPD and heads in IMP;
* tit-for-tat agent (:func:`is_tit_for_tat`): cooperates at the start and
  copies the opponent's last action with probability above 1/2, i.e.
  ``P(C|start), P(C|CC), P(C|DC) > 0.5`` and ``P(C|CD), P(C|DD) < 0.5``;
* IMP Nash agent (:func:`is_at_nash`): every one of its five probabilities is
  within ``NASH_TOLERANCE`` = 0.1 of 1/2; a run is at Nash when both of its
  agents are (:func:`is_run_at_nash`);
* Tandem: ``x + y`` (:func:`tandem_sum`);
* %TFT is a share of agents, i.e. of (run, player) pairs (:func:`share_of_agents`),
  %Nash a share of runs (:func:`share_of_runs`), both over runs that did not diverge.
"""

from __future__ import annotations

import numpy as np

from coin_game_env.matrix_game import STATE_NAMES

STATE_INDEX = {name: index for index, name in enumerate(STATE_NAMES)}  # CC 0 ... start 4
NASH_TOLERANCE = 0.1


def reward_per_step(values: object, gamma: float) -> np.ndarray:
    """Average reward per step of a discounted value: ``(1 - gamma) * values``.

    ``values``: ``[...]`` discounted sums ``sum_t gamma^t r_t``; for a one-shot
    game pass ``gamma = 0`` (the value is the reward). Returns ``[...]`` float64.
    """
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must be in [0, 1), got {gamma!r}")
    return (1.0 - gamma) * np.asarray(values, dtype=np.float64)


def action_0_probabilities(logits: object) -> np.ndarray:
    """P(action 0 | state) = sigmoid(logits), ``[..., 5] -> [..., 5]`` (same order).

    Action 0 is cooperate in the IPD (so this is the P(C|state) profile) and
    heads in IMP.
    """
    logits = np.asarray(logits, dtype=np.float64)
    # Stable sigmoid: exp of a non-positive number only.
    positive = logits >= 0
    exp_neg = np.exp(-np.abs(logits))
    return np.where(positive, 1.0 / (1.0 + exp_neg), exp_neg / (1.0 + exp_neg))


def _check_profile(probabilities: object) -> np.ndarray:
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.ndim == 0 or probs.shape[-1] != len(STATE_INDEX):
        raise ValueError(
            f"expected probabilities [..., 5] in order {list(STATE_INDEX)}, got shape {probs.shape}"
        )
    return probs


def is_tit_for_tat(probabilities: object) -> np.ndarray:
    """Whether each memory-1 agent is tit-for-tat-like, ``[..., 5] -> bool [...]``.

    TFT cooperates first, then repeats the opponent's previous action. In the
    agent's own perspective the opponent cooperated in CC and DC and defected in
    CD and DD, so the agent is TFT-like when P(C|start), P(C|CC), P(C|DC) > 0.5
    and P(C|CD), P(C|DD) < 0.5 (the most likely action in every state is TFT's).
    """
    probs = _check_profile(probabilities)
    s = STATE_INDEX
    cooperate_after_c = (probs[..., [s["start"], s["CC"], s["DC"]]] > 0.5).all(-1)
    defect_after_d = (probs[..., [s["CD"], s["DD"]]] < 0.5).all(-1)
    return cooperate_after_c & defect_after_d


def is_at_nash(probabilities: object, tolerance: float = NASH_TOLERANCE) -> np.ndarray:
    """Whether each IMP agent plays the Nash equilibrium, ``[..., 5] -> bool [...]``.

    The unique Nash equilibrium of iterated matching pennies is P(heads) = 1/2
    in every state; an agent counts as at Nash when all five of its
    probabilities are within ``tolerance`` (default 0.1) of 1/2.
    """
    probs = _check_profile(probabilities)
    if not 0.0 < tolerance <= 0.5:
        raise ValueError(f"tolerance must be in (0, 0.5], got {tolerance!r}")
    return (np.abs(probs - 0.5) < tolerance).all(-1)


def is_run_at_nash(probabilities: object, tolerance: float = NASH_TOLERANCE) -> np.ndarray:
    """Whether each IMP run is at the Nash equilibrium, ``[..., 2, 5] -> bool [...]``.

    A run (a pair of players) is at Nash when both of its agents are
    (:func:`is_at_nash`): the equilibrium is a property of the joint profile.
    """
    probs = _check_profile(probabilities)
    if probs.ndim < 2 or probs.shape[-2] != 2:
        raise ValueError(f"expected probabilities [..., 2 players, 5], got shape {probs.shape}")
    return is_at_nash(probs, tolerance).all(-1)


def tandem_sum(params: object) -> np.ndarray:
    """``x + y`` of the Tandem game, ``[..., 2, 1]`` (player axis, one parameter) -> ``[...]``.

    Stable fixed points have ``x + y = 1``; full-Taylor LOLA drifts to 4/3.
    """
    params = np.asarray(params, dtype=np.float64)
    if params.ndim < 2 or params.shape[-2:] != (2, 1):
        raise ValueError(f"expected Tandem parameters [..., 2, 1], got shape {params.shape}")
    return params[..., 0, 0] + params[..., 1, 0]


def share_of_agents(flags: object, valid_runs: object | None = None) -> float:
    """Percentage of True among agents, ``flags`` bool ``[runs, players]``.

    ``valid_runs`` bool ``[runs]`` (e.g. not diverged) restricts the count;
    returns NaN when no run is valid.
    """
    flags = np.asarray(flags, dtype=bool)
    if flags.ndim != 2:
        raise ValueError(f"expected flags [runs, players], got shape {flags.shape}")
    if valid_runs is not None:
        flags = flags[np.asarray(valid_runs, dtype=bool)]
    return float(100.0 * flags.mean()) if flags.size else float("nan")


def share_of_runs(flags: object, valid_runs: object | None = None) -> float:
    """Percentage of True among runs, ``flags`` bool ``[runs]``, over ``valid_runs``
    (bool ``[runs]``) only; NaN when no run is valid."""
    flags = np.asarray(flags, dtype=bool)
    if flags.ndim != 1:
        raise ValueError(f"expected flags [runs], got shape {flags.shape}")
    if valid_runs is not None:
        flags = flags[np.asarray(valid_runs, dtype=bool)]
    return float(100.0 * flags.mean()) if flags.size else float("nan")


def mean_and_std(values: object, valid_runs: object | None = None) -> tuple[float, float]:
    """Mean and (population) standard deviation over runs, ``[runs, ...]``.

    Only ``valid_runs`` (bool ``[runs]``) are used; the statistics are over every
    remaining entry. Returns ``(nan, nan)`` when nothing is valid.
    """
    values = np.asarray(values, dtype=np.float64)
    if valid_runs is not None:
        values = values[np.asarray(valid_runs, dtype=bool)]
    if values.size == 0:
        return float("nan"), float("nan")
    return float(values.mean()), float(values.std())
