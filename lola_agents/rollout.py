"""The shared rollout interface: the one seam between games and learners.

Every learner (LOLA, naive PG, the SB3 PPO adapter, fixed strategies) is an
:class:`Agent`: it acts on a batch of observations and learns from a
:class:`Batch`. :func:`collect` (or the :class:`Rollout` it wraps) plays any
agents against each other on a :class:`coin_game_env.VecEnv` and returns one
time-major Batch per seat::

    venv = coin_game_env.make_vec("ipd_v0", num_envs=64, seed=0)
    batch_0, batch_1 = collect(venv, [agent_0, agent_1], steps=150)
    agent_0.learn(batch_0, batch_1)

Layouts (T = steps, N = number of games):

========================  =================================================
``Batch.obs``             ``[T, N, *obs_shape]`` what the agent saw before acting
``Batch.actions``         int64 ``[T, N]``
``Batch.log_probs``       float32 ``[T, N]`` under the acting policy
``Batch.rewards``         float32 ``[T, N]``
``Batch.terminated``      bool ``[T, N]`` (same for both seats)
``Batch.truncated``       bool ``[T, N]`` (time limit; same for both seats)
``Batch.episode_starts``  bool ``[T, N]`` ``obs[t]`` opens an episode
``Batch.next_obs``        ``[T, N, *obs_shape]`` obs after step t; where the
                          episode ended, its TRUE last obs (not the reset obs)
``Batch.infos``           ``{key: [T, N]}`` this seat's column of the env's
                          per-step ``[N, num_agents]`` info arrays
========================  =================================================

Recurrent agents keep their state between calls of :meth:`Agent.act`; the
rollout passes ``episode_starts`` so they reset it where a new episode begins
(after an auto-reset), exactly like SB3's ``RecurrentPPO``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

# Info keys of the VecEnv that are not per-step per-agent arrays (see VecEnv.step).
_NON_STEP_INFO_KEYS = frozenset({"final_obs"})


@dataclass
class Batch:
    """One agent's slice of a rollout, time-major, torch tensors (layouts in the module doc)."""

    obs: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    episode_starts: torch.Tensor
    next_obs: torch.Tensor
    infos: dict[str, torch.Tensor]
    agent_index: int

    @property
    def dones(self) -> torch.Tensor:
        """bool ``[T, N]``: the episode ended at step t (terminated or truncated)."""
        return self.terminated | self.truncated

    @property
    def num_steps(self) -> int:
        return int(self.actions.shape[0])

    @property
    def num_envs(self) -> int:
        return int(self.actions.shape[1])

    def to(self, device: torch.device | str) -> Batch:
        """A copy with every tensor on ``device``."""
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        infos = {k: v.to(device) for k, v in self.infos.items()}
        return Batch(**moved, infos=infos, agent_index=self.agent_index)

    def select_games(self, games: slice | torch.Tensor) -> Batch:
        """A Batch of the games ``games`` only (a slice or an index tensor on the game axis)."""
        picked = {
            f.name: getattr(self, f.name)[:, games]
            for f in fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        infos = {k: v[:, games] for k, v in self.infos.items()}
        return Batch(**picked, infos=infos, agent_index=self.agent_index)


@runtime_checkable
class Agent(Protocol):
    """What the rollout needs from a player. See :class:`BaseAgent` for defaults."""

    def initial_state(self, num_envs: int) -> Any:
        """Recurrent state for ``num_envs`` fresh games (None for memoryless agents)."""
        ...

    def act(
        self, obs: np.ndarray, state: Any, episode_starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        """Choose actions for a batch of games.

        Args:
            obs: ``[N, *obs_shape]`` numpy, this agent's own view.
            state: the state returned by the previous call (or ``initial_state``).
            episode_starts: bool ``[N]``; reset the recurrent state of these games.

        Returns:
            ``(actions int64 [N], log_probs float32 [N], new_state)``.
        """
        ...

    def learn(self, batch: Batch, opponent_batch: Batch) -> dict[str, float]:
        """Update from this agent's batch (and the opponent's); return logged scalars."""
        ...

    def save(self, path: str | Path) -> None:
        """Write tensors (``torch.save`` of state dicts) + a JSON config; never pickled code."""
        ...

    @classmethod
    def load(cls, path: str | Path) -> Agent:
        """Rebuild an agent written by :meth:`save` (``torch.load(weights_only=True)``)."""
        ...


class BaseAgent:
    """Defaults for :class:`Agent`: memoryless, no learning, save/load of a JSON config.

    Subclasses override :meth:`act`; learners override :meth:`learn`; agents
    with parameters set :attr:`STATE_FILE` and implement :meth:`checkpoint_state` /
    :meth:`load_checkpoint_state`. ``config()`` returns the constructor keyword
    arguments, so ``load`` can rebuild the agent as ``cls(**config)``. Every load
    is checked by :mod:`lola_agents.checkpoint` (a ValueError names the bad file).
    """

    CONFIG_FILE = "config.json"
    STATE_FILE: str | None = None  # tensor file beside config.json (None: the config is all)

    def initial_state(self, num_envs: int) -> Any:
        return None

    def act(
        self, obs: np.ndarray, state: Any, episode_starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement act()")

    def learn(self, batch: Batch, opponent_batch: Batch) -> dict[str, float]:
        return {}

    def assign_seat(self, agent_index: int) -> None:
        """Called by :class:`Rollout` with this agent's seat (0 = player_0, 1 = player_1).

        Only agents whose view depends on the seat (e.g. coin-game fixed
        strategies on the shared, non-egocentric planes) need to override it.
        """

    def config(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments (``cls(**config())`` rebuilds the agent)."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BaseAgent:
        """A fresh agent built from a saved (already checked) ``config``."""
        return cls(**config)

    def checkpoint_state(self) -> Any:
        """What :meth:`save` writes to :attr:`STATE_FILE`: nested dicts of tensors,
        numbers and strings (a fresh agent's is the reference a loaded file must match)."""
        return None

    def load_checkpoint_state(self, state: Any) -> None:
        """Restore what :meth:`checkpoint_state` returned."""

    def save(self, path: str | Path) -> None:
        """Write ``path/config.json`` (and ``path/STATE_FILE``); never pickled code."""
        from lola_agents.checkpoint import write_agent_folder

        state = self.checkpoint_state() if self.STATE_FILE is not None else None
        write_agent_folder(path, type(self).__name__, self.config(), self.STATE_FILE, state)

    @classmethod
    def load(cls, path: str | Path) -> BaseAgent:
        """Rebuild an agent written by :meth:`save`, every file checked
        (:func:`lola_agents.checkpoint.load_agent_folder`)."""
        from lola_agents.checkpoint import load_agent_folder

        return load_agent_folder(path, expected=cls)


class StatefulAgent(BaseAgent):
    """Save/load for learners built from a config dataclass (``config_class``) whose
    whole state is ``state_dict()``: ``config.json`` plus ``state.pt`` (tensors and
    JSON text), read back with ``torch.load(weights_only=True)``."""

    config_class: type
    STATE_FILE = "state.pt"

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement state_dict()")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement load_state_dict()")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> StatefulAgent:
        return cls(cls.config_class(**config))

    def checkpoint_state(self) -> dict[str, Any]:
        return self.state_dict()

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        self.load_state_dict(state)


def read_config(path: str | Path, expected_class: str) -> dict[str, Any]:
    """Read ``path/config.json`` written by :meth:`BaseAgent.save`: ``{"class", "config"}``,
    checked (:mod:`lola_agents.checkpoint`); a ValueError naming the file if it is missing,
    corrupt or belongs to another class."""
    from lola_agents.checkpoint import CheckpointError, check_keys, read_json_file

    file = Path(path) / BaseAgent.CONFIG_FILE
    payload = check_keys(read_json_file(file), {"class", "config"}, file, "config.json")
    if payload["class"] != expected_class:
        raise CheckpointError(file, f"holds a {payload['class']!r}, cannot load it as {expected_class}")
    return payload


def sample_actions(logits: torch.Tensor, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sample one action per row of ``logits`` ``[N, A]`` (softmax) with ``generator``:
    (int64 ``[N]``, their log-probabilities float32 ``[N]``), numpy, as :meth:`Agent.act` returns."""
    from lola_agents.policies.coin import log_softmax_no_grad  # same bits, a faster kernel

    log_probs = log_softmax_no_grad(logits)
    actions = torch.multinomial(log_probs.exp(), 1, generator=generator).squeeze(-1)
    chosen = log_probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    return actions.numpy(), chosen.numpy().astype(np.float32)


def act_with_policy(policy: Any, obs: torch.Tensor, state: Any, episode_starts: np.ndarray,
                    generator: torch.Generator) -> tuple[np.ndarray, np.ndarray, Any]:
    """:meth:`Agent.act` of a network with ``initial_state`` and ``step`` (the coin-game
    policies): one step on the policy's input ``obs`` ``[N, ...]`` (state None: a fresh one),
    then :func:`sample_actions`. Returns (actions, log-probabilities, new state)."""
    with torch.no_grad():
        starts = torch.as_tensor(np.asarray(episode_starts, dtype=bool))
        if state is None:
            state = policy.initial_state(len(obs))
        logits, state = policy.step(obs, state, starts)
        actions, log_probs = sample_actions(logits, generator)
    return actions, log_probs, state


def reset_state_where(state: Any, episode_starts: np.ndarray, batch_dim: int = 0) -> Any:
    """Zero a recurrent state's rows where ``episode_starts`` (bool ``[N]``) is true.

    ``state`` is a tensor, or a tuple/list of tensors (e.g. LSTM ``(h, c)``),
    with the game axis at ``batch_dim`` (0 for ``[N, H]``; 1 for ``[layers, N, H]``).
    """
    if state is None:
        return None
    if isinstance(state, tuple | list):
        return type(state)(reset_state_where(s, episode_starts, batch_dim) for s in state)
    keep = torch.as_tensor(~np.asarray(episode_starts, dtype=bool), dtype=state.dtype)
    shape = [1] * state.dim()
    shape[batch_dim] = -1
    return state * keep.to(state.device).view(shape)


@dataclass
class RolloutState:
    """Where a rollout stopped, so the next :meth:`Rollout.collect` continues from it.

    Attributes:
        obs: ``[N, num_agents, *obs_shape]`` the observations to act on next.
        episode_starts: bool ``[N]``; ``obs`` opens an episode.
        agent_states: each agent's recurrent state (None for memoryless agents).
    """

    obs: np.ndarray
    episode_starts: np.ndarray
    agent_states: list[Any] = field(default_factory=list)


class Rollout:
    """Plays ``agents`` (one per seat) on ``vec_env`` and keeps the state between calls.

    Args:
        vec_env: a :class:`coin_game_env.VecEnv` (obs ``[N, num_agents, *obs_shape]``,
            same-step auto-reset with ``info["final_obs"]``).
        agents: one :class:`Agent` per seat, in ``vec_env.possible_agents`` order.
        state: continue from this :class:`RolloutState` instead of resetting.
    """

    def __init__(
        self, vec_env: Any, agents: Sequence[Agent], state: RolloutState | None = None
    ) -> None:
        if len(agents) != vec_env.num_agents:
            raise ValueError(
                f"{vec_env!r} has {vec_env.num_agents} seats, got {len(agents)} agents"
            )
        self.vec_env = vec_env
        self.agents = list(agents)
        self.num_envs = int(vec_env.num_envs)
        self.num_agents = int(vec_env.num_agents)
        for index, agent in enumerate(self.agents):
            if hasattr(agent, "assign_seat"):
                agent.assign_seat(index)
        self.state = state

    def reset(self, seed: int | None = None) -> RolloutState:
        """Start fresh episodes in every game (``vec_env.reset(seed)``) and fresh agent states."""
        obs, _ = self.vec_env.reset(seed=seed)
        self.state = RolloutState(
            obs=obs,
            episode_starts=np.ones(self.num_envs, dtype=bool),
            agent_states=[agent.initial_state(self.num_envs) for agent in self.agents],
        )
        return self.state

    def collect(self, steps: int) -> list[Batch]:
        """Step all games ``steps`` times; return one :class:`Batch` per seat.

        Continues from :attr:`state` (resetting first if there is none) and
        leaves :attr:`state` at the step after the last one collected.
        """
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if self.state is None:
            self.reset()
        state = self.state
        n, a = self.num_envs, self.num_agents
        obs = state.obs
        obs_buf = np.empty((steps, *obs.shape), dtype=obs.dtype)
        next_obs_buf = np.empty_like(obs_buf)
        actions_buf = np.empty((steps, n, a), dtype=np.int64)
        log_probs_buf = np.empty((steps, n, a), dtype=np.float32)
        rewards_buf = np.empty((steps, n, a), dtype=np.float32)
        terminated_buf = np.empty((steps, n), dtype=bool)
        truncated_buf = np.empty((steps, n), dtype=bool)
        starts_buf = np.empty((steps, n), dtype=bool)
        info_bufs: dict[str, np.ndarray] = {}
        episode_starts = state.episode_starts
        agent_states = list(state.agent_states)
        joint_actions = np.empty((n, a), dtype=np.int64)

        for t in range(steps):
            obs_buf[t] = obs
            starts_buf[t] = episode_starts
            for i, agent in enumerate(self.agents):
                act_i, logp_i, agent_states[i] = agent.act(obs[:, i], agent_states[i], episode_starts)
                joint_actions[:, i] = act_i
                log_probs_buf[t, :, i] = logp_i
            actions_buf[t] = joint_actions
            obs, rewards, terminated, truncated, info = self.vec_env.step(joint_actions)
            rewards_buf[t] = rewards
            terminated_buf[t] = terminated
            truncated_buf[t] = truncated
            episode_starts = terminated | truncated
            next_obs_buf[t] = obs
            if "final_obs" in info:
                next_obs_buf[t, episode_starts] = info["final_obs"][episode_starts]
            for key, value in info.items():
                if key in _NON_STEP_INFO_KEYS or not _is_per_agent(value, n, a):
                    continue
                if key not in info_bufs:  # keys may appear only on some steps (e.g. at ends)
                    info_bufs[key] = np.zeros((steps, *value.shape), dtype=value.dtype)
                info_bufs[key][t] = value

        self.state = RolloutState(obs=obs, episode_starts=episode_starts, agent_states=agent_states)
        obs_t = _to_torch(obs_buf)
        next_obs_t = _to_torch(next_obs_buf)
        actions_t = torch.from_numpy(actions_buf)
        log_probs_t = torch.from_numpy(log_probs_buf)
        rewards_t = torch.from_numpy(rewards_buf)
        infos_t = {k: torch.from_numpy(v) for k, v in info_bufs.items()}
        terminated_t = torch.from_numpy(terminated_buf)
        truncated_t = torch.from_numpy(truncated_buf)
        starts_t = torch.from_numpy(starts_buf)
        return [
            Batch(
                obs=obs_t[:, :, i].contiguous(),
                actions=actions_t[:, :, i].contiguous(),
                log_probs=log_probs_t[:, :, i].contiguous(),
                rewards=rewards_t[:, :, i].contiguous(),
                terminated=terminated_t,
                truncated=truncated_t,
                episode_starts=starts_t,
                next_obs=next_obs_t[:, :, i].contiguous(),
                infos={k: v[:, :, i].contiguous() for k, v in infos_t.items()},
                agent_index=i,
            )
            for i in range(a)
        ]


def collect(
    vec_env: Any,
    agents: Sequence[Agent],
    steps: int,
    reset: bool = True,
    rollout_state: RolloutState | None = None,
) -> list[Batch]:
    """Play ``agents`` on ``vec_env`` for ``steps`` steps of all games; one Batch per seat.

    Args:
        vec_env: batched env from :func:`coin_game_env.make_vec`.
        agents: one agent per seat (player_0 first).
        steps: T, the number of batched steps.
        reset: start fresh episodes (``vec_env.reset()``); if False, continue
            from ``rollout_state``.
        rollout_state: a :class:`RolloutState`; if given it is UPDATED IN PLACE
            to where this rollout stopped, so the next call with ``reset=False``
            continues the same episodes. Use :class:`Rollout` for the same
            without in-place updates.
    """
    if not reset and rollout_state is None:
        raise ValueError("collect(reset=False) needs the rollout_state of a previous collect")
    rollout = Rollout(vec_env, agents, state=None if reset else rollout_state)
    if reset:
        rollout.reset()
    batches = rollout.collect(steps)
    if rollout_state is not None:
        rollout_state.obs = rollout.state.obs
        rollout_state.episode_starts = rollout.state.episode_starts
        rollout_state.agent_states = rollout.state.agent_states
    return batches


def new_rollout_state() -> RolloutState:
    """An empty :class:`RolloutState` to pass to ``collect(reset=True, rollout_state=...)``."""
    return RolloutState(obs=np.empty(0), episode_starts=np.empty(0, dtype=bool))


def _is_per_agent(value: Any, num_envs: int, num_agents: int) -> bool:
    return isinstance(value, np.ndarray) and value.shape[:2] == (num_envs, num_agents)


def _to_torch(array: np.ndarray) -> torch.Tensor:
    """Observations keep their kind: float32 for Box obs, int64 for Discrete."""
    if array.dtype.kind in "iu":
        return torch.from_numpy(array.astype(np.int64, copy=False))
    return torch.from_numpy(array.astype(np.float32, copy=False))
