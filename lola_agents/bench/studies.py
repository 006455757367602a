"""Suites behind the named experiment configs (``lola-bench --experiment NAME``).

These are the studies that used to be separate scripts: a coin-game pair trained
with the shared trainer and evaluated against fixed strategies (``coin_pair``),
fixed strategies and shipped agents against greedy (``coin_reference``) and the
recorded PPO baselines (``ppo_baselines``). The exact-gradient and sampled IPD/IMP
studies are the ``exact`` and ``sampled_ipd`` suites of
:mod:`lola_agents.bench.suites` with wider settings. Each suite returns per-seed
metrics and curves indexed by ``env_steps`` (game steps of all games so far) and
``wall_time_s`` (seconds since training started), so every learner can be drawn
on one axis.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from lola_agents.bench.core import Suite, Task, register_suite, report_progress
from lola_agents.seeding import Stream, agent_seed, derive_seed

# Coin-game learner kinds of a ``coin_pair`` experiment: overrides of the preset's learner.
COIN_LEARNER_KINDS: dict[str, dict[str, Any]] = {
    "lola": {},
    "lola_pg": {"method": "lola_pg"},
    "lola_dice": {"method": "lola_dice"},
    "lola_ps": {"method": "lola_dice", "lookahead_space": "policy"},
    "nl": {"method": "naive"},
    "om": {"opponent_model": True},
    "aa": {},  # filled below: the "adalign" preset's learner
}
COIN_FIXED_KINDS = ("greedy", "own", "random")
# Independent PPO on the LOLA learners' batches: SB3's defaults except one update per batch
# of whole episodes, minibatches of 2048 and 4 epochs (51,200 samples per batch on 2 cores).
COIN_PAIR_IPPO_CONFIG = {"batch_size": 2048, "n_epochs": 4}
COIN_PAIR_EVAL_EPISODES = 1000


def _fill_adalign() -> None:
    from lola_agents.coin_lola import ADVANTAGE_ALIGNMENT

    COIN_LEARNER_KINDS["aa"] = dict(ADVANTAGE_ALIGNMENT)


def coin_fixed_agent(kind: str, seed: int) -> Any:
    """The fixed coin-game strategy ``kind`` (``greedy``, ``own`` or ``random``: names of
    the agent registry, :func:`lola_agents.agents.make_agent`)."""
    from lola_agents.agents import make_agent

    if kind not in COIN_FIXED_KINDS:
        raise ValueError(f"unknown fixed coin strategy {kind!r}; known: {sorted(COIN_FIXED_KINDS)}")
    return make_agent(kind, "coin_game_v0", seed=seed)


class CoinMetrics:
    """Wraps a learner that does not log the own-coin rate (IPPO) so its curve has one."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.name = "IPPO"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.agent, name)

    def initial_state(self, num_envs: int) -> Any:
        return self.agent.initial_state(num_envs)

    def act(self, obs: Any, state: Any, episode_starts: Any) -> Any:
        return self.agent.act(obs, state, episode_starts)

    def learn(self, batch: Any, opponent_batch: Any) -> dict[str, float]:
        from lola_agents.metrics import joint_own_coin_rate

        logs = dict(self.agent.learn(batch, opponent_batch) or {})
        logs["own_coin_rate"] = joint_own_coin_rate([batch, opponent_batch])
        return logs


