"""Every metric and statistic of the package, defined once (formulas: docs/metrics.md).

Three groups:

* **Per-batch metrics** of a :class:`~lola_agents.rollout.Batch` (one seat of a
  rollout; training logs and evaluations use the same functions):
  :func:`batch_reward_per_step`, :func:`action_given_state`, :func:`own_coin_rate`,
  :func:`pickups_per_step`, :func:`joint_own_coin_rate`, :func:`retaliation`.
  Coin pickups come from the env's per-step info arrays (``own_coins``,
  ``other_coins``), so no rule of the game is re-derived here.
* **Memory-1 policy metrics** of the iterated matrix games:
  :func:`reward_per_step_of_value`, :func:`action_0_probabilities`,
  :func:`memory1_profile`, :func:`is_tit_for_tat` (5-state and 4-state forms),
  :func:`is_at_nash`, :func:`is_run_at_nash`, :func:`tandem_sum`.
* **Statistics over seeds or agents**: :func:`mean_and_std`, :func:`describe`
  (mean, sample std, Student-t 95% interval from ``scipy.stats.t``),
  :func:`describe_share` (a share with its Wilson 95% interval from
  ``scipy.stats.binomtest``), :func:`describe_metric` (either, by value type),
  :func:`share_of_agents`, :func:`share_of_runs`, :func:`format_share`.

"Reward per step" names two different quantities, so they have two names:

* :func:`reward_per_step_of_value` - exact: ``(1 - gamma) * V`` of a discounted
  value ``V`` (closed-form games); old name :data:`reward_per_step` (this module);
* :func:`batch_reward_per_step` - sampled: the mean reward per step and game of a
  batch (undiscounted); old name ``lola_agents.evaluation.reward_per_step``.

Memory-1 policies are in the environments' own-perspective state order
``[CC, CD, DC, DD, start]`` (``STATE_INDEX``), i.e. the observation index
``2 * my_action + other_action`` with start = 4, from the agent's OWN side:
``CD`` = "I cooperated, the opponent defected". Action 0 is cooperate in the
IPD and heads in IMP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from coin_game_env.matrix_game import STATE_NAMES

if TYPE_CHECKING:
    import torch

    from lola_agents.rollout import Batch

STATE_INDEX = {name: index for index, name in enumerate(STATE_NAMES)}  # CC 0 ... start 4
NASH_TOLERANCE = 0.1
RETALIATION_WINDOW = 3
CONFIDENCE = 0.95  # every interval of the package is a two-sided 95% interval


# =========================================================================== reward per step
def reward_per_step_of_value(values: object, gamma: float) -> np.ndarray:
    """Exact reward per step of a discounted value: ``(1 - gamma) * values``.

    This is the per-step reward of the constant stream with the same discounted
    value (closed-form games, :mod:`lola_agents.exact`); compare
    :func:`batch_reward_per_step`, the sampled mean of a batch.

    ``values``: ``[...]`` discounted sums ``sum_t gamma^t r_t``; for a one-shot
    game pass ``gamma = 0`` (the value is the reward). Returns ``[...]`` float64.
    """
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must be in [0, 1), got {gamma!r}")
    return (1.0 - gamma) * np.asarray(values, dtype=np.float64)


reward_per_step = reward_per_step_of_value  # old name of the exact quantity (this module)


def batch_reward_per_step(batch: Batch) -> float:
    """Sampled reward per step: mean reward per step and game of one seat's batch.

    Undiscounted, over all ``[T, N]`` steps of the batch, in float64 (compare
    :func:`reward_per_step_of_value`, the exact ``(1 - gamma) * V``).
    """
    return float(batch.rewards.double().mean())


# =========================================================================== memory-1 policies
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


def _matrix_states(batch: Batch) -> torch.Tensor | None:
    """Memory-1 states ``[T, N]`` of a matrix-game batch (ints or 5-wide one-hot obs), else None."""
    import torch

    from lola_agents.policies.tabular import matrix_states

    obs = batch.obs
    integer_states = obs.dim() == 2 and obs.dtype == torch.int64
    one_hot_states = obs.dim() == 3 and obs.shape[-1] == len(STATE_NAMES)
    return matrix_states(obs) if integer_states or one_hot_states else None


def action_given_state(batch: Batch) -> dict[str, dict[str, Any]]:
    """Matrix games: empirical P(action 0 | state) and visits per state of one seat's batch.

    Returns ``{"p_action0": {state: p or None}, "visits": {state: count}}`` with
    states ``CC, CD, DC, DD, start`` from this agent's side; ``None`` where a
    state was never visited. ``p = (steps in the state with action 0) / visits``.
    """
    import torch

    states = _matrix_states(batch)
    if states is None:
        raise ValueError(
            f"action_given_state needs a matrix-game batch (int obs [T, N] or one-hot [T, N, 5]), "
            f"got obs of shape {tuple(batch.obs.shape)} and dtype {batch.obs.dtype}"
        )
    states = states.reshape(-1)
    actions = batch.actions.reshape(-1)
    visits = torch.bincount(states, minlength=5)
    zeros = torch.bincount(states[actions == 0], minlength=5)
    p_action0 = {
        name: (float(zeros[i]) / float(visits[i]) if visits[i] > 0 else None)
        for i, name in enumerate(STATE_NAMES)
    }
    return {"p_action0": p_action0, "visits": {n: int(visits[i]) for i, n in enumerate(STATE_NAMES)}}


def memory1_profile(agent: Any, batch: Batch | None = None) -> np.ndarray | None:
    """P(action 0 | state) ``[5]`` (order ``[CC, CD, DC, DD, start]``) of a matrix-game agent.

    In this order of preference: the agent's own table (``prob_action0()``, the
    tabular learners); an SB3 policy (``agent.policy.get_distribution``) queried
    on the five observations; the empirical frequencies of ``batch``
    (:func:`action_given_state`, NaN in unvisited states). None when none applies
    or ``batch`` is not from a matrix game (e.g. a coin-game agent).
    """
    if batch is not None and _matrix_states(batch) is None:
        return None
    if hasattr(agent, "prob_action0"):
        return np.asarray(agent.prob_action0(), dtype=np.float64)
    policy = getattr(agent, "policy", None)
    if policy is not None and hasattr(policy, "get_distribution"):
        import torch

        with torch.no_grad():
            probs = policy.get_distribution(torch.arange(5)).distribution.probs
        return probs[:, 0].double().numpy()
    if batch is not None:
        table = action_given_state(batch)["p_action0"]
        return np.array([math.nan if table[name] is None else table[name] for name in STATE_NAMES])
    return None


def _check_profile(probabilities: object) -> np.ndarray:
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.ndim == 0 or probs.shape[-1] != len(STATE_INDEX):
        raise ValueError(
            f"expected probabilities [..., 5] in order {list(STATE_INDEX)}, got shape {probs.shape}"
        )
    return probs


def is_tit_for_tat(probabilities: object, include_start: bool = True) -> np.ndarray:
    """Whether each memory-1 agent is tit-for-tat-like, ``[..., 5] -> bool [...]``.

    TFT cooperates first, then repeats the opponent's previous action. In the
    agent's own perspective the opponent cooperated in CC and DC and defected in
    CD and DD, so the agent is TFT-like when its most likely action in every
    state is TFT's:

    * 5-state (strict, ``include_start=True``, the "%TFT" of reports):
      P(C|start), P(C|CC), P(C|DC) > 0.5 and P(C|CD), P(C|DD) < 0.5;
    * 4-state (``include_start=False``, "%TFT-4"): the same four conditions on
      CC, CD, DC, DD with the start state ignored, so a reciprocator that opens
      with defection ("suspicious TFT") also counts. The start state is played
      once per episode while the other four decide every later step.

    NaN probabilities (e.g. an unvisited state of an empirical profile) never
    satisfy a condition, so such an agent is not counted as TFT.
    """
    probs = _check_profile(probabilities)
    s = STATE_INDEX
    cooperate_states = [s["CC"], s["DC"]] + ([s["start"]] if include_start else [])
    cooperate_after_c = (probs[..., cooperate_states] > 0.5).all(-1)
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


# =========================================================================== coin game
def _pickups(batch: Batch) -> tuple[float, float]:
    if "own_coins" not in batch.infos or "other_coins" not in batch.infos:
        raise KeyError(
            f"batch has no coin pickups in its infos (keys: {sorted(batch.infos)}); "
            "own_coins/other_coins come from coin_game_v0"
        )
    return float(batch.infos["own_coins"].sum()), float(batch.infos["other_coins"].sum())


def own_coin_rate(batch: Batch) -> float:
    """Coin game: the agent's own-colour pickups / all its pickups (NaN if it picked none)."""
    own, other = _pickups(batch)
    return own / (own + other) if own + other > 0 else math.nan


