"""Independent PPO (IPPO): one Stable-Baselines3 PPO model per agent.

Each :class:`PPOAgent` owns a complete SB3 ``PPO`` model (policy, rollout
buffer, optimiser, logger) and sits behind the rollout
:class:`~lola_agents.rollout.Agent` protocol, so it can face another PPOAgent,
a fixed strategy or a LOLA learner on identical terms. The shared
:func:`~lola_agents.rollout.collect` plays the episodes; each agent then

1. fills its SB3 ``RolloutBuffer`` from its own :class:`~lola_agents.rollout.Batch`
   (values from ``model.policy``; where an episode was truncated by the time
   limit the reward gets ``+ gamma * V(final obs)``, exactly as SB3's
   ``collect_rollouts`` does),
2. calls SB3's ``compute_returns_and_advantage`` and SB3's own ``PPO.train()``
   (nothing of PPO is re-implemented here),
3. logs through SB3's logger (TensorBoard / CSV when ``log_dir`` is given).

Both agents learn simultaneously from the same episodes (:func:`train`).

SB3 builds its models from an env; :class:`SpacesVecEnv` is a stub SB3
``VecEnv`` that only exposes the spaces and the number of games.

Coin game networks: SB3's ``NatureCNN`` needs images of at least 36x36, so the
3x3 planes go either through SB3's MLP on the flattened planes
(``features="flatten"``, default) or through :class:`CoinGameCNN`, two 3x3
convolutions with circular padding (the board is a torus) of 20 filters as in
the paper's network, without its recurrent core (``features="coin_cnn"``).

Randomness: the weights come from ``seed`` (SB3 seeds torch at construction);
action sampling uses the agent's own ``torch.Generator`` and SB3's minibatch
shuffling (global numpy) is reseeded from the agent's own generator before each
update, so a seeded run is bit-identical and one agent's draws never shift the
other's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.logger import Logger, configure
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnv as SB3VecEnv
from torch import nn

import coin_game_env
from lola_agents.metrics import batch_reward_per_step
from lola_agents.rollout import Agent, BaseAgent, Batch
from lola_agents.seeding import Stream, derive_seed, numpy_generator, torch_generator

POLICY_FILE = "policy.pt"


@dataclass
class PPOConfig:
    """Hyper-parameters of one PPO agent: SB3's defaults except where noted.

    Attributes:
        n_steps: rollout length per game per update. 150 (one full episode of
            the paper's games) instead of SB3's 2048: with 16+ games SB3's value
            would mean 32k+ steps per update, too few updates in a short run.
        gamma: 0.96, the paper's discount for the IPD and the coin game
            (SB3: 0.99).
        features: ``"flatten"`` (SB3's MLP on the flattened obs) or
            ``"coin_cnn"`` (:class:`CoinGameCNN`, for [C, H, W] planes).
        net_arch: hidden layers of the policy and value MLPs (SB3's default).
        seed: seed of the weights, the action sampling and the minibatch order.
        history: previous observations of the episode the policy sees besides the
            current one (0: none, SB3's default). The frames are stacked on the first
            axis as SB3's ``VecFrameStack(channels_order="first")`` stacks them, oldest
            first and current last (coin planes ``[4, H, W]`` -> ``[4 (history + 1), H, W]``,
            flat ``[D]`` -> ``[D (history + 1)]``), zeros before the episode's first step:
            consecutive boards show who moved onto a coin, so a policy with history can
            react to being robbed. Box observations only (the IPD's already hold the
            last joint action).
    """

    learning_rate: float = 3e-4
    n_steps: int = 150
    batch_size: int = 64
    n_epochs: int = 10
    gamma: float = 0.96
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    normalize_advantage: bool = True
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = None
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    features: str = "flatten"
    cnn_channels: int = 20
    seed: int = 0
    device: str = "cpu"
    history: int = 0

    def __post_init__(self) -> None:
        if self.features not in ("flatten", "coin_cnn"):
            raise ValueError(f"features must be 'flatten' or 'coin_cnn', got {self.features!r}")
        if isinstance(self.history, bool) or not isinstance(self.history, int) or self.history < 0:
            raise ValueError(f"history must be an integer >= 0, got {self.history!r}")
        for name in ("n_steps", "batch_size", "n_epochs", "cnn_channels"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")


class CoinGameCNN(BaseFeaturesExtractor):
    """Two 3x3 convolutions (circular padding: the board wraps) + ReLU, flattened.

    Input float32 ``[B, C, H, W]``; features ``[B, channels * H * W]``.
    """

    def __init__(self, observation_space: gymnasium.spaces.Box, channels: int = 20) -> None:
        if len(observation_space.shape) != 3:
            raise ValueError(
                f"CoinGameCNN needs [C, H, W] planes, got obs shape {observation_space.shape}"
            )
        c, h, w = observation_space.shape
        super().__init__(observation_space, features_dim=channels * h * w)
        self.net = nn.Sequential(
            nn.Conv2d(c, channels, 3, padding=1, padding_mode="circular"),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode="circular"),
            nn.ReLU(),
            nn.Flatten(),
        )

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.net(observations)


class SpacesVecEnv(SB3VecEnv):
    """Stub SB3 VecEnv: the spaces and game count an SB3 model is built from.

    It is never stepped (our :class:`~lola_agents.rollout.Rollout` plays the
    games); ``reset`` returns zeros so SB3's set-up code can run.
    """

    def __init__(
        self, num_envs: int, observation_space: gymnasium.Space, action_space: gymnasium.Space
    ) -> None:
        super().__init__(num_envs, observation_space, action_space)

    def reset(self) -> np.ndarray:
        shape = (self.num_envs, *self.observation_space.shape)
        return np.zeros(shape, dtype=self.observation_space.dtype)

    def step_async(self, actions: np.ndarray) -> None:
        raise RuntimeError("SpacesVecEnv only describes spaces; play games with lola_agents.rollout")

    def step_wait(self) -> Any:
        raise RuntimeError("SpacesVecEnv only describes spaces; play games with lola_agents.rollout")

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [None] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        pass

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list:
        return [None] * len(self._get_indices(indices))

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))


def space_to_json(space: gymnasium.Space) -> dict[str, Any]:
    """Describe a Discrete or Box space as JSON (for checkpoints; no pickling)."""
    if isinstance(space, gymnasium.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gymnasium.spaces.Box):
        return {
            "type": "Box",
            "low": space.low.tolist(),
            "high": space.high.tolist(),
            "shape": list(space.shape),
            "dtype": str(space.dtype),
        }
    raise ValueError(f"only Discrete and Box spaces are supported, got {space}")


def space_from_json(desc: dict[str, Any]) -> gymnasium.Space:
    """Inverse of :func:`space_to_json`."""
    if desc.get("type") == "Discrete":
        return gymnasium.spaces.Discrete(int(desc["n"]), start=int(desc.get("start", 0)))
    if desc.get("type") == "Box":
        dtype = np.dtype(desc["dtype"])
        low = np.asarray(desc["low"], dtype=dtype).reshape(desc["shape"])
        high = np.asarray(desc["high"], dtype=dtype).reshape(desc["shape"])
        return gymnasium.spaces.Box(low, high, tuple(desc["shape"]), dtype)
    raise ValueError(f"corrupt space description {desc!r}: type must be 'Discrete' or 'Box'")


def build_sb3_ppo(
    config: PPOConfig, env: SB3VecEnv, tensorboard_log: str | None = None, verbose: int = 0
) -> PPO:
    """An SB3 ``PPO`` on ``env`` with the hyper-parameters of ``config``."""
    policy_kwargs: dict[str, Any] = {"net_arch": list(config.net_arch)}
    if config.features == "coin_cnn":
        policy_kwargs["features_extractor_class"] = CoinGameCNN
        policy_kwargs["features_extractor_kwargs"] = {"channels": config.cnn_channels}
    return PPO(
        "MlpPolicy",
        env,
        learning_rate=config.learning_rate,
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        clip_range=config.clip_range,
        normalize_advantage=config.normalize_advantage,
        ent_coef=config.ent_coef,
        vf_coef=config.vf_coef,
        max_grad_norm=config.max_grad_norm,
        target_kl=config.target_kl,
        policy_kwargs=policy_kwargs,
        tensorboard_log=tensorboard_log,
        seed=config.seed,
        device=config.device,
        verbose=verbose,
    )


@contextlib.contextmanager
def _global_numpy_seed(seed: int) -> Iterator[None]:
    """Run a block with numpy's global generator seeded, then restore it (SB3 shuffles
    minibatches with ``np.random.permutation``)."""
    saved = np.random.get_state()  # noqa: NPY002 (SB3 shuffles with the legacy global RNG)
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(saved)  # noqa: NPY002


def stacked_space(space: gymnasium.Space, history: int) -> gymnasium.Space:
    """The observation space of a policy that sees ``history`` previous frames besides the
    current one (:attr:`PPOConfig.history`): ``space`` repeated on its first axis."""
    if history == 0:
        return space
    if not isinstance(space, gymnasium.spaces.Box):
        raise ValueError(f"PPOConfig.history needs a Box observation space (coin game), got {space}")
    reps = (history + 1,) + (1,) * (len(space.shape) - 1)
    return gymnasium.spaces.Box(np.tile(space.low, reps), np.tile(space.high, reps), dtype=space.dtype)


def stack_frames(obs: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """Current obs ``[N, *shape]`` and previous frames ``[N, history, *shape]`` (oldest
    first) -> the policy's input ``[N, shape[0] * (history + 1), *shape[1:]]`` (SB3's
    ``VecFrameStack`` layout: oldest first, current last)."""
    frames = torch.cat([previous, obs.unsqueeze(1)], dim=1)
    return frames.reshape(obs.shape[0], -1, *obs.shape[2:])


def next_frames(obs: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """The previous frames of the step after ``obs`` ``[N, *shape]``: ``[N, history, *shape]``."""
    return torch.cat([previous[:, 1:], obs.unsqueeze(1)], dim=1)


class PPOAgent(BaseAgent):
    """One SB3 PPO model behind the rollout Agent protocol.

    Args:
        observation_space, action_space: one agent's spaces in one game.
        num_envs: default number of games (the stub env's size; batches of any
            size are accepted).
        config: :class:`PPOConfig`.
        log_dir: if given, SB3 logs TensorBoard events and a CSV there.
        verbose: 1 to also print SB3's log table to stdout.
    """

    def __init__(
        self,
        observation_space: gymnasium.Space,
        action_space: gymnasium.Space,
        num_envs: int = 1,
        config: PPOConfig | None = None,
        log_dir: str | Path | None = None,
        verbose: int = 0,
    ) -> None:
        if not isinstance(action_space, gymnasium.spaces.Discrete):
            raise ValueError(f"PPOAgent needs a Discrete action space, got {action_space}")
        self.config = config or PPOConfig()
        self.env_observation_space = observation_space  # one game's observation
        self.observation_space = stacked_space(observation_space, self.config.history)  # the policy's input
        self._carry: tuple[torch.Tensor, torch.Tensor] | None = None  # history across batches
        self.action_space = action_space
        self.num_envs = int(num_envs)
        stub = SpacesVecEnv(self.num_envs, self.observation_space, action_space)
        self.model = build_sb3_ppo(self.config, stub, verbose=verbose)
        self._setup_randomness(self.config.seed)
        self.set_log_dir(log_dir, verbose)
        self.total_timesteps = 1  # set by train(); only schedules of lr / clip range read it
        self._start_time = time.time()

    @classmethod
    def for_env(
        cls,
        env_id: str,
        num_envs: int,
        config: PPOConfig | None = None,
        log_dir: str | Path | None = None,
        verbose: int = 0,
        **env_options: Any,
    ) -> PPOAgent:
        """A PPOAgent with the spaces of ``env_id`` (built with ``env_options``)."""
        spec = coin_game_env.get_spec(env_id)
        spec.check_options(env_options)
        core = spec.core_factory(num_envs=1, **env_options)
        return cls(core.observation_space, core.action_space, num_envs, config, log_dir, verbose)

    def _setup_randomness(self, seed: int) -> None:
        self._sampling = torch_generator(seed, Stream.ACTING)
        self._shuffle_rng = numpy_generator(seed, Stream.MINIBATCH)

    def set_log_dir(self, log_dir: str | Path | None, verbose: int = 0) -> None:
        """Send SB3's logs to ``log_dir`` (TensorBoard + CSV), or nowhere if None."""
        self.log_dir = None if log_dir is None else str(log_dir)
        formats = ["stdout"] if verbose else []
        if log_dir is None:
            logger = Logger(folder=None, output_formats=[])
            if verbose:
                logger = configure(None, formats)
        else:
            logger = configure(str(log_dir), [*formats, "tensorboard", "csv"])
        self.model.set_logger(logger)

    @property
    def policy(self) -> Any:
        """The SB3 ``ActorCriticPolicy`` (torch module)."""
        return self.model.policy

    def _obs_tensor(self, obs: np.ndarray | torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(np.asarray(obs), device=self.model.device)

    def initial_state(self, num_envs: int) -> Any:
        """The previous frames ``[N, history, *obs_shape]`` (zeros), or None without history."""
        if self.config.history == 0:
            return None
        return torch.zeros(num_envs, self.config.history, *self.env_observation_space.shape)

    def act(
        self, obs: np.ndarray, state: Any, episode_starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        """Sample actions from the policy for obs ``[N, *obs_shape]``; with
        :attr:`PPOConfig.history` the state is the previous frames of each game."""
        policy = self.model.policy
        policy.set_training_mode(False)
        obs_tensor = self._obs_tensor(obs)
        if self.config.history:
            previous = self.initial_state(len(obs_tensor)) if state is None else state
            previous = _zero_where(previous, torch.as_tensor(np.asarray(episode_starts), dtype=torch.bool))
            state = next_frames(obs_tensor.float(), previous)
            obs_tensor = stack_frames(obs_tensor.float(), previous)
        with torch.no_grad():
            dist = policy.get_distribution(obs_tensor)
            probs = dist.distribution.probs
            actions = torch.multinomial(probs, 1, generator=self._sampling).squeeze(1)
            log_probs = dist.log_prob(actions)
        return actions.numpy().astype(np.int64), log_probs.numpy().astype(np.float32), state

    def predict_values(self, obs: torch.Tensor) -> torch.Tensor:
        """V(obs) float32 ``[B]`` for obs ``[B, *obs_shape]``."""
        with torch.no_grad():
            return self.model.policy.predict_values(obs.to(self.model.device)).reshape(-1).cpu()

    def _buffer_for(self, num_steps: int, num_envs: int) -> RolloutBuffer:
        buffer = self.model.rollout_buffer
        if buffer.buffer_size != num_steps or buffer.n_envs != num_envs:
            buffer = RolloutBuffer(
                num_steps,
                self.observation_space,
                self.action_space,
                device=self.model.device,
                gamma=self.model.gamma,
                gae_lambda=self.model.gae_lambda,
                n_envs=num_envs,
            )
            self.model.rollout_buffer = buffer
        return buffer

    def policy_inputs(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The policy's inputs at each step of ``batch`` and after it: ``(obs, next_obs)``,
        each ``[T, N, *policy_obs_shape]``: the batch's own without history; with
        :attr:`PPOConfig.history` the frames stacked exactly as :meth:`act` stacked them.

        A batch whose games continue episodes of the batch this agent learned from
        last takes their frames from it (``lola_agents.trainer.train`` with
        ``continue_episodes``); a ValueError says so if the batches do not follow.
        """
        if self.config.history == 0:
            return batch.obs, batch.next_obs
        obs, starts = batch.obs.float(), batch.episode_starts.bool()
        continuing = ~starts[0]
        previous = self.initial_state(batch.num_envs)
        if bool(continuing.any()):
            if self._carry is None or self._carry[0].shape != obs[0].shape or not torch.equal(
                    self._carry[0][continuing], obs[0][continuing]):
                raise ValueError(
                    "PPOConfig.history: this batch continues episodes, but its first observations are not "
                    "where the batch this agent learned from last ended; give it consecutive batches "
                    "(lola_agents.trainer.train) or batches that start with fresh episodes")
            previous = self._carry[1].clone()
        inputs, next_inputs = [], []
        for t in range(batch.num_steps):
            previous = _zero_where(previous, starts[t])
            inputs.append(stack_frames(obs[t], previous))
            previous = next_frames(obs[t], previous)
            next_inputs.append(stack_frames(batch.next_obs[t].float(), previous))
        self._carry = (batch.next_obs[-1].float().clone(), previous)
        return torch.stack(inputs), torch.stack(next_inputs)

    def fill_rollout_buffer(self, batch: Batch) -> RolloutBuffer:
        """Write ``batch`` into the SB3 rollout buffer and compute returns/advantages
        (SB3's GAE), with SB3's time-limit bootstrap at truncations."""
        t, n = batch.num_steps, batch.num_envs
        buffer = self._buffer_for(t, n)
        buffer.reset()
        obs, next_obs = self.policy_inputs(batch)
        obs_flat = obs.reshape(t * n, *obs.shape[2:])
        values = self.predict_values(obs_flat).reshape(t, n)
        rewards = batch.rewards.clone()
        # SB3: reward += gamma * V(terminal obs) where the time limit (not the game) ended it.
        timeouts = batch.truncated & ~batch.terminated
        if bool(timeouts.any()):
            rewards[timeouts] += self.model.gamma * self.predict_values(next_obs[timeouts])
        buffer.observations[:] = obs.numpy().reshape(buffer.observations.shape)
        buffer.actions[:] = batch.actions.numpy().reshape(buffer.actions.shape)
        buffer.rewards[:] = rewards.numpy()
        buffer.episode_starts[:] = batch.episode_starts.numpy()
        buffer.values[:] = values.numpy()
        buffer.log_probs[:] = batch.log_probs.numpy()
        buffer.pos = t
        buffer.full = True
        last_values = self.predict_values(next_obs[-1])
        buffer.compute_returns_and_advantage(last_values=last_values, dones=batch.dones[-1].numpy())
        return buffer

    def learn(self, batch: Batch, opponent_batch: Batch | None = None) -> dict[str, float]:
        """One PPO update (SB3's ``train()``) on this agent's batch; the opponent's is unused.

        Returns the scalars SB3 logged (``train/*``) plus ``rollout/*`` ones.
        """
        model = self.model
        self.fill_rollout_buffer(batch)
        model.num_timesteps += batch.num_steps * batch.num_envs
        model._update_current_progress_remaining(model.num_timesteps, max(self.total_timesteps, 1))
        with _global_numpy_seed(int(self._shuffle_rng.integers(2**31))):
            model.train()
        logger = model.logger
        logger.record("rollout/reward_per_step", batch_reward_per_step(batch))
        ended = batch.dones
        if bool(ended.any()) and "episode_return" in batch.infos:
            logger.record("rollout/ep_rew_mean", float(batch.infos["episode_return"][ended].mean()))
        elapsed = max(time.time() - self._start_time, 1e-9)
        logger.record("time/fps", int(model.num_timesteps / elapsed))
        logger.record("time/total_timesteps", model.num_timesteps, exclude="tensorboard")
        stats = {k: float(v) for k, v in logger.name_to_value.items() if np.isscalar(v)}
        logger.dump(step=model.num_timesteps)
        return stats

    def config_json(self) -> dict[str, Any]:
        return {
            "ppo_config": asdict(self.config),
            "observation_space": space_to_json(self.env_observation_space),
            "action_space": space_to_json(self.action_space),
            "num_envs": self.num_envs,
            "num_timesteps": int(self.model.num_timesteps),
            "n_updates": int(self.model._n_updates),
        }

    # Keys of the saved config (checked on load by lola_agents.checkpoint).
    CONFIG_KEYS = frozenset({"ppo_config", "observation_space", "action_space", "num_envs",
                             "num_timesteps", "n_updates"})
    STATE_FILE = POLICY_FILE

    def checkpoint_state(self) -> dict[str, Any]:
        """Policy and optimiser state dicts, sampling generator state (``policy.pt``)."""
        return {
            "policy": self.model.policy.state_dict(),
            "optimizer": self.model.policy.optimizer.state_dict(),
            "sampling_generator": self._sampling.get_state(),
            "shuffle_rng": torch.tensor(
                self._shuffle_rng.integers(2**62, size=1), dtype=torch.int64
            ),
        }

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        self.model.policy.load_state_dict(state["policy"])
        self.model.policy.optimizer.load_state_dict(state["optimizer"])
        self._sampling.set_state(state["sampling_generator"])
        self._shuffle_rng = np.random.default_rng(int(state["shuffle_rng"][0]))

    def save(self, path: str | Path) -> None:
        """``path/config.json`` (config, spaces) + ``path/policy.pt`` (policy and
        optimiser state dicts, sampling generator state)."""
        from lola_agents.checkpoint import write_agent_folder

        write_agent_folder(path, type(self).__name__, self.config_json(), POLICY_FILE, self.checkpoint_state())

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PPOAgent:
        """A fresh agent from a saved config (keys checked against :data:`CONFIG_KEYS`)."""
        known = {f.name for f in fields(PPOConfig)}
        saved = config["ppo_config"]
        # Agents saved before the history option have no "history" (they had none).
        if not isinstance(saved, dict) or set(saved) not in (known, known - {"history"}):
            got = sorted(saved) if isinstance(saved, dict) else type(saved).__name__
            raise ValueError(f"ppo_config must have exactly the keys {sorted(known)}, got {got}")
        agent = cls(space_from_json(config["observation_space"]), space_from_json(config["action_space"]),
                    int(config["num_envs"]), PPOConfig(**saved))
        agent.model.num_timesteps = int(config["num_timesteps"])
        agent.model._n_updates = int(config["n_updates"])
        return agent

    @classmethod
    def load(cls, path: str | Path, log_dir: str | Path | None = None) -> PPOAgent:
        """Rebuild an agent written by :meth:`save` (every file checked by
        :func:`lola_agents.checkpoint.load_agent_folder`; a ValueError names a bad file)."""
        from lola_agents.checkpoint import load_agent_folder

        agent = load_agent_folder(path, expected=cls)
        if log_dir is not None:
            agent.set_log_dir(log_dir)
        return agent

    @classmethod
    def wrap(cls, model: PPO, config: PPOConfig, env_observation_space: gymnasium.Space | None = None) -> PPOAgent:
        """A PPOAgent around an already trained SB3 model (e.g. the shared-policy
        baseline) so it can play through the rollout interface.

        With ``config.history`` the model was trained on SB3's ``VecFrameStack`` of
        ``history + 1`` frames (``channels_order="first"``); ``env_observation_space``
        is then one game's observation space, and the agent stacks frames the same way.
        """
        if config.history:
            if env_observation_space is None:
                raise ValueError("PPOAgent.wrap: config.history > 0 needs env_observation_space (one game's)")
            expected = stacked_space(env_observation_space, config.history).shape
            if model.observation_space.shape != expected:
                raise ValueError(f"PPOAgent.wrap: the model sees {model.observation_space.shape}, but "
                                 f"{config.history + 1} frames of {env_observation_space.shape} make {expected}")
        agent = cls.__new__(cls)
        agent.config = config
        agent.observation_space = model.observation_space
        agent.env_observation_space = env_observation_space if config.history else model.observation_space
        agent._carry = None
        agent.action_space = model.action_space
        agent.num_envs = model.n_envs
        agent.model = model
        agent._setup_randomness(config.seed)
        agent.total_timesteps = max(int(model.num_timesteps), 1)
        agent._start_time = time.time()
        agent.log_dir = None
        if getattr(model, "_logger", None) is None:
            model.set_logger(Logger(folder=None, output_formats=[]))
        return agent


def _zero_where(frames: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``frames`` ``[N, ...]`` with the rows where ``rows`` (bool ``[N]``) is true set to zero."""
    if not bool(rows.any()):
        return frames
    return frames.masked_fill(rows.reshape(-1, *([1] * (frames.dim() - 1))), 0.0)


def agent_seeds(seed: int, count: int = 2) -> list[int]:
    """Distinct, well-separated seeds for the agents of run ``seed`` (no overlap between runs)."""
    return [derive_seed(seed, seat) for seat in range(count)]


def make_ippo(
    env_id: str,
    num_envs: int,
    seed: int = 0,
    config: PPOConfig | None = None,
    log_dir: str | Path | None = None,
    verbose: int = 0,
    **env_options: Any,
) -> list[PPOAgent]:
    """Two independent PPOAgents for ``env_id`` (seeds derived from ``seed``; each has its
    own parameters, buffer and optimiser). Logs go to ``log_dir/player_<i>``."""
    config = config or PPOConfig()
    agents = []
    for index, agent_seed in enumerate(agent_seeds(seed)):
        cfg = PPOConfig(**{**asdict(config), "seed": agent_seed})
        sub_dir = None if log_dir is None else Path(log_dir) / f"player_{index}"
        agents.append(PPOAgent.for_env(env_id, num_envs, cfg, sub_dir, verbose, **env_options))
    return agents


def train(
    env_id: str,
    agents: Sequence[Agent],
    total_steps: int,
    num_envs: int,
    seed: int = 0,
    rollout_steps: int | None = None,
    progress_bar: bool = False,
    callback: Any = None,
    **env_options: Any,
) -> list[dict[str, Any]]:
    """Train the learners among ``agents`` simultaneously on the same episodes.

    The package's one training loop (:func:`lola_agents.trainer.train` with
    ``continue_episodes=True``): each update collects ``rollout_steps`` steps of
    ``num_envs`` games, continuing episodes across updates, then calls every agent's
    ``learn(own_batch, opponent_batch)`` (fixed strategies ignore it).

    Args:
        env_id, env_options: the game (``coin_game_env.make_vec``).
        agents: one agent per seat (player_0 first).
        total_steps: game steps over all games (``updates * rollout_steps * num_envs``,
            rounded up to whole updates); each PPO agent trains on that many samples.
        num_envs: games played in parallel.
        seed: seeds the env.
        rollout_steps: steps per game per update (default: the PPO agents' ``n_steps``).
        progress_bar: show a tqdm bar.
        callback: called as ``callback(update, batches, stats)`` after each update.

    Returns:
        one dict per update: ``{"update", "steps", "reward_per_step": [r0, r1],
        "player_<i>": learner stats}``.
    """
    from lola_agents.trainer import train as train_loop

    learners = [a for a in agents if isinstance(a, PPOAgent)]
    if rollout_steps is None:
        lengths = {a.config.n_steps for a in learners} or {150}
        if len(lengths) != 1:
            raise ValueError(f"PPO agents disagree on n_steps {sorted(lengths)}; pass rollout_steps")
        rollout_steps = lengths.pop()
    steps_per_update = rollout_steps * num_envs
    updates = max(1, -(-int(total_steps) // steps_per_update))
    for learner in learners:
        learner.total_timesteps = learner.model.num_timesteps + updates * steps_per_update
    history: list[dict[str, Any]] = []

    def record(update: int, batches: list[Batch], row: dict[str, float]) -> None:
        entry: dict[str, Any] = {
            "update": update,
            "steps": update * steps_per_update,
            "reward_per_step": [row["reward_0"], row["reward_1"]],
        }
        for index in range(len(agents)):
            prefix = f"agent{index}/"
            entry[f"player_{index}"] = {k[len(prefix):]: v for k, v in row.items() if k.startswith(prefix)}
        history.append(entry)
        if callback is not None:
            callback(update - 1, batches, entry)

    train_loop(
        env_id, agents[0], agents[1], updates, steps_per_update=rollout_steps, num_envs=num_envs,
        seed=seed, progress=progress_bar, env_options=env_options, continue_episodes=True,
        on_batches=record,
    )
    return history
