"""LEEP (Nguyen et al., ICML 2020): hand-derived cases, invariances, degenerate input, NumPy reference."""

import math

import numpy as np
import pytest

from bench.numpy_reference.leep import leep as leep_numpy
from tests.source_probabilities import random_probabilities
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError
from transfer_core.metrics.leep import leep
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import REGISTRY


def test_hand_case_with_one_source_class_per_sample():
    # P(y=0 | z=0) = 1, P(y | z=1) = 1/2 for both y: the terms are log 1, log 1/2, log 1/2.
    theta = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert leep(theta, [0, 0, 1], device="cpu") == pytest.approx(2 * math.log(0.5) / 3, abs=1e-12)


def test_hand_case_with_soft_probabilities():
    theta = np.array([[0.5, 0.5], [0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    labels = [0, 1, 0, 1]
    # N·P(y, z): y=0 → (0.5 + 1, 0.5), y=1 → (0.5, 0.5 + 1); so P(y=0 | z) = (3/4, 1/4), P(y=1 | z) = (1/4, 3/4).
    # Σ_z P(y_i | z) θ_iz: 0.5·3/4 + 0.5·1/4 = 1/2, then 1/2, 3/4, 3/4.
    assert leep(theta, labels, device="cpu") == pytest.approx((math.log(1 / 2) + math.log(3 / 4)) / 2, abs=1e-12)
    # Without the last sample: y=1 → (0.5, 0.5), so P(y=0 | z) = (3/4, 1/2), P(y=1 | z) = (1/4, 1/2):
    # 0.5·3/4 + 0.5·1/2 = 5/8, 0.5·1/4 + 0.5·1/2 = 3/8, 1·3/4.
    expected = (math.log(5 / 8) + math.log(3 / 8) + math.log(3 / 4)) / 3
    assert leep(theta[:3], labels[:3], device="cpu") == pytest.approx(expected, abs=1e-12)


def test_source_class_without_mass_gives_a_finite_score_equal_to_dropping_it():
    theta = random_probabilities(40, 5, seed=1)
    labels = np.arange(40) % 3
    with_empty = np.insert(theta, 2, 0.0, axis=1)
    score = leep(with_empty, labels, device="cpu")
    assert np.isfinite(score)
    assert score == pytest.approx(leep(theta, labels, device="cpu"), abs=1e-12)


def test_invariant_to_relabelling_classes_and_reordering():
    theta = random_probabilities(60, 7, seed=2)
    labels = np.arange(60) % 4
    reference = leep(theta, labels, device="cpu")
    assert leep(theta, np.array([3, 0, 2, 1])[labels], device="cpu") == pytest.approx(reference, abs=1e-12)
    assert leep(theta[:, [6, 2, 4, 0, 1, 5, 3]], labels, device="cpu") == pytest.approx(reference, abs=1e-12)
    order = np.random.default_rng(0).permutation(60)
    assert leep(theta[order], labels[order], device="cpu") == pytest.approx(reference, abs=1e-12)


def test_agrees_with_numpy_reference_on_random_inputs():
    for seed, (n, source_classes, classes) in enumerate([(50, 10, 3), (200, 30, 12), (9, 4, 2)]):
        theta = random_probabilities(n, source_classes, seed)
        labels = np.random.default_rng(seed).integers(0, classes, n)
        assert leep(theta, labels, device="cpu") == pytest.approx(leep_numpy(theta, labels), abs=1e-10)


def test_perfect_and_uninformative_source_models():
    labels = np.arange(30) % 3
    assert leep(np.eye(3)[labels], labels, device="cpu") == pytest.approx(0.0, abs=1e-12)
    # a constant θ predicts the class frequencies: LEEP = mean log(1/3)
    assert leep(np.full((30, 5), 0.2), labels, device="cpu") == pytest.approx(math.log(1 / 3), abs=1e-12)


def test_accepts_prepared_inputs_and_is_registered_for_source_probabilities():
    theta = random_probabilities(20, 4, seed=3)
    labels = np.arange(20) % 2
    assert leep(prepare(source_probs=theta, labels=labels, device="cpu")) == leep(theta, labels, device="cpu")
    assert REGISTRY["leep"].primary_input == "source_probs"


def test_does_not_mutate_inputs():
    theta = random_probabilities(20, 4, seed=4)
    labels = np.arange(20) % 2
    before = theta.copy(), labels.copy()
    leep(theta, labels, device="cpu")
    assert np.array_equal(theta, before[0]) and np.array_equal(labels, before[1])


def test_bad_and_degenerate_inputs_give_clear_errors():
    theta = random_probabilities(10, 3, seed=5)
    with pytest.raises(DegenerateInputError, match="at least 2 classes"):
        leep(theta, np.zeros(10), device="cpu")
    with pytest.raises(MetricInputError, match="labels"):
        leep(theta, device="cpu")
    with pytest.raises(MetricInputError, match="non-negative"):
        leep(theta - 0.5, np.arange(10) % 2, device="cpu")


def test_rows_whose_floating_point_sum_is_an_ulp_above_one_still_score_at_most_zero():
    # LEEP = mean log Σ_z P(y | z) θ_iz ≤ log Σ_z θ_iz = 0. With one class every P(y | z) is exactly 1, so each
    # term is the log of a row sum; keep rows that sum above 1 in every order of addition, so that whichever
    # order a CPU's kernel adds them in, an unclamped log would come out an ulp above 0.
    import torch

    from transfer_core.metrics.leep_core import leep_from_probabilities

    rng = np.random.default_rng(0)
    raw = rng.uniform(0.1, 1.0, size=(20_000, 3))
    rows = raw / raw.sum(axis=1, keepdims=True)  # distributions, as the inputs are renormalised
    a, b, c = rows.T
    above = ((a + b) + c > 1) & (a + (b + c) > 1) & ((a + c) + b > 1)
    theta = torch.from_numpy(rows[above])
    assert theta.shape[0] > 100
    score = float(leep_from_probabilities(theta, torch.zeros(theta.shape[0], dtype=torch.int64), 1))
    assert -1e-15 <= score <= 0
