"""The built-in suites of ``lola-bench``.

Each suite turns (scale, seeds) into tasks and runs one task, returning
per-seed metrics (lists aligned with ``task.seeds``) and per-update curves.
Metric names end in ``_0``/``_1`` for the seat. Every suite whose learners sample
the game also returns the curves ``env_steps`` (game steps of all games played so
far, i.e. steps per update x updates) and ``wall_time_s`` (seconds since training
began), aligned with its other curves, so the report can draw all learners of a
game on one axis; exact learners take no environment steps and have neither. Scales: ``tiny`` (a smoke test
in seconds), ``quick`` (the default; minutes on a 2-core CPU, see
the README for a measured run), ``paper`` (the paper's settings where they are affordable).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np

from coin_game_env.matrix_game import STATE_NAMES
from lola_agents.bench.core import Suite, Task, TrainingClock, register_suite, report_progress
from lola_agents.metrics import memory1_profile
from lola_agents.seeding import Stream, agent_seed, derive_seed

STATES = STATE_NAMES  # memory-1 policy order = observation index: CC, CD, DC, DD, start

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
# Exact games of an experiment config: its ``game`` (env id, or "tandem") -> lola_agents.exact game.
EXACT_GAME_OF = {"ipd_v0": "ipd", "imp_v0": "imp", "tandem": "tandem"}


@functools.lru_cache(maxsize=32)
def exact_history(
    game: str,
    rule_0: str,
    rule_1: str,
    runs: int,
    updates: int,
    lr: float = 1.0,
    eta: float = 1.0,
    init_std: float = 1.0,
    seed: int = 0,
):
    """Exact training of ``runs`` runs (``seed`` draws them all at once, ``[2, runs, d]``:
    run k of a batch depends on the batch's size, so callers use the size of the exact suite)."""
    from lola_agents.exact import ExactSettings, train

    settings = ExactSettings(
        runs=runs, updates=updates, lr=lr, eta=eta, init_std=init_std, seed=seed
    )
    return train(game, rule_0, rule_1, settings)


def exact_final_probabilities(rule: str, seed: int, updates: int = 200, runs: int = 1) -> np.ndarray:
    """player_0's P(cooperate) per state ``[5]`` after exact self-play of ``rule`` on the IPD.

    ``runs``: train runs ``0 .. max(runs, seed + 1) - 1`` together, one cached batch for
    all the seeds of a task; with the exact suite's run count, run ``seed`` is the policy
    that suite reports for that seed.
    """
    from lola_agents.metrics import action_0_probabilities

    history = exact_history("ipd", rule, rule, max(runs, seed + 1), updates)
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
    from lola_agents.metrics import (
        action_0_probabilities,
        is_at_nash,
        is_run_at_nash,
        is_tit_for_tat,
        reward_per_step_of_value,
        tandem_sum,
    )

    if task.env_id not in EXACT_GAME_OF:
        raise ValueError(
            f"exact suite: unknown game {task.env_id!r}; known: {sorted(EXACT_GAME_OF)}"
        )
    game = EXACT_GAME_OF[task.env_id]
    runs = max(task.seeds) + 1
    s = task.settings
    history = exact_history(
        game,
        task.agents[0],
        task.agents[1],
        runs,
        s["updates"],
        float(s.get("lr", 1.0)),
        float(s.get("eta", 1.0)),
        float(s.get("init_std", 1.0)),
        int(s.get("init_seed", 0)),
    )
    rows = np.array(task.seeds)
    ok = ~history.diverged[rows]
    extra = {"diverged_seeds": [int(s) for s, k in zip(rows, ok, strict=True) if not k]}
    if game == "tandem":
        sums = tandem_sum(history.final_params[rows])
        return {
            "metrics": {
                "x_plus_y": [_none_if_nan(v) if k else None for v, k in zip(sums, ok, strict=True)]
            },
            "extra": extra,
        }
    reward = reward_per_step_of_value(-history.losses[:, rows], history.gamma)  # [updates + 1, seeds, 2]
    probs = action_0_probabilities(history.final_params[rows])  # [seeds, 2, 5]
    metrics: dict[str, list[float | None]] = {}
    for seat in (0, 1):
        metrics[f"reward_per_step_{seat}"] = [
            _none_if_nan(v) if k else None for v, k in zip(reward[-1, :, seat], ok, strict=True)
        ]
        # Shares: one flag per seed (None if diverged), summarised with a Wilson interval.
        shares = (
            {"pct_tft": is_tit_for_tat(probs[:, seat]),
             "pct_tft4": is_tit_for_tat(probs[:, seat], include_start=False)}
            if game == "ipd"
            else {"pct_nash": is_at_nash(probs[:, seat])}
        )
        for name, flags in shares.items():
            metrics[f"{name}_{seat}"] = [bool(f) if k else None for f, k in zip(flags, ok, strict=True)]
        for i, state in enumerate(STATES):
            metrics[f"p_coop_{state}_{seat}"] = [
                _none_if_nan(p) if k else None for p, k in zip(probs[:, seat, i], ok, strict=True)
            ]
    if game == "imp":  # a run is at Nash when both players are
        metrics["pct_nash_run"] = [
            bool(f) if k else None for f, k in zip(is_run_at_nash(probs), ok, strict=True)
        ]
    curves = {
        f"reward_per_step_{seat}": [
            [float(v) for v in reward[:, j, seat]] for j in range(len(rows))
        ]
        for seat in (0, 1)
    }
    return {"metrics": metrics, "curves": curves, "extra": extra}


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
            "pct_tft4_0",
            "pct_tft4_1",
            "pct_nash_0",
            "pct_nash_1",
            "x_plus_y",
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
            "%TFT: share of agents whose most likely action is tit-for-tat's in all five states; "
            "%TFT-4 (pct_tft4): the same in CC, CD, DC, DD, ignoring the start state; "
            "%Nash: all five P(heads) within 0.1 of 0.5. Shares show the percent of agents (seeds) "
            "with a 95% Wilson interval (docs/metrics.md).",
            "Tandem game (experiment exact-learners): x + y of the final parameters; its stable "
            "fixed points have x + y = 1.",
        ),
    )
)


