"""The built-in suites of ``lola-bench``.

Each suite turns (scale, seeds) into tasks and runs one task, returning
per-seed metrics (lists aligned with ``task.seeds``) and per-update curves.
Metric names end in ``_0``/``_1`` for the seat. Scales: ``tiny`` (a smoke test
in seconds), ``quick`` (the default; the whole default run <= 10 minutes on a
2-core CPU), ``paper`` (the paper's settings where they are affordable).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from lola_agents.bench.core import Suite, Task, register_suite

STATES = ("CC", "CD", "DC", "DD", "start")  # memory-1 policy order = observation index

SEEDS_BY_SCALE = {"tiny": 2, "quick": 10, "paper": 50}


def default_seeds(scale: str) -> list[int]:
    return list(range(SEEDS_BY_SCALE[scale]))


def _seeds(scale: str, seeds: list[int] | None) -> list[int]:
    return list(seeds) if seeds else default_seeds(scale)


def _none_if_nan(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


# --------------------------------------------------------------------------- exact learners
EXACT_UPDATES = {"tiny": 20, "quick": 200, "paper": 200}
EXACT_PAIRS = (("NL", "NL"), ("LOLA", "LOLA"), ("SOS", "SOS"), ("LOLA", "NL"))
EXACT_GAMES = {"ipd": "ipd_v0", "imp": "imp_v0"}


@functools.lru_cache(maxsize=32)
def exact_history(game: str, rule_0: str, rule_1: str, runs: int, updates: int):
    """Exact training of ``runs`` runs (seed 0 draws them all; run k is seed k)."""
    from lola_agents.exact import ExactSettings, train

    return train(game, rule_0, rule_1, ExactSettings(runs=runs, updates=updates, seed=0))


def exact_final_probabilities(rule: str, seed: int, updates: int = 200) -> np.ndarray:
    """player_0's P(cooperate) per state ``[5]`` after exact self-play of ``rule`` on the IPD."""
    from lola_agents.metrics import action_0_probabilities

    history = exact_history("ipd", rule, rule, seed + 1, updates)
    return action_0_probabilities(history.final_params[seed, 0])


def _exact_tasks(scale: str, seeds: list[int] | None) -> list[Task]:
    seeds = _seeds(scale, seeds)
    settings = {"updates": EXACT_UPDATES[scale], "lr": 1.0, "eta": 1.0, "init_std": 1.0}
    return [
        Task("exact", f"{game.upper()}: {r0} vs {r1}", env_id, [r0, r1], seeds, settings)
        for game, env_id in EXACT_GAMES.items()
        for r0, r1 in EXACT_PAIRS
    ]


def _run_exact(task: Task) -> dict[str, Any]:
    from lola_agents.metrics import action_0_probabilities, is_at_nash, is_tit_for_tat

    game = "ipd" if task.env_id == "ipd_v0" else "imp"
    runs = max(task.seeds) + 1
    history = exact_history(game, task.agents[0], task.agents[1], runs, task.settings["updates"])
    rows = np.array(task.seeds)
    reward = (1.0 - history.gamma) * -history.losses[:, rows]  # [updates + 1, seeds, 2]
    probs = action_0_probabilities(history.final_params[rows])  # [seeds, 2, 5]
    ok = ~history.diverged[rows]
    metrics: dict[str, list[float | None]] = {}
    for seat in (0, 1):
        metrics[f"reward_per_step_{seat}"] = [
            _none_if_nan(v) if k else None for v, k in zip(reward[-1, :, seat], ok, strict=True)
        ]
        flags = is_tit_for_tat(probs[:, seat]) if game == "ipd" else is_at_nash(probs[:, seat])
        name = "pct_tft" if game == "ipd" else "pct_nash"
        metrics[f"{name}_{seat}"] = [
            100.0 * f if k else None for f, k in zip(flags, ok, strict=True)
        ]
        for i, state in enumerate(STATES):
            metrics[f"p_coop_{state}_{seat}"] = [
                _none_if_nan(p) if k else None for p, k in zip(probs[:, seat, i], ok, strict=True)
            ]
    curves = {
        f"reward_per_step_{seat}": [
            [float(v) for v in reward[:, j, seat]] for j in range(len(rows))
        ]
        for seat in (0, 1)
    }
    return {
        "metrics": metrics,
        "curves": curves,
        "extra": {"diverged_seeds": [int(s) for s, k in zip(rows, ok, strict=True) if not k]},
    }