class CoinCurves:
    """Per-update curves of a coin-game training run, on the common axis.

    ``values``: ``update`` (from 1), ``env_steps`` (game steps of all games so far), ``wall_time_s`` (since
    this object was made), ``own_coin_rate`` and ``reward_per_step_0/1`` of the training
    batches; one entry per update. Pass :meth:`trainer_row` as ``on_update`` of
    ``lola_agents.trainer.train`` or :meth:`ppo_record` as ``callback`` of
    ``lola_agents.ppo.train``.
    """

    def __init__(self, updates: int | None = None) -> None:
        self.updates = updates  # for the runner's in-task progress (None: unknown)
        self.start = time.perf_counter()
        self.values: dict[str, list[float]] = {
            "update": [],
            "env_steps": [],
            "wall_time_s": [],
            "own_coin_rate": [],
            "reward_per_step_0": [],
            "reward_per_step_1": [],
        }

    def _add(self, env_steps: int, own: float, rewards: list[float]) -> None:
        self.values["update"].append(len(self.values["update"]) + 1)
        self.values["env_steps"].append(env_steps)
        self.values["wall_time_s"].append(time.perf_counter() - self.start)
        self.values["own_coin_rate"].append(own)
        for seat in (0, 1):
            self.values[f"reward_per_step_{seat}"].append(rewards[seat])
        if self.updates:
            report_progress(len(self.values["env_steps"]), self.updates)

    def trainer_row(self, update: int, row: dict[str, float]) -> None:
        """``on_update`` of the shared trainer (``update`` counts from 1)."""
        own = next(
            (row[k] for k in ("agent0/own_coin_rate", "agent1/own_coin_rate") if k in row),
            math.nan,
        )
        self._add(int(row["env_steps"]), own, [row["reward_0"], row["reward_1"]])

    def ppo_record(self, update: int, batches: Any, record: dict[str, Any]) -> None:
        """``callback`` of ``lola_agents.ppo.train``."""
        from lola_agents.metrics import joint_own_coin_rate

        self._add(record["steps"], joint_own_coin_rate(batches), record["reward_per_step"])

    def sb3_callback(self) -> Any:
        """An SB3 callback for ``lola_agents.shared_ppo.train_shared_ppo`` (slot ``2k + i`` =
        agent i of game k): one point per PPO rollout, from the coin pickups in the env's infos."""
        from stable_baselines3.common.callbacks import BaseCallback

        curves = self

        class RolloutCurves(BaseCallback):
            def _on_rollout_start(self) -> None:
                self.sums = np.zeros((2, 3))  # per seat: reward, own-colour pickups, other-colour pickups
                self.steps = 0

            def _on_step(self) -> bool:
                rewards = np.asarray(self.locals["rewards"], dtype=np.float64).reshape(-1, 2)
                self.sums[:, 0] += rewards.sum(axis=0)
                for slot, info in enumerate(self.locals["infos"]):
                    self.sums[slot % 2, 1] += info.get("own_coins", 0)
                    self.sums[slot % 2, 2] += info.get("other_coins", 0)
                self.steps += len(rewards)
                return True

            def _on_rollout_end(self) -> None:
                own, picked = self.sums[:, 1].sum(), self.sums[:, 1:].sum()
                curves._add(self.num_timesteps // 2, float(own / picked) if picked else math.nan,
                            [float(r) for r in self.sums[:, 0] / max(self.steps, 1)])

        return RolloutCurves()


def make_coin_pair_agent(
    kind: str, preset_name: str, seed: int, overrides: dict[str, Any], num_envs: int
) -> Any:
    """A learner of ``kind`` from the preset (plus ``overrides``), IPPO, or a fixed strategy."""
    from lola_agents.coin_lola import CoinLOLAAgent, preset

    _fill_adalign()
    if kind in COIN_FIXED_KINDS:
        return coin_fixed_agent(kind, seed)
    if kind == "ippo":
        from lola_agents.ppo import PPOAgent, PPOConfig

        setting = preset(preset_name)
        config = PPOConfig(n_steps=setting.max_cycles, seed=seed, **COIN_PAIR_IPPO_CONFIG)
        return CoinMetrics(
            PPOAgent.for_env("coin_game_v0", num_envs, config, **setting.env_kwargs())
        )
    if kind not in COIN_LEARNER_KINDS:
        known = sorted(COIN_LEARNER_KINDS) + ["ippo", *COIN_FIXED_KINDS]
        raise ValueError(f"unknown coin-game agent kind {kind!r}; known: {known}")
    config = preset(preset_name, **{**COIN_LEARNER_KINDS[kind], **overrides}).agent
    return CoinLOLAAgent(config, seed=seed)