# --------------------------------------------------------------------------- head to head
H2H_AGENTS = ("AllC", "AllD", "TFT", "LOLA-Ex", "NL-Ex")
H2H_EPISODES = {"tiny": 8, "quick": 64, "paper": 256}


def make_matrix_agent(name: str, seed: int, updates: int, runs: int = 1):
    """A fixed strategy, or the final policy of an exact learner's IPD self-play run ``seed``
    (``runs``: :func:`exact_final_probabilities`)."""
    from lola_agents import fixed
    from lola_agents.agents import AGENTS, make_agent

    if name in AGENTS and AGENTS[name].kind == "fixed":
        return make_agent(name, "ipd_v0", seed=seed)
    if name.endswith("-Ex"):
        return fixed.Memory1Agent(exact_final_probabilities(name[:-3], seed, updates, runs), seed=seed)
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
            make_matrix_agent(name, seed, task.settings["exact_updates"], runs=max(task.seeds) + 1)
            for name in task.agents
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
            "LOLA-Ex / NL-Ex: player_0's memory-1 policy after exact self-play (run = seed, the exact suite's runs); "
            "rewards are undiscounted means over the sampled episodes.",
        ),
    )
)


# --------------------------------------------------------------------------- sampled IPD
SAMPLED_AGENTS = ("NL-PG", "LOLA-PG", "IPPO")
# (games per update, updates): LOLA-PG gives the paper's picture at 4000 x 50 (docs/sampled_learners.md).
PG_BUDGET = {"tiny": (64, 3), "quick": (4000, 50), "paper": (4000, 200)}
IPPO_IPD_BUDGET = {
    "tiny": (4, 2),
    "quick": (16, 20),
    "paper": (16, 100),
}  # (games, updates of 150 steps)
SAMPLED_SEEDS = {"tiny": 2, "quick": 5, "paper": 10}
EVAL_EPISODES = {"tiny": 8, "quick": 256, "paper": 1000}


def _sampled_tasks(scale: str, seeds: list[int] | None) -> list[Task]:
    seeds = list(seeds) if seeds else list(range(SAMPLED_SEEDS[scale]))
    games, updates = PG_BUDGET[scale]
    ippo_games, ippo_updates = IPPO_IPD_BUDGET[scale]
    return [
        Task(
            "sampled_ipd",
            f"{name} vs {name}",
            "ipd_v0",
            [name, name],
            [seed],
            {
                "num_envs": ippo_games if name == "IPPO" else games,
                "updates": ippo_updates if name == "IPPO" else updates,
                "eval_episodes": EVAL_EPISODES[scale],
            },
        )
        for name in SAMPLED_AGENTS
        for seed in seeds
    ]


# CPU seconds per game and update on an idle core (quick-scale main job): start order only.
SAMPLED_COST_PER_GAME_UPDATE = {"NL-PG": 4.5e-5, "LOLA-PG": 1e-4, "IPPO": 5.3e-2}


def _sampled_cost(task: Task) -> float:
    """Estimated CPU seconds of a sampled-IPD task (:attr:`Suite.cost`)."""
    rate = SAMPLED_COST_PER_GAME_UPDATE.get(task.agents[0], SAMPLED_COST_PER_GAME_UPDATE["LOLA-PG"])
    return task.settings.get("num_envs", 0) * task.settings.get("updates", 0) * rate


