"""Metric evaluation: hand-worked weighted τ, τ-b, Pearson and rel@k; cross-checks against scipy / NumPy."""

import doctest
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from transfer_core.errors import InvalidInputError, UndefinedResultError
from transfer_core.evidence import evaluation
from transfer_core.evidence.evaluation import evaluate_metrics, kendall_tau_b, pearson, relative_top_k, weighted_tau


def test_docstring_examples_hold():
    assert doctest.testmod(evaluation).failed == 0


@pytest.mark.parametrize("correlation", [weighted_tau, kendall_tau_b, pearson])
def test_perfect_and_reversed_rankings(correlation):
    scores = [0.1, 0.4, 0.5, 0.9, 1.3]
    accuracies = [10.0, 40.0, 50.0, 90.0, 130.0]  # increasing linear maps of the scores, so Pearson is ±1 too
    reversed_accuracies = [140.0, 110.0, 100.0, 60.0, 20.0]
    assert correlation(scores, accuracies) == pytest.approx(1.0, abs=1e-12)
    assert correlation(scores, reversed_accuracies) == pytest.approx(-1.0, abs=1e-12)


def test_weighted_tau_hand_worked_four_models():
    # Additive hyperbolic weights: the pair (i, j) weighs 1/(r_i + 1) + 1/(r_j + 1), r = 0-based rank
    # (highest first). Over all 6 pairs the total weight is (n − 1) · Σ_r 1/(r + 1) = 3 · 25/12 = 75/12.
    scores, accuracies = [4, 3, 2, 1], [0.7, 0.9, 0.8, 0.6]
    # Discordant pairs: (0, 1) and (0, 2).
    total = 3 * (Fraction(1) + Fraction(1, 2) + Fraction(1, 3) + Fraction(1, 4))
    # Ranked by score, models 0, 1, 2 sit at ranks 0, 1, 2.
    discordant_by_score = (1 + Fraction(1, 2)) + (1 + Fraction(1, 3))
    # Ranked by accuracy: model 1 rank 0, model 2 rank 1, model 0 rank 2.
    discordant_by_accuracy = (Fraction(1, 3) + 1) + (Fraction(1, 3) + Fraction(1, 2))
    tau_by_score = (total - 2 * discordant_by_score) / total  # 7/75
    tau_by_accuracy = (total - 2 * discordant_by_accuracy) / total  # 23/75
    expected = (tau_by_score + tau_by_accuracy) / 2  # scipy's rank=True averages the two rankings: 1/5
    assert expected == Fraction(1, 5)
    assert weighted_tau(scores, accuracies) == pytest.approx(float(expected), abs=1e-12)


def test_weighted_tau_weights_top_of_the_ranking_more():
    # The same single swap costs more at the top of the ranking than at the bottom.
    accuracies = [5.0, 4.0, 3.0, 2.0, 1.0]
    swap_top = weighted_tau([4.0, 5.0, 3.0, 2.0, 1.0], accuracies)
    swap_bottom = weighted_tau([5.0, 4.0, 3.0, 1.0, 2.0], accuracies)
    assert swap_top < swap_bottom < 1.0
    # Plain Kendall τ cannot tell them apart.
    assert kendall_tau_b([4, 5, 3, 2, 1], accuracies) == pytest.approx(0.8)  # (9 − 1) / 10 pairs
    assert kendall_tau_b([5, 4, 3, 1, 2], accuracies) == pytest.approx(0.8)


def test_kendall_tau_b_hand_worked_with_a_tie():
    # 6 pairs; one tied in the scores, none in the accuracies; the other 5 concordant:
    # τ_b = (5 − 0) / sqrt((6 − 1) · (6 − 0)).
    assert kendall_tau_b([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(5 / math.sqrt(30), abs=1e-12)


def test_pearson_hand_worked():
    # Deviations (−1, 0, 1) and (−7/3, −1/3, 8/3): covariance sum 5, squares 2 and 114/9.
    assert pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(5 / math.sqrt(2 * 114 / 9), abs=1e-12)


def test_relative_top_k_by_hand():
    scores, accuracies = [0.3, 0.9, 0.5, 0.1], [80.0, 60.0, 70.0, 40.0]
    assert relative_top_k(scores, accuracies, 1) == pytest.approx(60 / 80)
    assert relative_top_k(scores, accuracies, 2) == pytest.approx(70 / 80)
    assert relative_top_k(scores, accuracies, 3) == 1.0
    assert relative_top_k(scores, accuracies, 10) == 1.0  # k beyond the pool is capped


def test_relative_top_k_gives_no_credit_for_ties():
    # Two models tied on top: the worse of them counts.
    assert relative_top_k([1.0, 1.0, 0.0], [0.5, 0.9, 0.7], 1) == pytest.approx(0.5 / 0.9)
    assert relative_top_k([1.0, 1.0, 0.0], [0.5, 0.9, 0.7], 2) == 1.0


@pytest.mark.parametrize("seed", range(12))
def test_agrees_with_scipy_and_numpy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 15))
    scores = rng.normal(size=n)
    accuracies = rng.uniform(0.1, 1.0, size=n)
    if seed % 3 == 0:  # with ties in both variables
        scores, accuracies = np.round(scores), np.round(accuracies, 1)
    assert weighted_tau(scores, accuracies) == stats.weightedtau(scores, accuracies)[0]
    assert kendall_tau_b(scores, accuracies) == pytest.approx(stats.kendalltau(scores, accuracies)[0], abs=1e-12)
    assert pearson(scores, accuracies) == pytest.approx(np.corrcoef(scores, accuracies)[0, 1], abs=1e-12)
    top = int(np.argmax(scores))
    if np.sum(scores == scores[top]) == 1:
        assert relative_top_k(scores, accuracies, 1) == pytest.approx(accuracies[top] / accuracies.max())


