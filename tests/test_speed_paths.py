"""The fast paths of the coin learners compute the same bits as the plain formulas they replace,
and the profile probe (benchmarks/profile_coin.py) splits an update into its parts."""

from __future__ import annotations

import pytest
import torch

import coin_game_env
from benchmarks.profile_coin import PARTS, run_learner
from lola_agents import shaping
from lola_agents.coin_lola import CoinLOLAAgent, preset
from lola_agents.learners import lola
from lola_agents.policies.coin import MOVES, CoinMLP, canonical_obs, log_softmax_no_grad
from lola_agents.rollout import collect


@pytest.mark.parametrize(("grid", "actions"), [(2, 4), (3, 4), (3, 5), (4, 5)])
def test_move_lookup_by_cell_pair_matches_the_moves_on_the_torus(grid: int, actions: int) -> None:
    """Every (previous cell, cell) pair: the features' move one-hot marks exactly the actions
    whose step leads from the previous cell to the cell (two on a 2x2 torus, none for a jump)."""
    net = CoinMLP(grid_size=grid, num_actions=actions)
    cells = grid * grid
    prev = torch.arange(cells).repeat_interleave(cells)
    now = torch.arange(cells).repeat(cells)
    both = lambda c: torch.stack([c, c], dim=-1)  # noqa: E731  (me and the other make the same move)
    looked_up = net._moves(both(now), both(prev))[:, :actions]
    for p, n, row in zip(prev.tolist(), now.tolist(), looked_up, strict=True):
        r, c = divmod(p, grid)
        expected = [float(((r + dr) % grid) * grid + (c + dc) % grid == n) for dr, dc in MOVES[:actions]]
        assert row.tolist() == expected


def test_log_softmax_no_grad_is_bit_identical() -> None:
    generator = torch.Generator().manual_seed(0)
    for scale in (0.1, 1.0, 30.0):
        for actions in (4, 5):
            logits = torch.randn(50, 256, actions, generator=generator) * scale
            assert torch.equal(log_softmax_no_grad(logits), torch.log_softmax(logits, dim=-1))
    assert torch.equal(log_softmax_no_grad(logits[0, 0]), torch.log_softmax(logits[0, 0], dim=-1))


def test_canonical_obs_swap_equals_fancy_indexing() -> None:
    obs = torch.rand(5, 7, 4, 3, 3)
    assert torch.equal(canonical_obs(obs, 1), obs[..., [1, 0, 3, 2], :, :])


def _old_gradient_at(model, params, i, k):
    """shaping.gradient_at as it was: both players' parameters require grad."""
    leaves = (shaping.as_leaves(params[0]), shaping.as_leaves(params[1]))
    total = None
    for part in model.parts:
        total = shaping._add_into(total, shaping._grad(model.loss(i, leaves, 1, part), leaves[k]))
    return total


@pytest.mark.parametrize("overrides", [
    {"method": "lola_dice"},
    {"method": "lola_dice", "lookahead_space": "policy", "lookahead_lr": 0.3},
    {"method": "lola_pg"},
])
def test_shared_forward_passes_give_the_same_update(overrides, monkeypatch) -> None:
    """One learn() with each player's forward pass shared across the losses, and my terms
    skipped where only the opponent's gradient is taken, equals (bit for bit) one learn()
    that recomputes every forward pass."""
    config = preset("fast", mlp_hidden=(16,), **overrides).agent

    def one_update() -> dict[str, torch.Tensor]:
        venv = coin_game_env.make_vec("coin_game_v0", 12, seed=0, max_cycles=8)
        a, b = CoinLOLAAgent(config, seed=1), CoinLOLAAgent(config, seed=2)
        a.set_opponent(b)
        b.set_opponent(a)
        batches = collect(venv, [a, b], 8)
        a.learn(batches[0], batches[1])
        return {k: v.detach().clone() for k, v in a.policy.state_dict().items()}

    fast = one_update()
    with monkeypatch.context() as patch:
        patch.setattr(lola.SampledValues, "_shared", lambda self, who, params, compute: compute())
        patch.setattr(shaping, "gradient_at", _old_gradient_at)
        reference = one_update()
    assert fast.keys() == reference.keys()
    for key in fast:
        assert torch.equal(fast[key], reference[key]), key
    assert any(not torch.equal(fast[k], v) for k, v in CoinLOLAAgent(config, seed=1).policy.state_dict().items())


@pytest.mark.parametrize("learner", ["NL-PG", "IPPO", "shared PPO"])
def test_profile_probe_splits_an_update(learner: str) -> None:
    """Acting, env and learning are each timed (non-zero) and with ``other`` add up to the update."""
    result = run_learner(learner, updates=1, warmup=0, games=16)
    assert result["learner"] == learner and result["updates_timed"] == 1
    for kind in ("cpu_s", "wall_s"):
        split = result[kind]
        assert set(split) == set(PARTS)
        assert split["acting"] > 0 and split["env"] > 0 and split["learning"] > 0
        parts = split["acting"] + split["env"] + split["learning"] + split["other"]
        assert parts == pytest.approx(split["total"], abs=2e-3)
    assert result["wall_s"]["total"] >= result["wall_s"]["learning"]