# Matrix games of the sampled suite: env id -> (lola_agents.exact payoff name, gamma).
SAMPLED_GAMES = {"ipd_v0": ("prisoners_dilemma", 0.96), "imp_v0": ("matching_pennies", 0.9)}
SAMPLED_LEARNERS = ("NL-PG", "LOLA-PG", "LOLA-OM", "LOLA-DiCE", "IPPO")


def make_sampled_learner(name: str, env_id: str, seed: int, options: dict[str, Any]) -> Any:
    """A tabular sampled learner (``SAMPLED_LEARNERS`` but IPPO) for ``env_id``.

    ``options``: learner settings of an experiment config (``lookahead``, ``inner_lr``
    for LOLA-DiCE; ``om_steps`` for LOLA-OM); gamma is the game's (0.96 IPD, 0.9 IMP).
    """
    gamma = SAMPLED_GAMES[env_id][1]
    if name == "LOLA-DiCE":
        from lola_agents.dice import LOLADiCEAgent

        return LOLADiCEAgent(gamma=gamma, game=env_id, seed=seed, **options)
    if name == "LOLA-OM":
        from lola_agents.opponent_model import LOLAOMAgent

        return LOLAOMAgent(gamma=gamma, seed=seed, **options)
    from lola_agents.pg import LOLAPGAgent, NaivePGAgent

    classes = {"NL-PG": NaivePGAgent, "LOLA-PG": LOLAPGAgent}
    if name not in classes:
        raise ValueError(f"unknown sampled learner {name!r}; known: {list(SAMPLED_LEARNERS)}")
    return classes[name](gamma=gamma, seed=seed, **options)


def _run_sampled(task: Task) -> dict[str, Any]:

    from lola_agents.evaluation import evaluate
    from lola_agents.metrics import is_at_nash, is_tit_for_tat

    (seed,) = task.seeds
    name, settings = task.agents[0], task.settings
    if task.env_id not in SAMPLED_GAMES:
        raise ValueError(
            f"sampled suite: unknown game {task.env_id!r}; known: {sorted(SAMPLED_GAMES)}"
        )
    clock = TrainingClock(settings["updates"], 150 * settings["num_envs"])
    if name == "IPPO":
        from lola_agents.ppo import PPOConfig, make_ippo, train

        agents = make_ippo(
            task.env_id, settings["num_envs"], seed, PPOConfig(n_steps=150, batch_size=480)
        )
        history = train(
            task.env_id,
            agents,
            settings["updates"] * 150 * settings["num_envs"],
            settings["num_envs"],
            seed=seed,
            callback=clock.tick,
        )
        curve = [[row["reward_per_step"][seat] for row in history] for seat in (0, 1)]
        diagnostics = {}
    else:
        from lola_agents.trainer import train

        if "agent_seed_offset" in settings:
            raise ValueError(
                "sampled suite: the setting agent_seed_offset was removed; agent seeds derive "
                "from the run seed by lola_agents.seeding (agent_seed(seed, seat))"
            )
        options = dict(settings.get("learner_options", {}))
        agents = [
            make_sampled_learner(name, task.env_id, agent_seed(seed, seat), options)
            for seat in (0, 1)
        ]
        if "shaping_diagnostics_every" in settings:  # LOLA-OM: thin out the costly comparison
            for agent in agents:
                agent.shaping_diagnostics_every = int(settings["shaping_diagnostics_every"])
        result = train(
            task.env_id,
            *agents,
            updates=settings["updates"],
            num_envs=settings["num_envs"],
            seed=seed,
            progress=False,
            on_update=clock.tick,
        )
        curve = [[row[f"reward_{seat}"] for row in result.history] for seat in (0, 1)]
        diagnostics = model_diagnostic_curves(result.history)
    metrics: dict[str, list[float | None]] = {}
    episodes = int(settings.get("eval_episodes", 0))
    if episodes:
        evaluation = evaluate(
            task.env_id, agents[0], agents[1], episodes=episodes, seed=derive_seed(seed, Stream.EVALUATION)
        )
    tail = 5  # the recorded studies' "sampled" column: mean of the last 5 training batches
    profiles = [memory1_profile(agent) for agent in agents]
    for seat, profile in enumerate(profiles):
        if episodes:
            metrics[f"reward_per_step_{seat}"] = [evaluation["reward_per_step"][seat]]
        metrics[f"sampled_reward_last5_{seat}"] = [float(np.mean(curve[seat][-tail:]))]
        # Shares: one flag per seed (None without a policy table), summarised with a Wilson interval.
        if task.env_id == "ipd_v0":
            tests = {"pct_tft": lambda p: is_tit_for_tat(p),
                     "pct_tft4": lambda p: is_tit_for_tat(p, include_start=False)}
        else:
            tests = {"pct_nash": is_at_nash}
        for key, test in tests.items():
            metrics[f"{key}_{seat}"] = [None if profile is None else bool(test(profile))]
        for i, state in enumerate(STATES):
            metrics[f"p_coop_{state}_{seat}"] = [None if profile is None else float(profile[i])]
    if all(hasattr(a, "policy") and hasattr(a.policy, "logits") for a in agents):
        exact = exact_reward_per_step(agents, task.env_id)
        for seat in (0, 1):
            metrics[f"exact_reward_per_step_{seat}"] = [exact[seat]]
    if task.checkpoint_dir:
        for seat, agent in enumerate(agents):
            agent.save(f"{task.checkpoint_dir}/player_{seat}")
    curves = {f"reward_per_step_{seat}": [curve[seat]] for seat in (0, 1)}
    curves.update(clock.curves())  # update, env_steps, wall_time_s
    for key, values in diagnostics.items():
        curves[key] = [values]
        finite = [v for v in values if v is not None]
        if key.startswith("model_kl"):
            metrics[key.replace("model_kl", "model_kl_final")] = [values[-1]]
            metrics[key.replace("model_kl", "model_kl_mean")] = [float(np.mean(values))]
        elif key.startswith("shaping_cosine"):
            metrics[key.replace("shaping_cosine", "shaping_cosine_mean")] = [
                float(np.mean(finite)) if finite else None]
        else:
            metrics[key.replace("ratio", "ratio_median")] = [
                float(np.median(finite)) if finite else None]
    return {"metrics": metrics, "curves": curves}