def pickups_per_step(batch: Batch) -> float:
    """Coin game: coins this agent picked (either colour) per step and game."""
    own, other = _pickups(batch)
    return (own + other) / (batch.num_steps * batch.num_envs)


def joint_own_coin_rate(batches: list[Batch]) -> float:
    """Coin game: coins picked by their own colour's agent / all coins picked by anyone
    (a coin both agents step on counts once for each). NaN if no coin was picked."""
    own = sum(_pickups(b)[0] for b in batches)
    total = sum(sum(_pickups(b)) for b in batches)
    return own / total if total > 0 else math.nan


def retaliation(batch: Batch, opponent_batch: Batch, window: int = RETALIATION_WINDOW,
                egocentric: bool = False) -> dict[str, Any]:
    """Coin game: P(this agent takes the other's coin at step t | that coin is on the board),
    in the ``window`` steps after the opponent took one of this agent's coins (same episode)
    and at all other steps.

    Args:
        batch, opponent_batch: the two seats of one rollout (coin-game infos, planes obs
            ``[T, N, 4, g, g]``).
        window: steps after a theft that count as "after", >= 1.
        egocentric: the obs planes are ``[me, other, my coin, other's coin]`` (else the
            shared ``[red, blue, red coin, blue coin]``).

    Returns ``{"after_theft", "otherwise"}`` (NaN where no such step) and the step counts
    ``{"steps_after_theft", "steps_otherwise"}``. A tit-for-tat agent takes the other's coin
    after a theft and never otherwise; an agent whose play does not depend on thefts
    (greedy, own-coin-only) has about the same rate in both.
    """
    import torch

    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    theft = opponent_batch.infos["other_coins"] > 0  # [T, N]: the opponent took my coin at step t
    takes = batch.infos["other_coins"] > 0
    plane = 3 if egocentric else 3 - batch.agent_index
    other_coin_out = batch.obs[:, :, plane].flatten(2).amax(-1) > 0
    since = torch.full((batch.num_envs,), window, dtype=torch.long)  # steps since the last theft
    after = torch.zeros_like(theft)
    for t in range(batch.num_steps):
        since = torch.where(batch.episode_starts[t], torch.full_like(since, window), since)
        after[t] = since < window
        since = torch.where(theft[t], torch.zeros_like(since), since + 1)
    out: dict[str, Any] = {}
    for name, steps in (("after_theft", after & other_coin_out), ("otherwise", ~after & other_coin_out)):
        count = int(steps.sum())
        out[name] = float(takes[steps].double().mean()) if count else math.nan
        out["steps_" + name] = count
    return out


