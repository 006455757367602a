"""Metric definitions of lola_agents.metrics."""

from __future__ import annotations

import math

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


# --------------------------------------------------------------------------- one definition each
def test_the_two_rewards_per_step_have_two_names_and_old_names_still_import():
    from lola_agents import evaluation
    from lola_agents.bench import stats

    assert metrics.reward_per_step is metrics.reward_per_step_of_value  # exact (1 - gamma) V
    assert evaluation.reward_per_step is metrics.batch_reward_per_step  # sampled batch mean
    for name in ("action_given_state", "own_coin_rate", "pickups_per_step", "joint_own_coin_rate",
                 "retaliation", "RETALIATION_WINDOW"):
        assert getattr(evaluation, name) is getattr(metrics, name)
    assert stats.describe is metrics.describe and stats.t_quantile_975 is metrics.t_quantile_975


def _matrix_batch(states: list[list[int]], actions: list[list[int]], rewards: list[list[float]]):
    """A hand-made matrix-game Batch: int obs ``[T, N]``."""
    import torch

    from lola_agents.rollout import Batch

    obs = torch.tensor(states, dtype=torch.int64)
    false = torch.zeros_like(obs, dtype=torch.bool)
    return Batch(obs=obs, actions=torch.tensor(actions), log_probs=torch.zeros(obs.shape),
                 rewards=torch.tensor(rewards, dtype=torch.float32), terminated=false, truncated=false,
                 episode_starts=false, next_obs=obs, infos={}, agent_index=0)


def test_batch_metrics_by_hand():
    # States (CC=0, CD=1, DC=2, DD=3, start=4) and actions of 3 steps x 2 games.
    batch = _matrix_batch([[4, 4], [0, 1], [0, 3]], [[0, 1], [0, 1], [1, 1]],
                          [[-1.0, 0.0], [-1.0, -3.0], [0.0, -2.0]])
    assert metrics.batch_reward_per_step(batch) == pytest.approx(-7.0 / 6.0)
    table = metrics.action_given_state(batch)
    assert table["visits"] == {"CC": 2, "CD": 1, "DC": 0, "DD": 1, "start": 2}
    assert table["p_action0"] == {"CC": 0.5, "CD": 0.0, "DC": None, "DD": 0.0, "start": 0.5}

    class NoTable:  # a fixed policy without a table: the empirical profile
        pass

    profile = metrics.memory1_profile(NoTable(), batch)
    np.testing.assert_array_equal(profile, [0.5, 0.0, np.nan, 0.0, 0.5])
    assert not metrics.is_tit_for_tat(profile, include_start=False)  # unvisited DC: not counted

    class Table:
        def prob_action0(self):
            return TFT

    np.testing.assert_array_equal(metrics.memory1_profile(Table(), batch), TFT)
    assert metrics.memory1_profile(NoTable()) is None
    coin_like = _matrix_batch([[0]], [[0]], [[0.0]])
    coin_like.obs = coin_like.obs.reshape(1, 1, 1, 1, 1).float()  # planes, not a matrix game
    assert metrics.memory1_profile(Table(), coin_like) is None
    with pytest.raises(ValueError, match="matrix-game batch"):
        metrics.action_given_state(coin_like)


def test_tit_for_tat_4_state_form_ignores_only_the_start_state():
    profiles = np.array([TFT, ALL_D, ALL_C, SELF_COPY, TFT_STARTING_WITH_D])
    assert metrics.is_tit_for_tat(profiles, include_start=False).tolist() == [True, False, False, False, True]
    assert metrics.is_tit_for_tat(profiles).tolist() == [True, False, False, False, False]


# --------------------------------------------------------------------------- statistics
# Student-t 0.975 quantiles as printed in standard tables (4 decimals).
T_TABLE = {1: 12.7062, 2: 4.3027, 5: 2.5706, 9: 2.2622, 10: 2.2281, 20: 2.0860, 30: 2.0423, 100: 1.9840}


def test_t_quantiles_match_printed_tables_beyond_9_degrees_of_freedom():
    for dof, value in T_TABLE.items():
        assert metrics.t_quantile_975(dof) == pytest.approx(value, abs=6e-5)
    assert metrics.t_quantile(1e9) == pytest.approx(1.959964, abs=1e-6)  # the normal limit
    assert metrics.t_quantile(4, confidence=0.90) == pytest.approx(2.1318, abs=6e-5)
    with pytest.raises(ValueError, match="degrees_of_freedom"):
        metrics.t_quantile_975(0)
    with pytest.raises(ValueError, match="confidence"):
        metrics.t_quantile(3, confidence=1.0)