# LOLA-OM's per-update diagnostics (lola_agents.learners.opponent_model) kept as curves.
MODEL_DIAGNOSTICS = ("model_kl", "shaping_cosine", "shaping_norm_ratio")


def model_diagnostic_curves(history: list[dict[str, float]]) -> dict[str, list[float | None]]:
    """``{"<diagnostic>_<seat>": [one value per update]}`` of the learners that logged
    :data:`MODEL_DIAGNOSTICS` (None at updates that skipped it, e.g. the shaping comparison
    between every ``shaping_diagnostics_every``-th update); empty for other learners."""
    out = {}
    for key in MODEL_DIAGNOSTICS:
        for seat in (0, 1):
            column = f"agent{seat}/{key}"
            if any(column in row for row in history):
                out[f"{key}_{seat}"] = [
                    float(row[column]) if column in row else None for row in history
                ]
    return out


def exact_reward_per_step(agents: list[Any], env_id: str) -> list[float]:
    """``(1 - gamma) V`` of two tabular policies (exact value; ``policy.logits`` ``[5]`` each)."""
    import torch

    from lola_agents import metrics
    from lola_agents.exact import iterated_game_values

    payoffs, gamma = SAMPLED_GAMES[env_id]
    logits = torch.stack([a.policy.logits.detach().double() for a in agents])  # [2, 5]
    values = iterated_game_values(logits[0:1], logits[1:2], payoffs, gamma)
    return [float(metrics.reward_per_step(float(v), gamma)) for v in values]


register_suite(
    Suite(
        name="sampled_ipd",
        description="sampled learners on the IPD: naive PG, LOLA-PG (second-order PG term) and Independent PPO",
        make_tasks=_sampled_tasks,
        run=_run_sampled,
        cost=_sampled_cost,
        headline=(
            "reward_per_step_0",
            "reward_per_step_1",
            "pct_tft_0",
            "pct_tft_1",
            "pct_tft4_0",
            "pct_tft4_1",
            "exact_reward_per_step_0",
            "pct_nash_0",
        ),
        reference={
            "NL-PG vs NL-PG": {"reward_per_step_0": -1.98, "pct_tft_0": 20.0},
            "LOLA-PG vs LOLA-PG": {"reward_per_step_0": -1.17, "pct_tft_0": 66.4},
        },
        notes=(
            "Rewards: mean reward per step of the final agents over fresh 150-step ipd_v0 episodes "
            "(quick: 256 episodes); curves are the training batches, drawn against environment "
            "steps and wall-clock seconds.",
            "Budgets (quick): NL-PG / LOLA-PG 4000 games x 150 steps x 50 updates (the paper uses "
            "4000 x 150 per update; fewer updates); IPPO 16 games x 150 steps x 20 updates (48k steps).",
            "%TFT and %TFT-4 as in the exact suite, on the final policy table (IPPO: its policy queried "
            "in the 5 states), with a 95% Wilson interval.",
        ),
    )
)


