"""The coin-game LOLA learners: named presets of the one LOLA agent.

:class:`CoinPreset` bundles the env options, the batch, the budget and a
:class:`~lola_agents.learners.lola.LOLAConfig`; :data:`PRESETS` holds the named
settings (``paper``: the LOLA paper's coin-game LOLA-PG; ``fast``: LOLA-DiCE on an
MLP at this machine's scale; ``adalign``; ``lola_policy``), and :func:`preset` copies
one with learner fields replaced. :class:`CoinLOLAAgent` is
:class:`~lola_agents.learners.lola.LOLAAgent` under the name the coin-game
checkpoints carry; the learner itself lives in :mod:`lola_agents.learners.lola`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from coin_game_env.core import check_int
from lola_agents.learners.lola import (  # noqa: F401  (importable from here as before)
    METHODS,
    OPTIMIZERS,
    LOLAAgent,
    LOLAConfig,
    PolicyView,
    SampledValues,
)

CoinLOLAConfig = LOLAConfig  # the coin-game name of the one learner's config
CoinValues = SampledValues


class CoinLOLAAgent(LOLAAgent):
    """:class:`~lola_agents.learners.lola.LOLAAgent` under its coin-game name (the class
    name that coin-game checkpoints carry); defaults: the paper's coin-game LOLA-PG."""


@dataclass
class CoinPreset:
    """A named training setting: env options, batch, budget and the learner.

    Attributes:
        num_envs: games per batch (one update per batch of full episodes).
        max_cycles: episode length.
        updates: updates of a full run.
        agent: the learner's hyper-parameters.
        env_options: further coin_game_v0 options (grid_size, stay_action, ...).
    """

    num_envs: int
    max_cycles: int
    updates: int
    agent: CoinLOLAConfig
    env_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("num_envs", "max_cycles", "updates"):
            check_int(name, getattr(self, name), 1)
        if not isinstance(self.agent, CoinLOLAConfig):
            raise ValueError(f"agent must be a CoinLOLAConfig, got {type(self.agent).__name__}")
        allowed = {"grid_size", "num_coins", "stay_action", "egocentric", "obs_type"}
        unknown = sorted(set(self.env_options) - allowed)
        if unknown:
            raise ValueError(f"unknown env_options {unknown}; allowed: {sorted(allowed)}")
        # The learner must be built for the env it plays.
        checks = (("grid_size", "grid_size", 3), ("egocentric", "egocentric_env", False))
        for env_key, agent_key, default in checks:
            if self.env_options.get(env_key, default) != getattr(self.agent, agent_key):
                raise ValueError(
                    f"env option {env_key}={self.env_options.get(env_key, default)!r} does not "
                    f"match agent.{agent_key}={getattr(self.agent, agent_key)!r}"
                )
        stay = self.env_options.get("stay_action", False)
        if self.agent.num_actions != (5 if stay else 4):
            raise ValueError(f"agent.num_actions={self.agent.num_actions} but stay_action={stay}")
        if self.env_options.get("obs_type", "planes") != "planes":
            raise ValueError("the coin-game networks read obs_type='planes'")

    def env_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``coin_game_env.make_vec("coin_game_v0", num_envs, **kw)``."""
        return {"max_cycles": self.max_cycles, **self.env_options}


PRESETS: dict[str, CoinPreset] = {
    # The paper's coin-game LOLA-PG: 4000 games x 150 steps, conv+GRU, SGD 0.005,
    # critic lr 1, gamma 0.96, eta 1. Slices of 500 games keep one update's memory small.
    "paper": CoinPreset(
        num_envs=4000,
        max_cycles=150,
        updates=2000,
        agent=CoinLOLAConfig(chunk_games=500),
    ),
    # This machine: 1024 games x 50 steps, MLP, LOLA-DiCE with GAE and decayed
    # dependencies, Adam, one look-ahead step of 0.1 on the same trajectories.
    "fast": CoinPreset(
        num_envs=1024,
        max_cycles=50,
        updates=250,
        agent=CoinLOLAConfig(
            method="lola_dice",
            network="mlp",
            optimizer="adam",
            lr=3e-3,
            critic_optimizer="adam",
            critic_lr=3e-3,
            gae_lambda=0.95,
            dice_decay=0.9,
            lookahead_lr=0.1,
            max_grad_norm=0.0,
            om_optimizer="adam",
            om_lr=3e-3,
            om_first_steps=50,
            om_steps=5,
        ),
    ),
}

# Advantage alignment (Duque et al. 2024), the first-order successor of LOLA, on the
# fast preset's batch and network. beta 0.3 and the entropy bonus 0.03 are this
# package's choices (not from the paper): beta 1 made both agents stop picking coins,
# and without the bonus one seed in five collapsed to a walk that never meets a coin.
ADVANTAGE_ALIGNMENT = {"method": "advantage_alignment", "alignment_beta": 0.3, "entropy_coef": 0.03}
PRESETS["adalign"] = replace(PRESETS["fast"], agent=replace(PRESETS["fast"].agent, **ADVANTAGE_ALIGNMENT))
# LOLA-DiCE whose opponent takes its look-ahead step on its logits at the visited
# steps (policy space) instead of its weights, on the fast preset's batch and network;
# the entropy bonus and the decay 0.96 (= gamma) are this package's choices: without
# them the same look-ahead stayed at 0.51 (eta 0.3) or stopped picking coins (eta 1).
LOLA_POLICY_SPACE = {"method": "lola_dice", "lookahead_space": "policy", "lookahead_lr": 0.3,
                     "entropy_coef": 0.03, "dice_decay": 0.96}
PRESETS["lola_policy"] = replace(PRESETS["fast"], agent=replace(PRESETS["fast"].agent, **LOLA_POLICY_SPACE))


def preset(name: str, **agent_overrides: Any) -> CoinPreset:
    """A copy of ``PRESETS[name]`` with learner fields replaced, e.g. ``preset("fast", method="naive")``."""
    if name not in PRESETS:
        raise KeyError(f"unknown coin-game preset {name!r}; known: {sorted(PRESETS)}")
    base = PRESETS[name]
    unknown = sorted(set(agent_overrides) - {f.name for f in fields(CoinLOLAConfig)})
    if unknown:
        raise TypeError(f"CoinLOLAConfig has no field(s) {unknown}")
    return replace(base, agent=replace(base.agent, **agent_overrides), env_options=dict(base.env_options))

