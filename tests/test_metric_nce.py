"""NCE (Tran et al., ICCV 2019): a hand-counted joint table, −H(Y | Z) via SciPy, invariances, NumPy reference."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy

from bench.numpy_reference.nce import nce as nce_numpy
from tests.source_probabilities import random_probabilities
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError
from transfer_core.metrics.nce import joint_counts, nce
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import REGISTRY


def hard(source_labels, source_classes):
    """Soft probabilities whose argmax is ``source_labels``."""
    return 0.5 * np.eye(source_classes)[source_labels] + 0.5 / source_classes


# z = argmax θ and y of six samples; the joint counts by hand (rows z, columns y):
# z=0: y=0 twice, y=1 once; z=1: y=1 twice; z=2: never; z=3: y=0 once.
HAND_Z = np.array([0, 0, 0, 1, 1, 3])
HAND_Y = np.array([0, 0, 1, 1, 1, 0])
HAND_TABLE = [[2, 1], [0, 2], [0, 0], [1, 0]]


def test_joint_count_table_by_hand():
    counts = joint_counts(torch.tensor(HAND_Z), torch.tensor(HAND_Y), 4, 2)
    assert counts.tolist() == HAND_TABLE


def test_hand_case():
    # Only z=0 is mixed: P(z=0) = 1/2, H(Y | z=0) = −(2/3 log 2/3 + 1/3 log 1/3); the other rows are pure.
    expected = 0.5 * (2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert nce(hard(HAND_Z, 4), HAND_Y, device="cpu") == pytest.approx(expected, abs=1e-12)


def test_equals_minus_conditional_entropy_from_scipy():
    rng = np.random.default_rng(1)
    theta = random_probabilities(300, 12, seed=1)
    labels = rng.integers(0, 5, 300)
    z = theta.argmax(axis=1)
    expected = -sum(np.mean(z == source) * entropy(np.bincount(labels[z == source], minlength=5))
                    for source in np.unique(z))
    assert nce(theta, labels, device="cpu") == pytest.approx(expected, abs=1e-12)


def test_empty_source_classes_are_skipped():
    theta = hard(HAND_Z, 4)  # source class 2 is never predicted
    with_more_empty = np.concatenate([theta, np.zeros((6, 3))], axis=1)
    assert np.isfinite(nce(with_more_empty, HAND_Y, device="cpu"))
    assert nce(with_more_empty, HAND_Y, device="cpu") == pytest.approx(nce(theta, HAND_Y, device="cpu"), abs=1e-15)


def test_argmax_ties_go_to_the_first_source_class():
    theta = np.array([[0.5, 0.5], [0.5, 0.5], [0.2, 0.8]])  # z = (0, 0, 1)
    assert nce(theta, [0, 1, 1], device="cpu") == pytest.approx(-2 / 3 * math.log(2), abs=1e-12)


def test_bounds_and_invariances():
    labels = np.arange(40) % 4
    assert nce(hard(labels, 6), labels, device="cpu") == pytest.approx(0.0, abs=1e-15)  # z determines y
    assert nce(hard(np.zeros(40, int), 6), labels, device="cpu") == pytest.approx(-math.log(4), abs=1e-12)
    theta = random_probabilities(80, 9, seed=2)
    labels = np.random.default_rng(2).integers(0, 4, 80)
    reference = nce(theta, labels, device="cpu")
    assert nce(theta, np.array([2, 3, 0, 1])[labels], device="cpu") == pytest.approx(reference, abs=1e-12)
    assert nce(theta[:, [8, 3, 5, 0, 1, 7, 2, 6, 4]], labels, device="cpu") == pytest.approx(reference, abs=1e-12)
    order = np.random.default_rng(3).permutation(80)
    assert nce(theta[order], labels[order], device="cpu") == pytest.approx(reference, abs=1e-12)


def test_agrees_with_numpy_reference_on_random_inputs():
    for seed, (n, source_classes, classes) in enumerate([(50, 10, 3), (500, 40, 12), (7, 20, 2)]):
        theta = random_probabilities(n, source_classes, seed)
        labels = np.random.default_rng(seed).integers(0, classes, n)
        assert nce(theta, labels, device="cpu") == pytest.approx(nce_numpy(theta, labels), abs=1e-12)


def test_accepts_prepared_inputs_and_is_registered_for_source_probabilities():
    theta = random_probabilities(20, 4, seed=3)
    labels = np.arange(20) % 2
    assert nce(prepare(source_probs=theta, labels=labels, device="cpu")) == nce(theta, labels, device="cpu")
    assert REGISTRY["nce"].primary_input == "source_probs"


def test_bad_and_degenerate_inputs_give_clear_errors():
    theta = random_probabilities(10, 3, seed=5)
    with pytest.raises(DegenerateInputError, match="at least 2 classes"):
        nce(theta, np.ones(10), device="cpu")
    with pytest.raises(MetricInputError, match="labels"):
        nce(theta, device="cpu")
    with pytest.raises(MetricInputError, match="9 entries"):
        nce(theta, np.arange(9) % 2, device="cpu")