# =========================================================================== statistics
def finite_values(values: Sequence[float | None]) -> list[float]:
    """The finite entries of ``values`` as floats: None, NaN and +-inf are dropped."""
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def mean_and_std(values: object, valid_runs: object | None = None, ddof: int = 0) -> tuple[float, float]:
    """Mean and standard deviation over runs, ``[runs, ...]`` (population std by default).

    Only ``valid_runs`` (bool ``[runs]``) are used; the statistics are over every
    remaining entry (a NaN among them gives NaN: pass :func:`finite_values` to
    drop undefined entries). ``ddof``: 0 population, 1 sample std. Returns
    ``(nan, nan)`` when nothing is left.
    """
    values = np.asarray(values, dtype=np.float64)
    if valid_runs is not None:
        values = values[np.asarray(valid_runs, dtype=bool)]
    if values.size == 0:
        return float("nan"), float("nan")
    return float(values.mean()), float(values.std(ddof=ddof))


def t_quantile(degrees_of_freedom: float, confidence: float = CONFIDENCE) -> float:
    """Two-sided Student-t critical value: the ``(1 + confidence) / 2`` quantile
    (``scipy.stats.t.ppf``); 12.706 for 1 degree of freedom at 95%, 1.960 in the limit."""
    from scipy import stats

    if not degrees_of_freedom >= 1:
        raise ValueError(f"degrees_of_freedom must be >= 1, got {degrees_of_freedom}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return float(stats.t.ppf(0.5 + confidence / 2.0, degrees_of_freedom))


def t_quantile_975(degrees_of_freedom: float) -> float:
    """The 0.975 quantile of Student's t (for a two-sided 95% interval): :func:`t_quantile`."""
    return t_quantile(degrees_of_freedom, CONFIDENCE)


def describe(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean, sample std (ddof=1), Student-t 95% interval of the mean, over the finite values.

    ``ci95 = mean -+ t_{0.975, n-1} * std / sqrt(n)`` (:func:`t_quantile`).
    Non-finite or missing values (diverged runs, undefined rates) are not
    averaged in: they are counted in ``n_missing``. Returns a JSON-ready dict
    ``{"per_seed", "n", "n_missing", "mean", "std", "ci95": [low, high]}``
    (None where undefined, e.g. the interval of a single value).
    """
    per_seed = [None if v is None or not math.isfinite(v) else float(v) for v in values]
    finite = [v for v in per_seed if v is not None]
    n = len(finite)
    out: dict[str, Any] = {
        "per_seed": per_seed,
        "n": n,
        "n_missing": len(per_seed) - n,
        "mean": None,
        "std": None,
        "ci95": None,
    }
    if n == 0:
        return out
    mean = sum(finite) / n
    out["mean"] = mean
    if n >= 2:
        std = math.sqrt(sum((v - mean) ** 2 for v in finite) / (n - 1))
        half = t_quantile(n - 1) * std / math.sqrt(n)
        out["std"] = std
        out["ci95"] = [mean - half, mean + half]
    return out


def t_interval(values: Sequence[float | None]) -> tuple[float, float] | None:
    """Student-t 95% interval of the mean of the finite ``values`` (None for fewer than 2)."""
    ci = describe(values)["ci95"]
    return None if ci is None else (ci[0], ci[1])


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``successes / trials`` (fractions in [0, 1]).

    From ``scipy.stats.binomtest(...).proportion_ci(method="wilson")`` (no
    continuity correction): with ``p = k/n`` and ``z`` the normal quantile,
    ``(p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``. Unlike
    ``p -+ z * std`` it stays inside [0, 1] and is not empty at 0% or 100%.
    """
    from scipy import stats

    if isinstance(successes, bool) or isinstance(trials, bool) or int(successes) != successes or int(trials) != trials:
        raise ValueError(f"successes and trials must be integers, got {successes!r} and {trials!r}")
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes} of {trials}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    ci = stats.binomtest(int(successes), int(trials)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def describe_share(flags: Sequence[bool | None]) -> dict[str, Any]:
    """Share of True among the defined ``flags`` (one per agent or run), in percent,
    with its Wilson 95% interval (:func:`wilson_interval`).

    ``None`` entries (a diverged run, an agent without a memory-1 table) are
    not counted: they go to ``n_missing``. Returns a JSON-ready dict
    ``{"kind": "share", "per_seed", "n", "n_missing", "successes", "mean", "std": None,
    "ci95": [low, high]}`` with ``mean`` and ``ci95`` in percent (``mean`` = the
    share, the same number a mean of 0/100 indicators gave); None where ``n = 0``.
    """
    per_seed: list[bool | None] = []
    for flag in flags:
        if flag is None:
            per_seed.append(None)
        elif isinstance(flag, (bool, np.bool_)):
            per_seed.append(bool(flag))
        else:
            raise ValueError(f"a share needs boolean flags (or None for undefined), got {flag!r}")
    defined = [f for f in per_seed if f is not None]
    n, successes = len(defined), sum(defined)
    out: dict[str, Any] = {
        "kind": "share",
        "per_seed": per_seed,
        "n": n,
        "n_missing": len(per_seed) - n,
        "successes": successes,
        "mean": None,
        "std": None,
        "ci95": None,
    }
    if n:
        low, high = wilson_interval(successes, n)
        out["mean"] = 100.0 * successes / n
        out["ci95"] = [100.0 * low, 100.0 * high]
    return out


def describe_metric(values: Sequence[Any]) -> dict[str, Any]:
    """Summary of one metric's per-seed values: :func:`describe_share` when the defined
    values are booleans (a share, e.g. %TFT), else :func:`describe` (mean, std, t-interval)."""
    defined = [v for v in values if v is not None]
    if defined and all(isinstance(v, (bool, np.bool_)) for v in defined):
        return describe_share(values)
    return describe(values)


def format_share(stats: dict[str, Any], digits: int = 0) -> str:
    """A :func:`describe_share` result as text: ``"55% [34, 74]"`` (share and Wilson 95%
    interval, in percent; ``"n/a"`` when no flag was defined)."""
    if stats["mean"] is None:
        return "n/a"
    low, high = stats["ci95"]
    return f"{stats['mean']:.{digits}f}% [{low:.{digits}f}, {high:.{digits}f}]"


def _percent_true(flags: np.ndarray, valid_runs: object | None) -> float:
    if valid_runs is not None:
        flags = flags[np.asarray(valid_runs, dtype=bool)]
    return float(100.0 * flags.mean()) if flags.size else float("nan")


def share_of_agents(flags: object, valid_runs: object | None = None) -> float:
    """Percentage of True among agents, ``flags`` bool ``[runs, players]``.

    ``valid_runs`` bool ``[runs]`` (e.g. not diverged) restricts the count;
    returns NaN when no run is valid. The interval: :func:`describe_share` of
    the same flags.
    """
    flags = np.asarray(flags, dtype=bool)
    if flags.ndim != 2:
        raise ValueError(f"expected flags [runs, players], got shape {flags.shape}")
    return _percent_true(flags, valid_runs)


def share_of_runs(flags: object, valid_runs: object | None = None) -> float:
    """Percentage of True among runs, ``flags`` bool ``[runs]``, over ``valid_runs``
    (bool ``[runs]``) only; NaN when no run is valid."""
    flags = np.asarray(flags, dtype=bool)
    if flags.ndim != 1:
        raise ValueError(f"expected flags [runs], got shape {flags.shape}")
    return _percent_true(flags, valid_runs)


def interval_text(stats: dict[str, Any] | None, digits: int = 2, missing: str = "n/a") -> str:
    """A :func:`describe` result as ``mean [low, high]`` (its 95% interval), the mean alone
    without an interval (one value), ``missing`` when undefined."""
    if not stats or stats.get("mean") is None:
        return missing
    text = f"{stats['mean']:.{digits}f}"
    if stats.get("ci95") is not None:
        low, high = stats["ci95"]
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text
