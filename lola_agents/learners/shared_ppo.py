"""Parameter-shared PPO baseline through SuperSuit: one SB3 PPO policy plays every seat.

The standard PettingZoo recipe::

    parallel env --pettingzoo_env_to_vec_env_v1--> one vector env slot per agent
                 --concat_vec_envs_v1(num_games, base_class="stable_baselines3")--> SB3 VecEnv
                 --SuperSuitSB3Adapter (ours)--> PPO.learn()

so each of the ``2 * num_games`` slots is one agent of one game and SB3's own
``learn`` loop trains a single network on both agents' experience.

SuperSuit 3.11's SB3 wrapper has three gaps that :class:`SuperSuitSB3Adapter`
closes:

* no ``seed()`` (SB3 calls ``env.seed(seed)`` when the model is seeded): the
  adapter keeps the seed and passes it to the next ``reset`` (game k gets
  ``seed + k``, SuperSuit's own convention);
* no ``get_attr`` (the wrapped gymnasium vector env lacks it): the adapter
  reads the attribute from each slot's PettingZoo env;
* time-limit truncation is folded into ``done`` and never reported, so SB3
  would treat the 150-step cut-off as a true end: the adapter sets
  ``info["TimeLimit.truncated"]`` where an episode was truncated and not
  terminated, and SB3 then bootstraps with ``V(terminal_observation)``.

A shared policy needs to know which seat it plays. On the matrix games every
agent already sees its own side; on the coin game the default planes are the
same for both agents, so :func:`train_shared_ppo` uses ``egocentric=True``
there (planes ``[me, other, my coin, other's coin]``) unless told otherwise.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import supersuit as ss
from stable_baselines3.common.logger import Logger, configure
from stable_baselines3.common.vec_env import VecEnv as SB3VecEnv
from stable_baselines3.common.vec_env import VecFrameStack

import coin_game_env
from lola_agents.learners.ppo import PPOAgent, PPOConfig, build_sb3_ppo


class SuperSuitSB3Adapter(SB3VecEnv):
    """SB3 VecEnv over SuperSuit's concatenated vector env, with seed, get_attr and
    time-limit truncation handled (see the module docstring).

    Args:
        supersuit_venv: what ``supersuit.concat_vec_envs_v1(..., base_class=
            "stable_baselines3")`` returns (its inner ``ConcatVecEnv`` is used),
            or the ``ConcatVecEnv`` itself.
    """

    def __init__(self, supersuit_venv: Any) -> None:
        self.venv = getattr(supersuit_venv, "venv", supersuit_venv)
        if not hasattr(self.venv, "vec_envs"):
            raise TypeError(f"expected SuperSuit's ConcatVecEnv (or its SB3 wrapper), got {supersuit_venv!r}")
        # Set before VecEnv.__init__, which already calls get_attr("render_mode").
        self.num_envs = self.venv.num_envs
        self._slots_per_game = self.venv.vec_envs[0].num_envs
        self._pending_seed: int | None = None
        super().__init__(self.venv.num_envs, self.venv.observation_space, self.venv.action_space)

    def seed(self, seed: int | None = None) -> list[int | None]:
        """Remember ``seed`` for the next :meth:`reset` (SuperSuit resets game k with seed + k)."""
        self._pending_seed = seed
        num_games = self.num_envs // self._slots_per_game
        return [None if seed is None else seed + k for k in range(num_games)]

    def reset(self) -> np.ndarray:
        obs, infos = self.venv.reset(seed=self._pending_seed)
        self._pending_seed = None
        self.reset_infos = list(infos)
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self.venv.step_async(actions)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, terminations, truncations, infos = self.venv.step_wait()
        terminated = np.asarray(terminations, dtype=bool)
        truncated = np.asarray(truncations, dtype=bool)
        dones = terminated | truncated
        infos = [dict(info) for info in infos]
        for i in np.flatnonzero(dones):
            # SB3 bootstraps V(terminal_observation) only where this flag is set.
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return obs, np.asarray(rewards, dtype=np.float32), dones, infos

    def _slot_envs(self, indices: Any) -> list[Any]:
        """The PettingZoo env behind each requested slot."""
        games = self.venv.vec_envs
        return [games[i // self._slots_per_game].par_env for i in self._get_indices(indices)]

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(env, attr_name) for env in self._slot_envs(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        for env in self._slot_envs(indices):
            setattr(env, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list:
        return [getattr(env, method_name)(*args, **kwargs) for env in self._slot_envs(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))

    def close(self) -> None:
        self.venv.close()

    def render(self, mode: str | None = None) -> Any:
        return self.venv.render()


def make_supersuit_vec_env(env_id: str, num_games: int, **env_options: Any) -> SuperSuitSB3Adapter:
    """``num_games`` copies of ``coin_game_env.make(env_id)`` as one SB3 VecEnv of
    ``2 * num_games`` agent slots (slot ``2k + i`` = agent i of game k)."""
    parallel_env = coin_game_env.make(env_id, **env_options)
    markov = ss.pettingzoo_env_to_vec_env_v1(parallel_env)
    concat = ss.concat_vec_envs_v1(markov, num_games, num_cpus=0, base_class="stable_baselines3")
    return SuperSuitSB3Adapter(concat)


def shared_env_options(env_id: str, env_options: dict[str, Any]) -> dict[str, Any]:
    """The coin game defaults to egocentric planes for a shared policy (it must know its seat)."""
    options = dict(env_options)
    if env_id.startswith("coin_game") and "egocentric" not in options:
        options["egocentric"] = True
    return options


def train_shared_ppo(
    env_id: str,
    total_steps: int,
    num_games: int,
    seed: int = 0,
    config: PPOConfig | None = None,
    log_dir: str | Path | None = None,
    progress_bar: bool = False,
    verbose: int = 0,
    callback: Any = None,
    **env_options: Any,
) -> tuple[PPOAgent, dict[str, Any]]:
    """Train one shared PPO policy on both seats of ``num_games`` games with SB3's ``learn``.

    Args:
        total_steps: game steps over all games; SB3 counts agent slots, so it
            runs ``2 * total_steps`` agent steps (the same samples as IPPO's two agents).
        config: :class:`~lola_agents.learners.ppo.PPOConfig` (``n_steps`` per slot per update;
            ``history`` > 0 trains on SB3's ``VecFrameStack`` of ``history + 1`` frames).
        callback: an SB3 callback for ``learn`` (slot ``2k + i`` of its ``infos`` is agent i of game k).
        env_options: game options; the coin game gets ``egocentric=True`` unless given.

    Returns:
        ``(agent, info)``: the trained model wrapped as a :class:`~lola_agents.learners.ppo.PPOAgent`
        (play it in both seats with the same ``env_options``), and
        ``{"env_options", "seconds", "agent_steps"}``.
    """
    config = PPOConfig(**{**asdict(config or PPOConfig()), "seed": seed})
    options = shared_env_options(env_id, env_options)
    venv = make_supersuit_vec_env(env_id, num_games, **options)
    game_space = venv.observation_space
    if config.history:  # SB3's own frame stacking; PPOAgent.act stacks the same way
        venv = VecFrameStack(venv, n_stack=config.history + 1, channels_order="first")
    model = build_sb3_ppo(config, venv, verbose=verbose)
    if log_dir is None:
        model.set_logger(configure(None, ["stdout"]) if verbose else Logger(None, []))
    else:
        model.set_logger(configure(str(log_dir), ["tensorboard", "csv"]))
    start = time.time()
    agent_steps = 2 * int(total_steps)
    model.learn(total_timesteps=agent_steps, progress_bar=progress_bar, callback=callback)
    seconds = time.time() - start
    return PPOAgent.wrap(model, config, env_observation_space=game_space), {
        "env_options": options,
        "seconds": seconds,
        "agent_steps": int(model.num_timesteps),
    }