def coin_score(
    a: Any, b: Any, env_options: dict[str, Any], episodes: int, seed: int
) -> dict[str, Any]:
    """``evaluate`` of A (player_0) vs B on the coin game with evaluation seed ``seed``, the
    fields a coin report uses."""
    from lola_agents.evaluation import evaluate

    r = evaluate("coin_game_v0", a, b, episodes=episodes, seed=seed, **env_options)
    return {
        "reward_per_step": r["reward_per_step"],
        "own_coin_rate": r["own_coin_rate"],
        "own_coin_rate_by_seat": [r["player_0"]["own_coin_rate"], r["player_1"]["own_coin_rate"]],
        "pickups_per_step": r["pickups_per_step"],
        # evaluation.retaliation per seat: [after a theft, otherwise]
        "takes_other_coin": [
            [
                r[f"player_{i}"].get("takes_other_coin_after_theft"),
                r[f"player_{i}"].get("takes_other_coin_otherwise"),
            ]
            for i in (0, 1)
        ],
    }


def coin_head_to_head(
    agents: list[Any], env_options: dict[str, Any], episodes: int, seed: int
) -> dict[str, Any]:
    """The trained pair, greedy vs greedy, each learner vs greedy / own-coin-only in both seats,
    every game with evaluation seed ``seed`` (the fixed strategies are reseeded from it).

    Keys as in the recorded runs (``benchmarks/results/coin/records.jsonl``): ``pair``,
    ``greedy_vs_greedy``, ``player_<i>_vs_<greedy|own>_as_player_<j>``.
    """
    from lola_agents.coin_lola import CoinLOLAAgent
    from lola_agents.fixed import GreedyCoinAgent, OwnCoinAgent

    out: dict[str, Any] = {"pair": coin_score(agents[0], agents[1], env_options, episodes, seed)}
    out["greedy_vs_greedy"] = coin_score(
        GreedyCoinAgent(), GreedyCoinAgent(), env_options, episodes, seed
    )
    for seat, agent in enumerate(agents):
        if not isinstance(agent, CoinLOLAAgent | CoinMetrics):
            continue
        # CoinLOLAAgent reads canonical planes, so it can take either seat; IPPO keeps its own.
        seats = (0, 1) if isinstance(agent, CoinLOLAAgent) else (seat,)
        for name, cls in (("greedy", GreedyCoinAgent), ("own", OwnCoinAgent)):
            if 0 in seats:
                out[f"player_{seat}_vs_{name}_as_player_0"] = coin_score(
                    agent, cls(), env_options, episodes, seed
                )
            if 1 in seats:
                out[f"player_{seat}_vs_{name}_as_player_1"] = coin_score(
                    cls(), agent, env_options, episodes, seed
                )
        if hasattr(agent, "assign_seat"):
            agent.assign_seat(seat)
    return out


def coin_pair_metrics(evaluation: dict[str, Any], kinds: list[str]) -> dict[str, float | None]:
    """Flat per-seed metrics of one ``coin_head_to_head`` result (the report's columns)."""
    pair = evaluation["pair"]
    metrics: dict[str, float | None] = {
        "own_coin_rate": pair["own_coin_rate"],
        "reward_per_step_0": pair["reward_per_step"][0],
        "reward_per_step_1": pair["reward_per_step"][1],
        "pickups_per_step": pair["pickups_per_step"],
        "greedy_vs_greedy": sum(evaluation["greedy_vs_greedy"]["reward_per_step"]) / 2,
    }
    for seat in (0, 1):
        for opponent in ("greedy", "own"):
            for as_seat in (0, 1):
                key = f"player_{seat}_vs_{opponent}_as_player_{as_seat}"
                if key in evaluation:
                    score = evaluation[key]
                    metrics[f"{key}_reward"] = score["reward_per_step"][as_seat]
                    if opponent == "greedy":
                        after, otherwise = score["takes_other_coin"][as_seat]
                        metrics[f"{key}_takes_other_coin_after_theft"] = after
                        metrics[f"{key}_takes_other_coin_otherwise"] = otherwise
    return metrics


