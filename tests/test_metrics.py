"""Metric definitions of lola_agents.metrics."""

from __future__ import annotations

import numpy as np
import pytest

from lola_agents import metrics

# Own-perspective order [CC, CD, DC, DD, start]; values are P(cooperate).
TFT = [0.9, 0.1, 0.9, 0.1, 0.9]
ALL_D = [0.1, 0.1, 0.1, 0.1, 0.1]
ALL_C = [0.9, 0.9, 0.9, 0.9, 0.9]
# Copies its OWN last action instead of the opponent's: cooperates after CD, defects after DC.
SELF_COPY = [0.9, 0.9, 0.1, 0.1, 0.9]
TFT_STARTING_WITH_D = [0.9, 0.1, 0.9, 0.1, 0.1]


def test_reward_per_step_scales_discounted_values():
    assert metrics.reward_per_step(np.array([-25.0, -50.0]), 0.96) == pytest.approx([-1.0, -2.0])
    assert metrics.reward_per_step(3.0, 0.0) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="gamma"):
        metrics.reward_per_step(1.0, 1.0)


def test_action_0_probabilities_is_a_stable_sigmoid():
    probs = metrics.action_0_probabilities(np.array([[-800.0, -1.0, 0.0, 1.0, 800.0]]))
    np.testing.assert_allclose(probs, [[0.0, 0.2689414, 0.5, 0.7310586, 1.0]], atol=1e-7)
    assert np.isfinite(probs).all()


def test_tit_for_tat_definition():
    flags = metrics.is_tit_for_tat(np.array([TFT, ALL_D, ALL_C, SELF_COPY, TFT_STARTING_WITH_D]))
    assert flags.tolist() == [True, False, False, False, False]
    assert metrics.is_tit_for_tat(np.array([[TFT, ALL_D]] * 3)).shape == (3, 2)


def test_nash_definition_uses_all_five_states():
    near = [0.45, 0.55, 0.5, 0.52, 0.41]
    one_state_off = [0.5, 0.5, 0.5, 0.5, 0.65]
    assert metrics.is_at_nash(np.array([near, one_state_off, ALL_C])).tolist() == [
        True,
        False,
        False,
    ]
    assert metrics.is_at_nash(np.array(one_state_off), tolerance=0.2)
    with pytest.raises(ValueError, match="tolerance"):
        metrics.is_at_nash(np.array(near), tolerance=0.0)


def test_a_run_is_at_nash_when_both_players_are():
    near = [0.45, 0.55, 0.5, 0.52, 0.41]
    runs = np.array([[near, near], [near, ALL_C], [ALL_C, ALL_D]])
    assert metrics.is_run_at_nash(runs).tolist() == [True, False, False]
    assert metrics.share_of_runs(metrics.is_run_at_nash(runs)) == pytest.approx(100 / 3)
    assert metrics.share_of_runs([True, False], valid_runs=[True, False]) == 100.0
    with pytest.raises(ValueError, match="2 players"):
        metrics.is_run_at_nash(np.array([near, near, near]))
    with pytest.raises(ValueError, match=r"\[runs\]"):
        metrics.share_of_runs(np.ones((2, 2), dtype=bool))


def test_profiles_of_wrong_width_raise():
    with pytest.raises(ValueError, match=r"\[\.\.\., 5\]"):
        metrics.is_tit_for_tat(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"\[\.\.\., 5\]"):
        metrics.is_at_nash(np.zeros(()))


def test_tandem_sum_and_shape_check():
    assert metrics.tandem_sum(np.array([[[0.25], [1.0]], [[2.0], [-1.0]]])).tolist() == [1.25, 1.0]
    with pytest.raises(ValueError, match="Tandem"):
        metrics.tandem_sum(np.zeros((3, 2)))


def test_shares_and_means_skip_invalid_runs():
    flags = np.array([[True, False], [True, True], [False, False]])
    assert metrics.share_of_agents(flags) == pytest.approx(50.0)
    assert metrics.share_of_agents(flags, valid_runs=[True, True, False]) == pytest.approx(75.0)
    assert np.isnan(metrics.share_of_agents(flags, valid_runs=[False] * 3))
    values = np.array([[1.0, 3.0], [np.nan, np.nan], [5.0, 7.0]])
    mean, std = metrics.mean_and_std(values, valid_runs=[True, False, True])
    assert (mean, std) == pytest.approx((4.0, np.sqrt(5.0)))
    with pytest.raises(ValueError, match="runs, players"):
        metrics.share_of_agents(np.ones(3, dtype=bool))
