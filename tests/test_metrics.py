"""Metrics against matrices worked by hand (docs/metrics.md shows the first one)."""

import math

import pytest

from benchmark import metrics

# three tasks, sequential: row i = after task i
R = [
    [0.90, None, None],
    [0.70, 0.80, None],
    [0.60, 0.75, 0.95],
]
LEARNED = [0, 1, 2]


def test_average_and_curve():
    assert metrics.average_score(R, LEARNED) == pytest.approx((0.60 + 0.75 + 0.95) / 3)
    assert metrics.average_curve(R, LEARNED) == pytest.approx([0.90, 0.75, (0.60 + 0.75 + 0.95) / 3])


def test_forgetting_uses_best_earlier_score():
    # task 0: best before last = max(0.90, 0.70) = 0.90 -> 0.30; task 1: 0.80 - 0.75 = 0.05
    assert metrics.forgetting(R, LEARNED) == pytest.approx((0.30 + 0.05) / 2)


def test_forgetting_best_is_not_always_right_after_learning():
    R2 = [[0.5, None, None], [0.8, 0.9, None], [0.6, 0.7, 0.9]]
    # task 0: max(0.5, 0.8) - 0.6 = 0.2 ; task 1: 0.9 - 0.7 = 0.2
    assert metrics.forgetting(R2, LEARNED) == pytest.approx(0.2)
    # BWT compares with the score right after learning: (0.6-0.5 + 0.7-0.9) / 2
    assert metrics.backward_transfer(R2, LEARNED) == pytest.approx(-0.05)


def test_bwt_and_learning_accuracy():
    assert metrics.backward_transfer(R, LEARNED) == pytest.approx(((0.60 - 0.90) + (0.75 - 0.80)) / 2)
    assert metrics.learning_accuracy(R, LEARNED) == pytest.approx((0.90 + 0.80 + 0.95) / 3)


def test_fwt_needs_scores_of_unseen_tasks():
    R3 = [[0.9, 0.55, 0.40], [0.8, 0.85, 0.45], [0.7, 0.8, 0.9]]
    b = [0.5, 0.5, 0.5]
    # task 1: R[0][1] - b1 = 0.05 ; task 2: R[1][2] - b2 = -0.05
    assert metrics.forward_transfer(R3, LEARNED, b) == pytest.approx(0.0)
    b = [0.5, 0.45, 0.30]
    assert metrics.forward_transfer(R3, LEARNED, b) == pytest.approx((0.10 + 0.15) / 2)


def test_joint_run_has_one_row_and_no_forgetting():
    s = metrics.summarize([[0.8, 0.6, 0.7]], [0, 0, 0])
    assert s["final_average"] == pytest.approx(0.7)
    assert s["forgetting"] is None and s["bwt"] is None
    assert s["learning_accuracy"] == pytest.approx(0.7)


def test_multitask_first_phase_then_added_tasks():
    # tasks 0,1 trained together in phase 0, task 2 added in phase 1
    Rm = [[0.8, 0.7, None], [0.6, 0.7, 0.9]]
    learned = [0, 0, 1]
    assert metrics.forgetting(Rm, learned) == pytest.approx((0.2 + 0.0) / 2)
    assert metrics.average_curve(Rm, learned) == pytest.approx([0.75, (0.6 + 0.7 + 0.9) / 3])


def test_summary_of_a_partial_run_ignores_tasks_not_yet_learned():
    s = metrics.summarize(R[:2], LEARNED)
    assert s["final_average"] == pytest.approx(0.75)
    assert s["forgetting"] == pytest.approx(0.20)
    assert s["average_curve"] == pytest.approx([0.90, 0.75])


def test_empty_matrix():
    assert metrics.summarize([], LEARNED) == {}
    assert not math.isnan(metrics.average_score([[0.5]], [0]))