def test_rank_correlations_ignore_monotone_rescaling_of_scores():
    rng = np.random.default_rng(3)
    scores, accuracies = rng.normal(size=8), rng.uniform(0.2, 0.9, size=8)
    for correlation in (weighted_tau, kendall_tau_b):
        assert correlation(np.exp(3 * scores) + 7, accuracies) == pytest.approx(correlation(scores, accuracies))


def test_undefined_and_malformed_inputs():
    with pytest.raises(UndefinedResultError, match="all scores are equal"):
        weighted_tau([0.5, 0.5, 0.5], [0.1, 0.2, 0.3])
    with pytest.raises(UndefinedResultError, match="all accuracies are equal"):
        pearson([1, 2, 3], [0.4, 0.4, 0.4])
    with pytest.raises(UndefinedResultError, match="at least 2 models"):
        kendall_tau_b([1.0], [0.5])
    with pytest.raises(UndefinedResultError, match="positive accuracies"):
        relative_top_k([1, 2, 3], [-0.3, -0.2, -0.1], 1)
    with pytest.raises(InvalidInputError, match="NaN or inf"):
        weighted_tau([1.0, float("nan"), 2.0], [0.1, 0.2, 0.3])
    with pytest.raises(InvalidInputError, match="3 scores but 2 accuracies"):
        pearson([1, 2, 3], [0.1, 0.2])
    with pytest.raises(InvalidInputError, match="positive integer"):
        relative_top_k([1, 2, 3], [0.1, 0.2, 0.3], 0)


def test_evaluate_metrics_uses_the_models_each_metric_scored():
    accuracies = [0.9, 0.8, 0.7, 0.6, 0.5]
    table = {
        "oracle": [5.0, 4.0, 3.0, 2.0, 1.0],
        "gappy": [1.0, None, 3.0, float("nan"), 2.0],  # scored 3 models: 0, 2, 4
        "sparse": [1.0, None, None, None, 2.0],
        "flat": [2.0, 2.0, 2.0, 2.0, 2.0],
    }
    rows = {row["metric"]: row for row in evaluate_metrics(table, accuracies)}
    assert list(rows) == list(table)
    oracle = rows["oracle"]
    assert (oracle["models"], oracle["reason"]) == (5, None)
    assert oracle["weighted_tau"] == pytest.approx(1.0) and oracle["kendall_tau"] == pytest.approx(1.0)
    assert oracle["pearson"] == pytest.approx(1.0) and oracle["rel@1"] == oracle["rel@3"] == 1.0

    gappy = rows["gappy"]
    kept_scores, kept_accuracies = [1.0, 3.0, 2.0], [0.9, 0.7, 0.5]
    assert gappy["models"] == 3 and gappy["reason"] is None
    assert gappy["weighted_tau"] == weighted_tau(kept_scores, kept_accuracies)
    assert gappy["kendall_tau"] == pytest.approx(-1 / 3)  # 1 concordant, 2 discordant of 3 pairs
    assert gappy["rel@1"] == pytest.approx(0.7 / 0.9)

    sparse = rows["sparse"]
    assert sparse["models"] == 2 and sparse["weighted_tau"] is None and sparse["rel@1"] is None
    assert "at least 3" in sparse["reason"]

    flat = rows["flat"]
    assert flat["weighted_tau"] is flat["kendall_tau"] is flat["pearson"] is None
    assert flat["reason"] == "all scores are equal, so no correlation is defined"
    assert flat["rel@1"] == pytest.approx(0.5 / 0.9)  # a full tie: the worst model counts


def test_evaluate_metrics_custom_k_and_bad_input():
    rows = evaluate_metrics({"m": [3.0, 2.0, 1.0, 0.0]}, [0.5, 0.9, 0.7, 0.6], ks=(2,))
    assert set(rows[0]) == {"metric", "models", "weighted_tau", "kendall_tau", "pearson", "rel@2", "reason"}
    assert rows[0]["rel@2"] == 1.0
    negative = evaluate_metrics({"m": [3.0, 2.0, 1.0]}, [-0.5, -0.9, -0.7])[0]
    assert negative["weighted_tau"] is not None and negative["rel@1"] is None
    assert "positive accuracies" in negative["reason"]
    with pytest.raises(InvalidInputError, match="2 scores but 3 accuracies"):
        evaluate_metrics({"m": [1.0, 2.0]}, [0.1, 0.2, 0.3])
    with pytest.raises(InvalidInputError, match="finite"):
        evaluate_metrics({"m": [1.0, 2.0, 3.0]}, [0.1, float("inf"), 0.3])