def test_t_interval_by_hand():
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]  # n 11, mean 6, s sqrt(11)
    half = 2.2281 * math.sqrt(11.0) / math.sqrt(11)  # t(0.975, 10 dof) = 2.2281
    low, high = metrics.t_interval(values + [None, math.nan])
    assert (low, high) == pytest.approx((6.0 - half, 6.0 + half), abs=1e-4)
    assert metrics.t_interval([3.0]) is None


def test_coin_report_interval_uses_the_t_quantile_not_1_96():
    # The coin report (bench.report.summarize_coin_records) summarises seeds with describe.
    from lola_agents.metrics import describe

    values = [float(v) for v in range(1, 12)]  # 10 degrees of freedom: the old copy used 1.96
    ci = describe(values)
    assert ci["ci95"][1] - ci["mean"] == pytest.approx(2.2281, abs=1e-4)
    assert ci["n"] == 11 and describe([])["n"] == 0 and describe([2.0])["ci95"] is None


# Wilson intervals without continuity correction, Newcombe (1998), Statistics in Medicine 17, Table I.
NEWCOMBE = {(81, 263): (0.2553, 0.3662), (15, 148): (0.0624, 0.1605), (0, 20): (0.0, 0.1611),
            (1, 29): (0.0061, 0.1718)}


def test_wilson_interval_matches_published_values_and_the_formula():
    for (k, n), expected in NEWCOMBE.items():
        assert metrics.wilson_interval(k, n) == pytest.approx(expected, abs=6e-5)
    # By hand for 11 of 20: z = 1.959964, centre (p + z^2/2n) / (1 + z^2/n).
    z, n, p = 1.959964, 20, 0.55
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert metrics.wilson_interval(11, 20) == pytest.approx((centre - half, centre + half), abs=1e-6)
    low, high = metrics.wilson_interval(20, 20)
    assert high == pytest.approx(1.0) and 0.8 < low < 1.0  # not empty at 100%
    for bad in ((3, 2), (-1, 2), (0, 0), (1.5, 3), (True, 3)):
        with pytest.raises(ValueError, match="successes"):
            metrics.wilson_interval(*bad)


def test_shares_are_shown_as_shares_with_a_wilson_interval():
    flags = [True] * 11 + [False] * 9 + [None]
    share = metrics.describe_share(flags)
    assert share["kind"] == "share" and share["n"] == 20 and share["n_missing"] == 1
    assert share["successes"] == 11 and share["mean"] == pytest.approx(55.0) and share["std"] is None
    assert share["ci95"] == pytest.approx([100 * v for v in metrics.wilson_interval(11, 20)])
    assert metrics.format_share(share) == "55% [34, 74]"
    assert metrics.format_share(metrics.describe_share([None])) == "n/a"
    assert metrics.describe_metric(flags) == share
    assert metrics.describe_metric([1.0, 2.0]) == metrics.describe([1.0, 2.0])
    with pytest.raises(ValueError, match="boolean flags"):
        metrics.describe_share([1.0, 0.0])


def test_the_report_shows_shares_as_shares():
    import lola_agents.bench.suites  # noqa: F401  (registers the suites)
    from lola_agents.bench.report import format_value, merge_groups

    task = {"suite": "exact", "group": "IPD: LOLA vs LOLA", "env_id": "ipd_v0", "agents": ["LOLA", "LOLA"],
            "settings": {}}
    results = [
        {"task": {**task, "seeds": [seed]}, "wall_time_s": 1.0, "curves": {},
         "metrics": {"pct_tft_0": [flag], "reward_per_step_0": [-1.0 - seed]}}
        for seed, flag in enumerate([True, True, False, None])
    ]
    (group,) = merge_groups(results)
    tft = group["metrics"]["pct_tft_0"]
    assert tft["mean"] == pytest.approx(200 / 3) and tft["ci95"] == pytest.approx(
        [100 * v for v in metrics.wilson_interval(2, 3)]
    )
    assert format_value(tft) == "67% [21, 94] (1 undefined)"
    assert format_value(group["metrics"]["reward_per_step_0"]) == "-2.50 ± 1.29"


def test_interval_text_by_hand() -> None:
    from lola_agents.metrics import interval_text

    assert interval_text({"mean": 0.2468, "ci95": [0.1, 0.39]}) == "0.25 [0.10, 0.39]"
    assert interval_text({"mean": -0.0521, "ci95": None}, 3) == "-0.052"  # one value: no interval
    assert interval_text({"mean": None, "ci95": None}) == "n/a"
    assert interval_text(None, missing="") == ""