register_suite(
    Suite(
        name="exact",
        description="exact-gradient learners (NL, LOLA, SOS) on the IPD and IMP, paper settings (lr 1, eta 1, theta ~ N(0,1))",
        make_tasks=_exact_tasks,
        run=_run_exact,
        headline=(
            "reward_per_step_0",
            "reward_per_step_1",
            "pct_tft_0",
            "pct_tft_1",
            "pct_nash_0",
            "pct_nash_1",
        ),
        reference={
            "IPD: NL vs NL": {"reward_per_step_0": -1.98, "pct_tft_0": 20.8},
            "IPD: LOLA vs LOLA": {"reward_per_step_0": -1.06, "pct_tft_0": 81.0},
            "IPD: LOLA vs NL": {"reward_per_step_0": -1.28, "reward_per_step_1": -1.54},
            "IMP: NL vs NL": {"pct_nash_0": 0.0},
            "IMP: LOLA vs LOLA": {"pct_nash_0": 98.8},
        },
        notes=(
            "Reward per step = (1 - gamma) x exact discounted value (gamma 0.96 IPD, 0.9 IMP).",
            "%TFT: share of agents whose most likely action is tit-for-tat's in every state; "
            "%Nash: all five P(heads) within 0.1 of 0.5 (docs/exact_learners.md).",
        ),
    )
)


# --------------------------------------------------------------------------- head to head
H2H_AGENTS = ("AllC", "AllD", "TFT", "LOLA-Ex", "NL-Ex")
H2H_EPISODES = {"tiny": 8, "quick": 64, "paper": 256}


def make_matrix_agent(name: str, seed: int, updates: int):
    """A fixed strategy, or the final policy of an exact learner's IPD self-play run ``seed``."""
    from lola_agents import fixed

    if name == "AllC":
        return fixed.AlwaysCooperate(seed=seed)
    if name == "AllD":
        return fixed.AlwaysDefect(seed=seed)
    if name == "TFT":
        return fixed.TitForTat(seed=seed)
    if name.endswith("-Ex"):
        return fixed.Memory1Agent(exact_final_probabilities(name[:-3], seed, updates), seed=seed)
    raise ValueError(f"unknown head-to-head agent {name!r}; known: {list(H2H_AGENTS)}")


def _h2h_tasks(scale: str, seeds: list[int] | None) -> list[Task]:
    seeds = _seeds(scale, seeds)
    settings = {
        "episodes": H2H_EPISODES[scale],
        "exact_updates": EXACT_UPDATES[scale],
        "heatmap": True,
    }
    return [
        Task("head_to_head", f"{a} vs {b}", "ipd_v0", [a, b], seeds, settings)
        for a in H2H_AGENTS
        for b in H2H_AGENTS
    ]


def _run_h2h(task: Task) -> dict[str, Any]:
    from lola_agents.evaluation import evaluate

    metrics: dict[str, list[float | None]] = {"reward_per_step_0": [], "reward_per_step_1": []}
    for seed in task.seeds:
        agents = [
            make_matrix_agent(name, seed, task.settings["exact_updates"]) for name in task.agents
        ]
        result = evaluate(
            task.env_id, agents[0], agents[1], episodes=task.settings["episodes"], seed=seed
        )
        for seat in (0, 1):
            metrics[f"reward_per_step_{seat}"].append(result["reward_per_step"][seat])
    return {"metrics": metrics}


register_suite(
    Suite(
        name="head_to_head",
        description="IPD head-to-head of fixed strategies and exact learners' final policies (played in ipd_v0, 150 steps)",
        make_tasks=_h2h_tasks,
        run=_run_h2h,
        headline=("reward_per_step_0", "reward_per_step_1"),
        notes=(
            "LOLA-Ex / NL-Ex: player_0's memory-1 policy after exact self-play (run = seed); "
            "rewards are undiscounted means over the sampled episodes.",
        ),
    )
)