def train_coin_pair(
    kinds: list[str], seed: int, s: dict[str, Any], **train_options: Any
) -> tuple[list[Any], CoinCurves, dict[str, Any], float]:
    """Train a coin-game pair of agent ``kinds`` (seat 0, seat 1) as a ``coin_pair`` config says.

    ``s``: ``preset``, ``updates``, ``num_envs``, optional ``overrides`` of the learner
    config and ``population`` (``greedy_fraction``, ``no_shaping_vs_greedy``,
    ``past_self_fraction``, ``past_self_every``, ``past_self_size``; or the anchors'
    self-play against a replay buffer of past selves, :func:`lola_agents.population.
    self_play_with_past_selves`: ``past_self_share``, ``past_self_every`` (10),
    ``past_self_size`` (10,000), ``past_self_draws`` (one per game)). With
    ``past_self_share`` the seat-0 learner is the only one that learns, and the pair
    returned is that learner and a copy of its policy in seat 1. Agent seeds are
    ``agent_seed(seed, seat)``; stand-ins draw from
    ``derive_seed(seed, Stream.STAND_IN)`` (:mod:`lola_agents.seeding`).
    ``train_options`` go to :func:`lola_agents.trainer.train` (``log_dir``,
    ``checkpoint_every``, ``resume``: a long run that can stop and resume).
    Returns (agents, their curves, the env options, training seconds).
    """
    import torch

    from lola_agents.coin_lola import preset
    from lola_agents.population import (
        self_play_with_past_selves,
        with_greedy_stand_ins,
        with_past_self_stand_ins,
    )
    from lola_agents.trainer import train

    torch.set_num_threads(int(s.get("threads", 1)))
    overrides = dict(s.get("overrides", {}))
    setting = preset(s["preset"], **overrides)
    env_options = setting.env_kwargs()
    num_envs, updates = int(s["num_envs"]), int(s["updates"])
    agents = [
        make_coin_pair_agent(k, s["preset"], agent_seed(seed, i), overrides, num_envs)
        for i, k in enumerate(kinds)
    ]
    population = s.get("population", {})
    if population.get("past_self_share"):
        if kinds[0] != kinds[1] or kinds[0] not in COIN_LEARNER_KINDS:
            raise ValueError(f"self-play against past selves needs one coin-game learner kind in both seats, got {kinds}")
        players = self_play_with_past_selves(
            agents[0], num_envs, population["past_self_share"], population.get("past_self_every", 10),
            population.get("past_self_size", 10_000), seed=derive_seed(seed, Stream.STAND_IN),
            draws=population.get("past_self_draws"))
    elif population.get("past_self_fraction"):
        if any(k not in COIN_LEARNER_KINDS for k in kinds):
            raise ValueError(f"past selves need two coin-game learners, got {kinds}")
        players = with_past_self_stand_ins(
            agents,
            num_envs,
            population["past_self_fraction"],
            population.get("past_self_every", 10),
            population.get("past_self_size", 20),
            seed=derive_seed(seed, Stream.STAND_IN),
        )
    elif population.get("greedy_fraction"):
        players = with_greedy_stand_ins(
            agents,
            num_envs,
            population["greedy_fraction"],
            seed=derive_seed(seed, Stream.STAND_IN),
            mark_fixed_opponents=bool(population.get("no_shaping_vs_greedy", False)),
        )
    else:
        players = agents
    curves = CoinCurves(updates)
    train(
        "coin_game_v0",
        players[0],
        players[1],
        updates=updates,
        steps_per_update=env_options["max_cycles"],
        num_envs=num_envs,
        seed=seed,
        progress=False,
        env_options=env_options,
        on_update=curves.trainer_row,
        **train_options,
    )
    if population.get("past_self_share"):
        # seat 1 plays the learner's final policy
        agents[1].set_policy_weights({k: v.detach().clone() for k, v in agents[0].policy.state_dict().items()})
    return agents, curves, env_options, time.perf_counter() - curves.start


