"""H-score and shrinkage H-score: hand-derived values, NumPy / scikit-learn cross-checks, saturation, invariances."""

import warnings

import numpy as np
import pytest
from scipy.stats import ortho_group
from sklearn.covariance import ledoit_wolf_shrinkage as sklearn_ledoit_wolf_shrinkage

from bench.numpy_reference.hscore import hscore as hscore_numpy
from bench.numpy_reference.hscore_shrinkage import hscore_shrinkage as hscore_shrinkage_numpy
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError, TransferabilityWarning
from transfer_core.metrics.hscore import hscore
from transfer_core.metrics.hscore_shrinkage import hscore_shrinkage, ledoit_wolf_shrinkage
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import REGISTRY

BOTH = [hscore, hscore_shrinkage]


def _classification(seed, n, d, c, separation=1.0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % c
    features = rng.normal(size=(n, d)) * rng.uniform(0.2, 3.0, size=d) + separation * rng.normal(size=(c, d))[labels]
    return features, labels


def _silently(metric, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error", TransferabilityWarning)
        return metric(*args)


def test_hand_derived_one_dimensional_case():
    # 1-D: H = between-class sum of squares / total sum of squares = 16 / 20.
    features, labels = np.array([0.0, 2.0, 4.0, 6.0]), np.array([0, 0, 1, 1])
    assert _silently(hscore, features, labels) == pytest.approx(0.8, rel=1e-12)
    # One feature: Ledoit–Wolf α = 0, so H_α = tr(S⁻¹ Cov G) = N/(N−1) · H (ddof 0 against ddof 1).
    assert hscore_shrinkage(features, labels) == pytest.approx(4 / 3 * 0.8, rel=1e-12)


@pytest.mark.parametrize("seed, n, d, c", [(1, 60, 5, 3), (2, 120, 20, 7), (3, 300, 12, 30), (4, 40, 38, 4)])
def test_hscore_matches_numpy_pinv(seed, n, d, c):
    features, labels = _classification(seed, n, d, c)
    assert _silently(hscore, features, labels) == pytest.approx(hscore_numpy(features, labels), rel=1e-8)


@pytest.mark.parametrize("n, d", [(10, 30), (12, 12), (13, 12)])
def test_hscore_saturates_at_c_minus_one_when_n_is_at_most_d_plus_one(n, d):
    features, labels = _classification(5, n, d, 3)
    with pytest.warns(TransferabilityWarning, match="saturates"):
        assert hscore(features, labels) == pytest.approx(2.0, rel=1e-9)


@pytest.mark.parametrize("metric", BOTH)
def test_invariant_to_label_permutation_and_orthogonal_rotation(metric):
    features, labels = _classification(6, 50, 6, 4)
    reference = metric(features, labels)
    assert metric(features, np.array([3, 1, 0, 2])[labels]) == pytest.approx(reference, rel=1e-10)
    # Ledoit–Wolf's target (tr S / D) I is rotation invariant, and so is its α (it depends on ‖z_i‖, eigenvalues).
    assert metric(features @ ortho_group.rvs(6, random_state=6), labels) == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize("seed, n, d", [(7, 50, 8), (8, 20, 60), (9, 200, 3), (10, 5, 2)])
def test_ledoit_wolf_shrinkage_matches_scikit_learn_on_centred_data(seed, n, d):
    features, labels = _classification(seed, n, d, 2)
    centred = features - features.mean(axis=0)
    expected = sklearn_ledoit_wolf_shrinkage(centred, assume_centered=True)
    assert float(ledoit_wolf_shrinkage(prepare(features, labels))) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("seed, n, d, c", [(11, 60, 5, 3), (12, 30, 80, 5), (13, 200, 16, 10), (14, 6, 1, 2)])
def test_hscore_shrinkage_matches_scikit_learn_ledoit_wolf_reference(seed, n, d, c):
    features, labels = _classification(seed, n, d, c)
    expected = hscore_shrinkage_numpy(features, labels)
    assert _silently(hscore_shrinkage, features, labels) == pytest.approx(expected, rel=1e-8)


def test_shrinkage_does_not_saturate_when_n_is_below_d():
    features, labels = _classification(15, 12, 40, 3, separation=0.0)
    informative, _ = _classification(15, 12, 40, 3, separation=3.0)
    noise_score = _silently(hscore_shrinkage, features, labels)
    assert 0 < noise_score < 2 - 0.1
    assert _silently(hscore_shrinkage, informative, labels) > noise_score


@pytest.mark.parametrize("metric", BOTH)
def test_degenerate_and_bad_inputs(metric):
    features, labels = _classification(16, 20, 4, 2)
    with pytest.raises(DegenerateInputError):
        metric(features, np.zeros(20, dtype=int))
    with pytest.raises(MetricInputError):
        metric(features)
    broken = features.copy()
    broken[0, 0] = np.inf
    with pytest.raises(MetricInputError):
        metric(broken, labels)
    assert metric(np.ones((20, 4)), labels) == 0.0  # constant features: pinv(0) = 0, no class information


@pytest.mark.parametrize("metric", BOTH)
def test_awkward_but_valid_inputs_give_finite_scores_and_leave_inputs_untouched(metric):
    features, labels = _classification(17, 31, 5, 3)
    features[:, 1] = -2.0  # constant column
    labels[0] = 3  # a class with one sample
    original = features.copy()
    assert np.isfinite(metric(features, labels))
    assert np.isfinite(metric(features.astype(np.float16), labels))
    np.testing.assert_array_equal(features, original)


@pytest.mark.parametrize("metric", BOTH)
def test_registry_entry_scores_a_prepared_input(metric):
    features, labels = _classification(18, 30, 4, 3)
    spec = REGISTRY[metric.__name__]
    assert spec.function(prepare(features, labels)) == pytest.approx(metric(features, labels), rel=1e-12)
