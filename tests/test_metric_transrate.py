"""TransRate: hand-derived 2-D cases, Sylvester's identity, invariances and the NumPy reference."""

import numpy as np
import pytest
import torch
from scipy.stats import ortho_group

from bench.numpy_reference.transrate import transrate as transrate_numpy
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import REGISTRY, parse_options
from transfer_core.metrics.transrate import coding_rate, transrate


def _classification(seed, n, d, c, separation=1.0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % c
    features = rng.normal(size=(n, d)) + separation * rng.normal(size=(c, d))[labels]
    return features, labels


def test_hand_derived_cross_shaped_classes():
    # Class 0 on the x axis (±1, 0), class 1 on the y axis (0, ±1); n = 4, ε = 1e-4.
    # ZᵀZ = 2 I: R(Z) = ½ · 2 log(1 + 2 / (4ε)) = log 5001.  Each class: ZcᵀZc = diag(2, 0) with n_c = 2:
    # R = ½ log(1 + 2 / (2ε)) = ½ log 10001.  TrR = log 5001 − ½ log 10001.
    features = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    labels = np.array([0, 0, 1, 1])
    assert transrate(features, labels) == pytest.approx(np.log(5001) - 0.5 * np.log(10001), rel=1e-12)


def test_hand_derived_case_shows_class_blocks_are_not_recentred():
    # Classes at x = ±2 with y = ±1: ZᵀZ = diag(16, 4), n = 4 → R = ½ (log 40001 + log 10001); each class
    # keeps its offset, ZcᵀZc = diag(8, 2), n_c = 2 → the same R, so TrR = 0 exactly (re-centring would
    # give ½ log 40001 instead).  Shifting all features leaves the score unchanged (global centring).
    features = np.array([[2.0, 1.0], [2.0, -1.0], [-2.0, 1.0], [-2.0, -1.0]])
    labels = np.array([0, 0, 1, 1])
    assert abs(transrate(features, labels)) < 1e-12
    assert abs(transrate(features + np.array([10.0, -3.0]), labels)) < 1e-9


@pytest.mark.parametrize("n, d", [(5, 30), (40, 6), (8, 8)])
def test_sylvester_path_equals_direct_path(n, d):
    z = torch.tensor(np.random.default_rng(n).normal(size=(n, d)))
    direct = coding_rate(z, through_gram=False)
    assert float(coding_rate(z, through_gram=True)) == pytest.approx(float(direct), rel=1e-10)
    _, log_det = np.linalg.slogdet(np.eye(d) + z.numpy().T @ z.numpy() / (n * 1e-4))
    assert float(direct) == pytest.approx(0.5 * log_det, rel=1e-10)


@pytest.mark.parametrize("seed, n, d, c", [(1, 60, 5, 3), (2, 30, 50, 4), (3, 200, 16, 20), (4, 45, 10, 9)])
def test_matches_numpy_reference(seed, n, d, c):
    features, labels = _classification(seed, n, d, c)
    assert transrate(features, labels) == pytest.approx(transrate_numpy(features, labels), rel=1e-9)
    assert transrate(features, labels, pca_dim=4) == pytest.approx(
        transrate_numpy(features, labels, pca_dim=4), rel=1e-9)


def test_invariant_to_orthogonal_rotation_and_label_permutation():
    features, labels = _classification(5, 40, 12, 4)  # class blocks of 10 < D take the Sylvester path
    reference = transrate(features, labels)
    assert transrate(features @ ortho_group.rvs(12, random_state=5), labels) == pytest.approx(reference, rel=1e-10)
    assert transrate(features, np.array([2, 3, 0, 1])[labels]) == pytest.approx(reference, rel=1e-12)


def test_separated_classes_score_higher():
    separated, labels = _classification(6, 60, 6, 3, separation=4.0)
    noise = np.random.default_rng(6).normal(size=(60, 6))
    assert transrate(separated, labels) > transrate(noise, labels)


def test_pca_dim_option_validation_and_registry():
    features, labels = _classification(7, 30, 8, 3)
    for bad in (0, -2, 2.5):
        with pytest.raises(MetricInputError):
            transrate(features, labels, pca_dim=bad)
    spec = REGISTRY["transrate"]
    options = parse_options(spec, {"pca_dim": "3"})
    assert spec.function(prepare(features, labels), **options) == pytest.approx(
        transrate(features, labels, pca_dim=3), rel=1e-12)
    assert transrate(features, labels, pca_dim=np.int64(3)) == pytest.approx(transrate(features, labels, pca_dim=3))
    # A dimension above min(N, D) is capped: the same as no PCA.
    assert transrate(features, labels, pca_dim=100) == pytest.approx(transrate(features, labels), rel=1e-10)


def test_degenerate_and_bad_inputs():
    features, labels = _classification(8, 20, 4, 2)
    with pytest.raises(DegenerateInputError):
        transrate(features, np.zeros(20, dtype=int))
    with pytest.raises(MetricInputError):
        transrate(features)
    broken = features.copy()
    broken[1, 2] = np.nan
    with pytest.raises(MetricInputError):
        transrate(broken, labels)


def test_awkward_but_valid_inputs_give_finite_scores_and_leave_inputs_untouched():
    features, labels = _classification(9, 21, 30, 3)  # N < D
    features[:, 4] = 7.0  # constant column
    labels[0] = 3  # a class with one sample
    original = features.copy()
    assert np.isfinite(transrate(features, labels))
    assert np.isfinite(transrate(features.astype(np.float16), labels))
    assert transrate(np.ones((21, 30)), labels) == 0.0  # nothing to compress
    np.testing.assert_array_equal(features, original)