def _coin_pair_run(task: Task) -> dict[str, Any]:
    from lola_agents.coin_lola import CoinLOLAAgent

    (seed,) = task.seeds
    s = task.settings
    kinds = list(task.agents)
    agents, curves, env_options, train_seconds = train_coin_pair(kinds, seed, s)
    updates = int(s["updates"])
    if task.checkpoint_dir:
        for i, agent in enumerate(agents):
            inner = agent.agent if isinstance(agent, CoinMetrics) else agent
            if kinds[i] not in COIN_FIXED_KINDS:
                inner.save(Path(task.checkpoint_dir) / f"player_{i}")
        (Path(task.checkpoint_dir) / "env_options.json").write_text(json.dumps(env_options))
    last = max(1, updates // 10)
    evaluation = coin_head_to_head(
        agents,
        env_options,
        int(s.get("eval_episodes", COIN_PAIR_EVAL_EPISODES)),
        derive_seed(seed, Stream.EVALUATION),
    )
    metrics = coin_pair_metrics(evaluation, kinds)
    metrics["training_last_10pct_own_coin"] = sum(curves.values["own_coin_rate"][-last:]) / last
    metrics["train_seconds"] = train_seconds
    record = {
        "agent_configs": [a.config() if isinstance(a, CoinLOLAAgent) else None for a in agents],
        "evaluation": evaluation,
    }
    return {
        "metrics": {k: [v] for k, v in metrics.items()},
        "curves": {k: [v] for k, v in curves.values.items()},
        "extra": {"records": [record]},
    }


register_suite(
    Suite(
        name="coin_pair",
        description="a coin-game pair trained with the shared trainer (any learner kinds, presets, overrides, population training), then evaluated against itself, greedy and own-coin-only",
        make_tasks=lambda scale, seeds: [],  # experiment configs only
        run=_coin_pair_run,
        headline=(
            "own_coin_rate",
            "reward_per_step_0",
            "reward_per_step_1",
            "player_0_vs_greedy_as_player_0_reward",
            "player_0_vs_greedy_as_player_0_takes_other_coin_after_theft",
            "greedy_vs_greedy",
        ),
        notes=(
            "Evaluation after training: fresh episodes (1000 unless the config says), sampled actions, "
            "seed derive_seed(seed, Stream.EVALUATION); fixed opponents: greedy and own-coin-only (lola_agents.fixed).",
            "vs-greedy reward is the learner's reward per step in that seat; takes-other-coin after a "
            "theft is lola_agents.evaluation.retaliation of the learner.",
        ),
    )
)


# --------------------------------------------------------------------------- coin cross-play


def _coin_cross_play_run(task: Task) -> dict[str, Any]:
    """Two self-play pairs of the same seed (kinds A and B), then A's player_0 against B's
    player_1 and B's player_0 against A's player_1."""
    from lola_agents.evaluation import evaluate

    (seed,) = task.seeds
    s = task.settings
    kind_a, kind_b = task.agents
    a, curves, env_options, _ = train_coin_pair([kind_a, kind_a], seed, s)
    b, _, _, _ = train_coin_pair(
        [kind_b, kind_b], seed, {**s, "overrides": s.get("opponent_overrides", {})}
    )
    episodes = int(s.get("eval_episodes", COIN_PAIR_EVAL_EPISODES))
    metrics: dict[str, float] = {}
    for a_seat, (x, y) in ((0, (a[0], b[1])), (1, (b[0], a[1]))):
        r = evaluate(
            "coin_game_v0", x, y, episodes=episodes, seed=derive_seed(seed, Stream.EVALUATION), **env_options
        )
        b_seat = 1 - a_seat
        metrics[f"a_reward_as_player_{a_seat}"] = r["reward_per_step"][a_seat]
        metrics[f"b_reward_vs_a_as_player_{a_seat}"] = r["reward_per_step"][b_seat]
        metrics[f"a_own_coin_as_player_{a_seat}"] = r[f"player_{a_seat}"]["own_coin_rate"]
        metrics[f"b_own_coin_vs_a_as_player_{a_seat}"] = r[f"player_{b_seat}"]["own_coin_rate"]
    return {
        "metrics": {k: [v] for k, v in metrics.items()},
        "curves": {k: [v] for k, v in curves.values.items()},
    }


register_suite(
    Suite(
        name="coin_cross_play",
        description="coin-game cross-play: a learner pair and an opponent pair (e.g. IPPO) trained in self-play with the same seed, then each learner against the other kind in the other seat",
        make_tasks=lambda scale, seeds: [],  # experiment configs only
        run=_coin_cross_play_run,
        headline=(
            "a_reward_as_player_0",
            "b_reward_vs_a_as_player_0",
            "a_reward_as_player_1",
            "b_reward_vs_a_as_player_1",
            "a_own_coin_as_player_0",
            "b_own_coin_vs_a_as_player_0",
        ),
        notes=(
            "a = the first learner of the pairing, b = the second; evaluation seed derive_seed(seed, Stream.EVALUATION) "
            "(lola_agents.seeding), "
            "1000 episodes unless the config says.",
        ),
    )
)


# --------------------------------------------------------------------------- coin reference
def _coin_reference_agents() -> dict[str, Any]:
    from lola_agents.agents import load_agent
    from lola_agents.bench.suites import SHIPPED_COIN, shipped_checkpoint_dir
    from lola_agents.fixed import GreedyCoinAgent, OwnCoinAgent, TitForTatCoinAgent

    players: dict[str, Any] = {
        # (evaluate reseeds fixed strategies from the evaluation seed)
        "TitForTatCoinAgent (3 steps)": lambda seat: TitForTatCoinAgent(),
        "TitForTatCoinAgent (1 step)": lambda seat: TitForTatCoinAgent(1),
        "OwnCoinAgent": lambda seat: OwnCoinAgent(),
        "GreedyCoinAgent": lambda seat: GreedyCoinAgent(),
    }
    for _, folder in SHIPPED_COIN:
        if (shipped_checkpoint_dir(folder) / "player_0").is_dir():
            players[f"shipped {folder}"] = lambda seat, folder=folder: load_agent(
                str(shipped_checkpoint_dir(folder) / f"player_{seat}")
            )
    return players


def _coin_reference_run(task: Task) -> dict[str, Any]:
    from lola_agents.coin_lola import preset
    from lola_agents.evaluation import evaluate
    from lola_agents.fixed import GreedyCoinAgent

    env = preset(task.settings.get("preset", "fast")).env_kwargs()
    episodes = int(task.settings.get("eval_episodes", COIN_PAIR_EVAL_EPISODES))
    make = _coin_reference_agents()[task.agents[0]]

    def play(a: Any, b: Any) -> dict[str, Any]:
        return evaluate("coin_game_v0", a, b, episodes=episodes, seed=evaluation_seed, **env)

    (seed,) = task.seeds
    evaluation_seed = derive_seed(seed, Stream.EVALUATION)
    as_0 = play(make(0), GreedyCoinAgent())
    as_1 = play(GreedyCoinAgent(), make(1))
    pair = play(make(0), make(1))
    metrics = {
        "vs_greedy_as_player_0": as_0["reward_per_step"][0],
        "vs_greedy_as_player_1": as_1["reward_per_step"][1],
        "takes_other_coin_after_theft": as_0["player_0"]["takes_other_coin_after_theft"],
        "takes_other_coin_otherwise": as_0["player_0"]["takes_other_coin_otherwise"],
        "with_itself_reward_per_step": sum(pair["reward_per_step"]) / 2,
        "with_itself_own_coin_rate": pair["own_coin_rate"],
    }
    return {"metrics": {k: [v] for k, v in metrics.items()}}


register_suite(
    Suite(
        name="coin_reference",
        description="fixed coin-game strategies (tit-for-tat, own-coin-only, greedy) and the shipped trained agents, frozen, against greedy and with themselves",
        make_tasks=lambda scale, seeds: [],  # experiment configs only
        run=_coin_reference_run,
        headline=(
            "vs_greedy_as_player_0",
            "vs_greedy_as_player_1",
            "takes_other_coin_after_theft",
            "takes_other_coin_otherwise",
            "with_itself_reward_per_step",
            "with_itself_own_coin_rate",
        ),
        notes=("Agents play frozen; greedy moves to the nearest coin whatever its colour.",),
    )
)


# --------------------------------------------------------------------------- PPO baselines
def _ppo_baselines_run(task: Task) -> dict[str, Any]:
    from dataclasses import asdict

    import torch

    from lola_agents.evaluation import evaluate
    from lola_agents.fixed import AlwaysDefect, TitForTat
    from lola_agents.ppo import PPOAgent, PPOConfig, agent_seeds, make_ippo, train
    from lola_agents.shared_ppo import train_shared_ppo

    torch.set_num_threads(1)
    (seed,) = task.seeds
    s = task.settings
    config = PPOConfig(**s.get("ppo_config", {}))
    env_options = dict(s.get("env_options", {}))
    num_envs, opponent = int(s["num_envs"]), s["opponent"]
    steps_per_update = config.n_steps * num_envs
    game_steps = int(s["updates"]) * steps_per_update
    curves: dict[str, list[float]] = {
        "env_steps": [],
        "wall_time_s": [],
        "reward_per_step_0": [],
        "reward_per_step_1": [],
    }
    start = time.perf_counter()
    if opponent == "shared":
        agent, _ = train_shared_ppo(
            task.env_id, game_steps, num_envs, seed=seed, config=config, **env_options
        )
        agents: list[Any] = [agent, agent]
    else:
        if opponent == "ippo":
            agents = make_ippo(task.env_id, num_envs, seed, config, **env_options)
        else:
            fixed = {"tft": TitForTat, "alld": AlwaysDefect}
            if opponent not in fixed:
                raise ValueError(
                    f"unknown PPO opponent {opponent!r}; known: ippo, shared, {sorted(fixed)}"
                )
            cfg = PPOConfig(**{**asdict(config), "seed": agent_seeds(seed)[0]})
            learner = PPOAgent.for_env(task.env_id, num_envs, cfg, **env_options)
            agents = [learner, fixed[opponent](seed=seed)]

        def on_update(update: int, batches: Any, record: dict[str, Any]) -> None:
            curves["env_steps"].append(record["steps"])
            curves["wall_time_s"].append(time.perf_counter() - start)
            for seat in (0, 1):
                curves[f"reward_per_step_{seat}"].append(record["reward_per_step"][seat])
            report_progress(record["steps"], game_steps)

        train(
            task.env_id, agents, game_steps, num_envs, seed=seed, callback=on_update, **env_options
        )
    train_seconds = time.perf_counter() - start
    result = evaluate(
        task.env_id,
        agents[0],
        agents[1],
        int(s.get("eval_episodes", 64)),
        seed=derive_seed(seed, Stream.EVALUATION),
        **env_options,
    )
    metrics: dict[str, Any] = {
        "reward_per_step_0": result["reward_per_step"][0],
        "reward_per_step_1": result["reward_per_step"][1],
        "train_seconds": train_seconds,
        "game_steps": game_steps,
    }
    if task.env_id.startswith("coin_game"):
        metrics["own_coin_rate"] = result["own_coin_rate"]
        metrics["pickups_per_step"] = result["pickups_per_step"]
    else:
        for state, p in result["player_0"]["p_action0"].items():
            metrics[f"p_coop_{state}_0"] = p
    return {
        "metrics": {k: [v] for k, v in metrics.items()},
        "curves": {k: [v] for k, v in curves.items() if v},
    }


register_suite(
    Suite(
        name="ppo_baselines",
        description="PPO baselines: Independent PPO in self-play, PPO against tit-for-tat / always-defect, one shared PPO policy (SB3)",
        make_tasks=lambda scale, seeds: [],  # experiment configs only
        run=_ppo_baselines_run,
        headline=(
            "reward_per_step_0",
            "reward_per_step_1",
            "own_coin_rate",
            "pickups_per_step",
            "p_coop_start_0",
            "p_coop_CC_0",
            "p_coop_CD_0",
            "p_coop_DC_0",
            "p_coop_DD_0",
        ),
        notes=(
            "Evaluation after training: fresh episodes (64 unless the config says), seed derive_seed(seed, Stream.EVALUATION) "
            "(lola_agents.seeding), "
            "sampled actions. PPO settings: SB3 defaults except the config's ppo_config.",
        ),
    )
)


# --------------------------------------------------------------------------- LOQA
# Curves of a LOQA run are thinned to one point per this many updates (the run's
# progress.csv keeps every update).
LOQA_CURVE_EVERY = 50


def _loqa_run(task: Task) -> dict[str, Any]:
    """Train LOQA against its past selves (a preset of :mod:`lola_agents.learners.loqa`), then
    evaluate it frozen on the LOQA-league protocol (:func:`lola_agents.learners.loqa_eval.evaluate_loqa`).

    Settings: ``preset`` (``cpu`` or ``paper``), optional ``updates`` and ``num_envs`` (default:
    the preset's), ``checkpoint_every`` (default 250; the run resumes from its checkpoint in
    the task's checkpoint folder), ``eval_episodes`` and ``eval_blocks`` (default 1000, 10),
    ``eval_max_cycles`` (default [50, 150]: the LOQA league's and the LOLA paper's episodes;
    metrics of the first have no suffix, the others end in ``_<steps>steps``).
    """
    import dataclasses
    import tempfile

    from lola_agents.learners.loqa import preset as loqa_preset
    from lola_agents.learners.loqa import train_loqa
    from lola_agents.learners.loqa_eval import evaluate_loqa

    (seed,) = task.seeds
    s = task.settings
    setting = loqa_preset(s["preset"], **s.get("overrides", {}))
    setting = dataclasses.replace(setting, **{k: int(s[k]) for k in ("updates", "num_envs") if k in s})
    with tempfile.TemporaryDirectory(prefix="loqa-") as scratch:
        log_dir = Path(task.checkpoint_dir or scratch) / "training"
        started = time.perf_counter()
        result = train_loqa(setting, seed, log_dir=log_dir, checkpoint_every=int(s.get("checkpoint_every", 250)),
                            resume=True, threads=int(s.get("threads", 1)), progress=False,
                            on_update=lambda update, row: report_progress(update, setting.updates))
        train_seconds = time.perf_counter() - started
        metrics: dict[str, Any] = {"train_seconds": train_seconds, "updates": len(result.history)}
        evaluations = {}
        protocols = [int(steps) for steps in s.get("eval_max_cycles", [50, 150])]
        for steps in protocols:
            ev = evaluate_loqa([log_dir], int(s.get("eval_episodes", 1000)), int(s.get("eval_blocks", 10)),
                               seed=derive_seed(seed, Stream.EVALUATION), max_cycles=steps, setting=setting)
            evaluations[str(steps)] = ev
            sp, ad = ev["self_play"][0], ev["vs_always_defect"]["per_instance"][0]
            suffix = "" if steps == protocols[0] else f"_{steps}steps"  # the first is the headline
            metrics[f"own_coin_rate{suffix}"] = sp["own_coin_rate"]["mean"]
            for seat in (0, 1):
                metrics[f"reward_per_step_{seat}{suffix}"] = sp[f"seat_{seat}"]["reward_per_step"]["mean"]
                metrics[f"vs_always_defect_{seat}{suffix}"] = ad[f"seat_{seat}"]["reward_per_step"]["mean"]
                for key in ("takes_other_coin_after_theft", "takes_other_coin_otherwise"):
                    metrics[f"{key}_vs_always_defect_{seat}{suffix}"] = ad[f"seat_{seat}"][key]["mean"]
    kept = [k for k in range(len(result.history))
            if (k + 1) % LOQA_CURVE_EVERY == 0 or k + 1 == len(result.history)]
    rows = [(result.history[k], result.wall_time_s[k]) for k in kept]
    curves = {
        "update": [k + 1 for k in kept],
        "env_steps": [row["env_steps"] for row, _ in rows],
        "wall_time_s": [wall for _, wall in rows],
        "own_coin_rate": [row.get("agent0/own_coin_rate", math.nan) for row, _ in rows],
        "reward_per_step_0": [row["reward_0"] for row, _ in rows],
        "reward_per_step_1": [row["reward_1"] for row, _ in rows],
    }
    return {"metrics": {k: [v] for k, v in metrics.items()}, "curves": {k: [v] for k, v in curves.items()},
            "extra": {"records": [{"evaluation_by_max_cycles": evaluations}]}}


register_suite(
    Suite(
        name="loqa",
        description="LOQA trained against its past selves (lola_agents.learners.loqa presets), then the LOQA "
        "league protocol: self-play and against always-defect in both seats, 50- and 150-step episodes",
        make_tasks=lambda scale, seeds: [],  # experiment configs only
        run=_loqa_run,
        headline=("own_coin_rate", "reward_per_step_0", "reward_per_step_1", "vs_always_defect_0",
                  "vs_always_defect_1", "takes_other_coin_after_theft_vs_always_defect_0"),
        notes=(
            "Evaluation (lola_agents.learners.loqa_eval): the learner of seat 0, frozen, with a copy of itself "
            "and against always-defect (shortest wrapped path, random ties) in each seat, >= 1000 episodes "
            "each in 10 evaluation games; per-seed means here, intervals over evaluation games in the record.",
            "Published LOQA checkpoints (LOQA league, 50 steps): own-coin 0.76-0.91, reward/step 0.22-0.30, "
            "vs always-defect -0.054 / -0.072 (docs/loqa.md).",
        ),
    )
)