# --------------------------------------------------------------------------- coin game
# The learners of coin_lola: (preset, method) of each; 1024 games x 50 steps per update.
COIN_LEARNERS = {
    "AdAlign": ("adalign", "advantage_alignment"),
    "LOLA-DiCE-PS": ("lola_policy", "lola_dice"),
    "LOLA-DiCE": ("fast", "lola_dice"),
    "NL-PG": ("fast", "naive"),
}
# Who trains at each scale. LOLA-DiCE and LOLA-DiCE-PS need about 250 updates of 0.5-2 s
# of CPU each before their own-coin rate means anything: more than the quick scale's
# 10-minute budget, so they train at the paper scale only.
COIN_AGENTS_BY_SCALE = {
    "tiny": ("AdAlign", "NL-PG", "IPPO", "shared PPO"),
    "quick": ("AdAlign", "NL-PG", "IPPO", "shared PPO"),
    "paper": ("AdAlign", "LOLA-DiCE-PS", "LOLA-DiCE", "NL-PG", "IPPO", "shared PPO"),
}
COIN_AGENTS = COIN_AGENTS_BY_SCALE["paper"]
# Updates per learner. Quick: AdAlign until converged (recorded runs: own-coin crosses 0.8
# between updates 120 and 160 and is >= 0.99 by 170 in every seed); NL-PG for 60 (recorded:
# 0.50-0.55 at every point of 250 updates in every seed, 0.51-0.54 at 60 and 0.50-0.52 at 250).
COIN_UPDATES = {
    "AdAlign": {"tiny": 1, "quick": 170, "paper": 250},
    "LOLA-DiCE-PS": {"tiny": 1, "quick": 250, "paper": 250},
    "LOLA-DiCE": {"tiny": 1, "quick": 250, "paper": 250},
    "NL-PG": {"tiny": 1, "quick": 60, "paper": 250},
}
COIN_GAMES_PER_UPDATE = {"tiny": 16, "quick": 1024, "paper": 1024}
# Game steps of the PPO baselines (32 games x 50 steps per PPO update).
# Quick: 128k (80 PPO updates): in 6 main-job runs at 192k, each run's own-coin rate over
# updates 70-80 was within 0.025 of its rate over updates 110-120.
COIN_PPO_STEPS = {"tiny": 2_000, "quick": 128_000, "paper": 1_920_000}
COIN_PPO_GAMES = 32  # SB3's usual scale of parallel envs
COIN_SEEDS = {"tiny": 2, "quick": 3, "paper": 5}
COIN_EVAL_EPISODES = {"tiny": 8, "quick": 1000, "paper": 1000}
# Episodes per league cell (each cell pools 2 x n_A x n_B games; the diagonal 2 x n x (n-1)).
LEAGUE_CELL_EPISODES = {"tiny": 8, "quick": 1000, "paper": 1000}
COIN_LEAGUE_GROUP = "league"
# Shipped reciprocal agents that join the league (one checkpoint each): (label, folder).
LEAGUE_SHIPPED = (("shipped LOQA", "loqa-cpu-6000"), ("shipped AdAlign-Q", "adalign-q-start1000-4000"))
# Checkpoints shipped with the package: (group name, folder under lola_agents/checkpoints/coin).
SHIPPED_COIN = (
    ("shipped LOLA-DiCE (fast, 250 updates)", "lola-dice-fast-250"),
    ("shipped LOLA-DiCE-PS (lola_policy, 250 updates)", "lola-dice-ps-250"),
    ("shipped AdAlign (adalign, 250 updates)", "adalign-fast-250"),
    ("shipped NL-PG (fast, 250 updates)", "nl-pg-fast-250"),
    ("shipped IPPO", "ippo"),
    ("shipped LOQA (cpu, 6000 updates)", "loqa-cpu-6000"),
    ("shipped AdAlign-Q (naive start 1000, 4000 updates)", "adalign-q-start1000-4000"),
)


def shipped_checkpoint_dir(name: str):
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "checkpoints" / "coin" / name


def coin_group(name: str) -> str:
    """The report row of a coin-game learner trained in self-play."""
    return name if name == "shared PPO" else f"{name} vs {name}"


def _coin_env_options() -> dict[str, Any]:
    from lola_agents.coin_lola import preset

    return preset("fast").env_kwargs()  # 3x3, 50-step episodes


