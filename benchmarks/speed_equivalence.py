"""Check that a speed change left the arithmetic alone: dump a few training updates of every
coin learner, then compare two dumps (e.g. this tree and an older one) bit for bit.

    PYTHONPATH=/tmp/old-tree python benchmarks/speed_equivalence.py dump /tmp/old.pt
    PYTHONPATH=$PWD          python benchmarks/speed_equivalence.py dump /tmp/new.pt
    python benchmarks/speed_equivalence.py compare /tmp/old.pt /tmp/new.pt

The dump runs, at 1 torch thread through :func:`lola_agents.trainer.train` (deterministic
algorithms on, as in ``lola-bench``): every coin preset and method, in one slice of games
and in slices of 16 (``chunk_games``), LOLA-PG, LOLA-OM and the clipped shaping term, for
3 updates of 64 games x 50 steps; the same learner on memory-1 tables (IPD: LOLA-DiCE in
parameter and policy space, LOLA-OM with its diagnostics); IPPO (4 updates) and shared PPO
(2 updates). It keeps the
policy, critic and optimiser states after each run and every logged scalar. ``compare``
prints the largest absolute difference of each entry that is not bit-identical.
"""

from __future__ import annotations

import sys
from typing import Any

import torch

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "adalign": ("adalign", {}),
    "adalign_reward": ("adalign", {"alignment_signal": "reward"}),
    "lola_policy": ("lola_policy", {}),
    "lola_dice": ("fast", {}),
    "naive": ("fast", {"method": "naive"}),
    "lola_pg": ("fast", {"method": "lola_pg"}),
    "lola_dice_clip": ("fast", {"shaping_clip": 0.5}),
    "lola_dice_om": ("fast", {"opponent_model": True}),
    "lola_policy_om": ("lola_policy", {"opponent_model": True}),
    "lola_policy_history3": ("lola_policy", {"mlp_history": 3}),
    "conv_gru_pg": ("paper", {}),
}

TABULAR_CASES: dict[str, dict[str, Any]] = {
    "tabular_dice": {"method": "lola_dice"},
    "tabular_dice_policy": {"method": "lola_dice", "lookahead_space": "policy"},
    "tabular_pg_om": {"method": "lola_pg", "opponent_model": True},
}


def _tensors(state: Any) -> Any:
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return {k: _tensors(v) for k, v in state.items()}
    if isinstance(state, list | tuple):
        return [_tensors(v) for v in state]
    return state


def dump(path: str) -> None:
    torch.set_num_threads(1)
    from lola_agents.coin_lola import CoinLOLAAgent, preset
    from lola_agents.trainer import train

    out: dict[str, Any] = {}
    for name, (preset_name, overrides) in CASES.items():
        for chunk in (0, 16):
            setting = preset(preset_name, chunk_games=chunk, **overrides)
            agents = [CoinLOLAAgent(setting.agent, seed=seat) for seat in (0, 1)]
            steps = 20 if preset_name == "paper" else 50
            result = train("coin_game_v0", *agents, updates=3, steps_per_update=steps, num_envs=64, seed=3,
                           progress=False, env_options={**setting.env_kwargs(), "max_cycles": steps}, threads=1)
            out[f"{name}/chunk{chunk}/history"] = result.history
            for seat, agent in enumerate(agents):
                out[f"{name}/chunk{chunk}/agent{seat}"] = _tensors(agent.state_dict())

    from lola_agents.learners.lola import LOLAAgent, LOLAConfig

    for name, overrides in TABULAR_CASES.items():  # memory-1 tables on the IPD
        config = LOLAConfig(network="tabular", num_actions=2, **overrides)
        agents = [LOLAAgent(config, seed=seat) for seat in (0, 1)]
        result = train("ipd_v0", *agents, updates=3, steps_per_update=20, num_envs=64, seed=3, progress=False,
                       env_options={"max_cycles": 20}, threads=1)
        out[f"{name}/history"] = result.history
        for seat, agent in enumerate(agents):
            out[f"{name}/agent{seat}"] = _tensors(agent.state_dict())

    from lola_agents.ppo import PPOConfig, make_ippo
    from lola_agents.ppo import train as train_ppo
    from lola_agents.shared_ppo import train_shared_ppo

    config = PPOConfig(n_steps=50, batch_size=400)
    agents = make_ippo("coin_game_v0", 16, 1, config, max_cycles=50)
    history = train_ppo("coin_game_v0", agents, 4 * 16 * 50, 16, seed=1, max_cycles=50)
    out["ippo/history"] = [{k: v for k, v in row.items() if not k.startswith("player_")} for row in history]
    out["ippo/stats"] = [{k: {n: v for n, v in row[k].items() if "fps" not in n and "time" not in n}
                          for k in row if k.startswith("player_")} for row in history]
    for seat, agent in enumerate(agents):
        out[f"ippo/agent{seat}"] = _tensors(agent.checkpoint_state())
    shared, _ = train_shared_ppo("coin_game_v0", 2 * 16 * 50, 16, seed=2, config=config, max_cycles=50)
    out["shared_ppo/policy"] = _tensors(shared.model.policy.state_dict())
    torch.save(out, path)


def _differences(a: Any, b: Any, where: str) -> list[tuple[str, float]]:
    if isinstance(a, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype:
            return [(where, float("inf"))]
        if torch.equal(a, b):
            return []
        if a.is_floating_point():
            return [(where, float((a.double() - b.double()).abs().max()))]
        return [(where, float("inf"))]
    if isinstance(a, dict):
        if set(a) != set(b):
            return [(where + " (keys)", float("inf"))]
        return [d for k in a for d in _differences(a[k], b[k], f"{where}/{k}")]
    if isinstance(a, list):
        if len(a) != len(b):
            return [(where + " (length)", float("inf"))]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _differences(x, y, f"{where}[{i}]")]
    if isinstance(a, float) and isinstance(b, float):
        return [] if a == b or (a != a and b != b) else [(where, abs(a - b))]
    return [] if a == b else [(where, float("inf"))]


def compare(path_a: str, path_b: str) -> int:
    a, b = torch.load(path_a, weights_only=False), torch.load(path_b, weights_only=False)
    differences = _differences(a, b, "")
    for where, size in differences[:60]:
        print(f"differs {where}: max |diff| {size:.3g}")
    print(f"{len(a)} entries compared; {'ALL BIT-IDENTICAL' if not differences else f'{len(differences)} differ'}")
    return 1 if differences else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "dump":
        dump(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