def _coin_tasks(scale: str, seeds: list[int] | None) -> list[Task]:
    seeds = list(seeds) if seeds else list(range(COIN_SEEDS[scale]))
    env_options = _coin_env_options()
    tasks = []
    for name in COIN_AGENTS_BY_SCALE[scale]:
        settings: dict[str, Any] = {"env_options": env_options, "eval_episodes": COIN_EVAL_EPISODES[scale]}
        if name in COIN_LEARNERS:
            settings.update(updates=COIN_UPDATES[name][scale], num_envs=COIN_GAMES_PER_UPDATE[scale])
        else:
            settings.update(ppo_game_steps=COIN_PPO_STEPS[scale], num_envs=COIN_PPO_GAMES)
        tasks += [Task("coin", coin_group(name), "coin_game_v0", [name, name], [seed], settings)
                  for seed in seeds]
    # The league plays the agents the tasks above saved: it runs after them (phase 2).
    # The diagonal cell has the fewest games, 2 * n * (n - 1) (one game per seed: 2 * 1 * 1).
    fewest_games = 2 * len(seeds) * max(len(seeds) - 1, 1)
    league = {
        "phase": 2,
        "learners": [{"name": name, "group": coin_group(name), "seeds": seeds,
                      "shared": name == "shared PPO", "egocentric": name == "shared PPO"}
                     for name in COIN_AGENTS_BY_SCALE[scale]],
        # LOQA and AdAlign-Q train for 45-70 CPU minutes, beyond the quick scale: their shipped
        # checkpoints play as entries of one instance each, with more episodes per game.
        "shipped": [{"name": name, "folder": folder} for name, folder in LEAGUE_SHIPPED
                    if (shipped_checkpoint_dir(folder) / "player_0").is_dir()],
        "fixed_instances": len(seeds),
        "episodes_per_game": -(-LEAGUE_CELL_EPISODES[scale] // fewest_games),
        "min_cell_episodes": LEAGUE_CELL_EPISODES[scale],
        # tiny: 10-step games, a smoke test of the league's path
        "env_options": {**env_options, "max_cycles": 10} if scale == "tiny" else env_options,
    }
    tasks.append(Task("coin", COIN_LEAGUE_GROUP, "coin_game_v0", ["league", "league"], [0], league))
    return tasks


# CPU seconds per game step on an idle core (quick-scale main job): start order only. A step
# of one game counts once; the league's step is one step of one evaluation game.
COIN_COST_PER_STEP = {"lola": 1.3e-5, "IPPO": 2.5e-4, "shared PPO": 3.3e-4, "league": 2e-5}


def _coin_cost(task: Task) -> float:
    """Estimated CPU seconds of a coin task (:attr:`Suite.cost`)."""
    from lola_agents.league import FIXED_LEAGUE_AGENTS

    s = task.settings
    steps_per_game = s.get("env_options", {}).get("max_cycles", 50)
    if task.group == COIN_LEAGUE_GROUP:
        instances = (sum(len(learner["seeds"]) for learner in s["learners"]) + len(s.get("shipped", []))
                     + len(FIXED_LEAGUE_AGENTS) * s["fixed_instances"])
        games = instances * (instances - 1)
        return games * s["episodes_per_game"] * steps_per_game * COIN_COST_PER_STEP["league"]
    if "ppo_game_steps" in s:
        return s["ppo_game_steps"] * COIN_COST_PER_STEP.get(task.agents[0], COIN_COST_PER_STEP["shared PPO"])
    return s.get("updates", 0) * s.get("num_envs", 0) * steps_per_game * COIN_COST_PER_STEP["lola"]


def _train_coin_pair(
    name: str, seed: int, settings: dict[str, Any]
) -> tuple[list[Any], dict[str, list[float]], dict[str, Any]]:
    """Train a pair of ``name`` learners.

    Returns (agents, curves, the env options to play them in). Curves (one value per
    update): ``env_steps`` (game steps of all games so far), ``wall_time_s``,
    ``own_coin_rate`` and ``reward_per_step_0/1`` of the training batches (shared PPO:
    of each rollout of SB3's own loop).
    """
    from lola_agents.bench.studies import CoinCurves

    env_options = settings["env_options"]
    steps, games = env_options["max_cycles"], settings["num_envs"]
    if name in COIN_LEARNERS:
        from lola_agents.coin_lola import CoinLOLAAgent, preset
        from lola_agents.trainer import train

        updates = settings["updates"]
        preset_name, method = COIN_LEARNERS[name]
        config = preset(preset_name, method=method).agent
        agents = [CoinLOLAAgent(config, seed=agent_seed(seed, seat)) for seat in (0, 1)]
        curves = CoinCurves(updates)
        train(
            "coin_game_v0",
            *agents,
            updates=updates,
            steps_per_update=steps,
            num_envs=games,
            seed=seed,
            progress=False,
            env_options=env_options,
            on_update=curves.trainer_row,
        )
        return agents, curves.values, env_options
    from lola_agents.ppo import PPOConfig, make_ippo
    from lola_agents.ppo import train as train_ppo

    config = PPOConfig(n_steps=steps, batch_size=400)
    total_steps = settings["ppo_game_steps"]
    if name == "shared PPO":
        from lola_agents.shared_ppo import shared_env_options, train_shared_ppo

        curves = CoinCurves(-(-total_steps // (games * steps)))
        agent, _ = train_shared_ppo(
            "coin_game_v0", total_steps, games, seed=seed, config=config, callback=curves.sb3_callback(),
            **env_options
        )
        return [agent, agent], curves.values, shared_env_options("coin_game_v0", env_options)
    agents = make_ippo("coin_game_v0", games, seed, config, **env_options)
    curves = CoinCurves(-(-total_steps // (games * steps)))
    train_ppo(
        "coin_game_v0",
        agents,
        total_steps,
        games,
        seed=seed,
        callback=curves.ppo_record,
        **env_options,
    )
    return agents, curves.values, env_options


def _coin_self_play_metrics(agents: list[Any], seed: int, settings: dict[str, Any]) -> dict[str, list[Any]]:
    """The pair's evaluation with itself on fresh episodes: own-coin, reward per step, pickups."""
    from lola_agents.evaluation import evaluate

    result = evaluate(
        "coin_game_v0",
        agents[0],
        agents[1],
        episodes=settings["eval_episodes"],
        seed=derive_seed(seed, Stream.EVALUATION),
        **settings["env_options"],
    )
    return {
        "own_coin_rate": [result["own_coin_rate"]],
        "reward_per_step_0": [result["reward_per_step"][0]],
        "reward_per_step_1": [result["reward_per_step"][1]],
        "pickups_per_step": [result["pickups_per_step"]],
    }


def _run_coin(task: Task) -> dict[str, Any]:
    if task.group == COIN_LEAGUE_GROUP:
        return _run_coin_league(task)
    (seed,) = task.seeds
    settings = dict(task.settings)
    agents, curves, settings["env_options"] = _train_coin_pair(task.agents[0], seed, settings)
    if task.checkpoint_dir:
        from pathlib import Path

        for seat, agent in enumerate(agents if task.agents[0] != "shared PPO" else agents[:1]):
            agent.save(Path(task.checkpoint_dir) / f"player_{seat}")
        (Path(task.checkpoint_dir) / "env_options.json").write_text(json.dumps(settings["env_options"]))
    metrics = _coin_self_play_metrics(agents, seed, settings)
    return {"metrics": metrics, "curves": {k: [v] for k, v in curves.items() if v}}


def _run_coin_league(task: Task) -> dict[str, Any]:
    """Play the league of the agents the coin tasks of this run saved, and the fixed strategies."""
    from pathlib import Path

    from lola_agents.league import checkpoint_entry, fixed_entries, play_league

    if not task.checkpoint_dir:
        raise ValueError("the coin league reads the run's checkpoints: its task needs a checkpoint_dir")
    root = Path(task.checkpoint_dir).parents[1]  # <run>/checkpoints
    s = task.settings
    entries = []
    for learner in s["learners"]:
        folders = [root / Task("coin", learner["group"], task.env_id, task.agents, [seed]).key
                   for seed in learner["seeds"]]
        entries.append(checkpoint_entry(learner["name"], folders, shared=learner["shared"],
                                        egocentric=learner["egocentric"]))
    entries += [checkpoint_entry(shipped["name"], [shipped_checkpoint_dir(shipped["folder"])])
                for shipped in s.get("shipped", [])]
    entries += fixed_entries(int(s["fixed_instances"]))
    league = play_league(entries, int(s["episodes_per_game"]), seed=task.seeds[0], on_game=report_progress,
                         min_cell_episodes=int(s.get("min_cell_episodes", 0)), **s["env_options"])
    return {"metrics": {}, "extra": {"league": league}}


def _shipped_coin_tasks(scale: str, seeds: list[int] | None) -> list[Task]:
    settings = {"eval_episodes": COIN_EVAL_EPISODES[scale]}
    return [
        Task("coin_shipped", group, "coin_game_v0", [group, group], [0], {**settings, "checkpoint": folder})
        for group, folder in SHIPPED_COIN
        if (shipped_checkpoint_dir(folder) / "player_0").is_dir()
    ]


def _run_shipped_coin(task: Task) -> dict[str, Any]:
    """A shipped pair with itself, and each of its agents against always-defect in its seat."""
    from lola_agents.agents import load_agent
    from lola_agents.evaluation import evaluate
    from lola_agents.fixed import AlwaysDefectCoinAgent

    folder = shipped_checkpoint_dir(task.settings["checkpoint"])
    agents = [load_agent(str(folder / f"player_{seat}")) for seat in (0, 1)]
    settings = {**task.settings, "env_options": json.loads((folder / "env_options.json").read_text())}
    metrics = _coin_self_play_metrics(agents, task.seeds[0], settings)
    for seat in (0, 1):
        pair = [agents[0], AlwaysDefectCoinAgent()] if seat == 0 else [AlwaysDefectCoinAgent(), agents[1]]
        result = evaluate("coin_game_v0", *pair, episodes=settings["eval_episodes"],
                          seed=derive_seed(task.seeds[0], Stream.EVALUATION, 1 + seat), **settings["env_options"])
        metrics[f"vs_always_defect_{seat}"] = [result["reward_per_step"][seat]]
        metrics[f"takes_other_coin_after_theft_{seat}"] = [result[f"player_{seat}"].get("takes_other_coin_after_theft")]
    return {"metrics": metrics}


register_suite(
    Suite(
        name="coin",
        description="coin game (3x3, 50-step episodes): advantage alignment (the package's best LOLA-family "
        "learner), naive PG, Independent PPO and shared PPO trained in self-play, then a league of every "
        "trained agent (cross-seed) and the fixed strategies in both seats",
        make_tasks=_coin_tasks,
        run=_run_coin,
        cost=_coin_cost,
        headline=("own_coin_rate", "reward_per_step_0", "reward_per_step_1", "pickups_per_step"),
        intervals=True,
        notes=(
            "Self-play rows: each pair trained in the run, then evaluated with itself on 1000 fresh 50-step "
            "episodes; cells are mean [95% Student-t interval] over seeds. Own-coin rate = coins picked by "
            "their own colour's agent / all coins picked (both seats).",
            "Budgets (quick): AdAlign (preset 'adalign': 1024 games x 50 steps per update, MLP) 170 updates, "
            "where its recorded runs have converged (own-coin >= 0.99); NL-PG (preset 'fast', naive) 60 "
            "updates (its recorded runs stay at 0.50-0.55 in all 250 updates: 0.51-0.54 at 60, 0.50-0.52 at "
            "250); IPPO and shared PPO: "
            "SB3 defaults except n_steps 50 and batch 400, 32 games, 128k game steps (80 PPO updates; in "
            "runs of 192k steps every seed's own-coin rate over updates 70-80 was within 0.025 of its rate "
            "over updates 110-120, and IPPO trained on the fast preset's 12.8M steps stays at 0.52).",
            "LOLA-DiCE and LOLA-DiCE-PS need about 250 updates (0.5-2 s of CPU each) to mean anything: they "
            "train at --scale paper only; the 'coin_shipped' rows show agents trained that long.",
            "Published figures are for other settings and are not printed beside these rows: the LOLA "
            "paper's LOLA-PG own-coin 0.82 is for 4000 games x 150 steps with a recurrent network; "
            "Duque et al.'s advantage alignment (about 0.87) trains against a replay buffer of past selves "
            "with a GRU for 25,400 updates.",
            "League: always-defect (lola_agents.fixed.AlwaysDefectCoinAgent) moves along a shortest wrapped "
            "path to the coin whatever its colour, ties at random; always-own-coin goes for its own colour "
            "only and never steps on the other's coin; coin tit-for-tat is own-coin but greedy for 3 steps "
            "after each theft. Each trained agent plays the agent of every other seed in both seats.",
            "The shipped reciprocal agents (LOQA, 6000 updates; AdAlign-Q, advantage alignment on LOQA's recipe, "
            "4000 updates; trained for 45-70 CPU minutes, beyond this scale) join the league as entries of one "
            "checkpoint each: no cross-seed cell, no interval, and more episodes per game so that each of "
            "their cells pools as many episodes as a cell of the others at least (1000 at the quick scale).",
        ),
    )
)

register_suite(
    Suite(
        name="coin_shipped",
        description="the coin-game agents shipped with the package (the LOLA family and IPPO trained for 250 updates, "
        "LOQA for 6000, AdAlign-Q on LOQA's recipe for 4000): with themselves "
        "and against always-defect (an extra; the coin suite's rows are trained in the run)",
        make_tasks=_shipped_coin_tasks,
        run=_run_shipped_coin,
        headline=("own_coin_rate", "reward_per_step_0", "reward_per_step_1", "vs_always_defect_0",
                  "vs_always_defect_1", "takes_other_coin_after_theft_0"),
        notes=(
            "One checkpoint each (no spread over seeds); commands in docs/coin_game_lola.md. "
            "vs_always_defect_k: the reward per step of the agent of seat k against always-defect in "
            "the other seat (always-own-coin: -0.26).",
        ),
    )
)


# The suites behind the named experiment configs register themselves on import.
from lola_agents.bench import studies  # noqa: E402,F401
