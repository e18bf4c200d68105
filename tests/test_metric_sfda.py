"""SFDA: a hand-derived 1-D case, the NumPy/scikit-learn reference, invariances, saturation, bad input."""

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from bench.numpy_reference.sfda import sfda as sfda_numpy
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError, TransferabilityWarning
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import REGISTRY, parse_options
from transfer_core.metrics.sfda import sfda


def blobs(n=240, d=10, classes=4, separation=1.0, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % classes)
    features = rng.normal(size=(n, d)) + separation * rng.normal(size=(classes, d))[labels]
    return scale * features, labels


def score(features, labels, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("error", TransferabilityWarning)  # these inputs must not saturate
        return sfda(features, labels, device="cpu", **options)


def sigmoid(t):
    return 1 / (1 + math.exp(-t))


def test_two_symmetric_classes_in_one_dimension_by_hand():
    """In 1-D the shrinkage target tr(S_w)/D equals S_w, so λ drops out and LDA is a logistic rule.

    Classes {−3, −1} and {1, 3}: means ∓2, S_w = 1, p(1 | x) = σ(4x). With two classes the second softmax
    gives p' = σ(2p − 1) and the other-class mean is ±2. The mixed class 0 is {u1, u2} with mean m, spread
    v = ((u1 − u2)/2)², class 1 its mirror image; the refit's log-odds of class 0 are
    u (m − (−m)) / v − (m² − m²) / (2v) = 2 m u / v.
    """
    a, b = sigmoid(2 * sigmoid(12) - 1), sigmoid(2 * sigmoid(4) - 1)  # p' of x = −3 and x = −1
    u1, u2 = -3 * a + 2 * (1 - a), -1 * b + 2 * (1 - b)
    m, v = (u1 + u2) / 2, ((u1 - u2) / 2) ** 2
    expected = (sigmoid(2 * m * u1 / v) + sigmoid(2 * m * u2 / v)) / 2
    value = score(np.array([-3.0, -1.0, 1.0, 3.0]), np.array([0, 0, 1, 1]))
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("scale", [0.05, 0.2, 1.0])
@pytest.mark.parametrize("classes", [2, 5])
def test_matches_numpy_reference(scale, classes):
    features, labels = blobs(classes=classes, scale=scale, seed=classes)
    assert score(features, labels) == pytest.approx(sfda_numpy(features, labels), abs=1e-10)


@pytest.mark.filterwarnings("ignore:Only one sample available")  # scikit-learn, inside the reference
def test_single_sample_class_and_constant_column_match_the_reference():
    features, labels = blobs(n=61, d=6, classes=3)
    features[:, 0] = 4.0
    labels[-1] = 3
    value = score(features, labels)
    assert np.isfinite(value) and value == pytest.approx(sfda_numpy(features, labels), abs=1e-10)


def test_invariant_to_label_names_sample_order_translation_and_column_order():
    features, labels = blobs(scale=0.3)
    base = score(features, labels)
    rng = np.random.default_rng(5)
    renamed = np.array(["dog", "cat", "emu", "ant"])[labels]
    rows, columns = rng.permutation(len(labels)), rng.permutation(features.shape[1])
    assert score(features, renamed) == pytest.approx(base, abs=1e-12)
    assert score(features[rows], labels[rows]) == pytest.approx(base, abs=1e-12)
    assert score(features + rng.normal(size=features.shape[1]), labels) == pytest.approx(base, abs=1e-10)
    assert score(features[:, columns], labels) == pytest.approx(base, abs=1e-12)


def test_more_separable_classes_score_higher():
    values = [score(*blobs(separation=separation)) for separation in (0.2, 0.6, 1.5)]
    assert 0 < values[0] < values[1] < values[2] <= 1


def test_saturates_with_a_warning_when_samples_do_not_exceed_dimensions():
    features, labels = blobs(n=40, d=60, separation=0.0)  # pure noise: nothing to transfer
    with pytest.warns(TransferabilityWarning, match="saturates"):
        value = sfda(features, labels, device="cpu")
    assert value > 0.999
    assert score(features, labels, pca_dim=4) < 0.6  # the PCA option brings it back to a meaningful range


def test_pca_dim_matches_reference_on_principal_components():
    features, labels = blobs(n=200, d=30, scale=3.0)  # λ at its floor: rotations and sign flips do not matter
    components = PCA(n_components=8, svd_solver="full").fit_transform(features)
    assert score(features, labels, pca_dim=8) == pytest.approx(sfda_numpy(components, labels), abs=1e-9)


def test_deterministic_and_inputs_not_mutated():
    features, labels = blobs()
    features_copy, labels_copy = features.copy(), labels.copy()
    tensor = torch.tensor(features)
    assert score(features, labels) == score(tensor, labels)
    np.testing.assert_array_equal(features, features_copy)
    np.testing.assert_array_equal(labels, labels_copy)
    assert torch.equal(tensor, torch.tensor(features_copy))


def test_float16_input_gives_a_finite_score():
    features, labels = blobs()
    assert np.isfinite(score(features.astype(np.float16), labels))


def test_registry_entry_and_options():
    features, labels = blobs()
    spec = REGISTRY["sfda"]
    options = parse_options(spec, {"pca_dim": "5"})
    assert options == {"pca_dim": 5}
    assert spec.function(prepare(features, labels, device="cpu"), **options) == pytest.approx(
        score(features, labels, pca_dim=5), abs=1e-15)


def test_bad_input():
    features, labels = blobs()
    with pytest.raises(DegenerateInputError, match="at least 2 classes"):
        sfda(features, np.zeros(len(labels)), device="cpu")
    with pytest.raises(MetricInputError, match="pca_dim"):
        sfda(features, labels, pca_dim=0, device="cpu")
    features[3, 2] = np.nan
    with pytest.raises(MetricInputError, match="non-finite"):
        sfda(features, labels, device="cpu")
    with pytest.raises(MetricInputError, match="labels"):
        sfda(prepare(np.ones((4, 2)), targets=np.arange(4.0), device="cpu"))


@pytest.mark.parametrize("scale", [0.01, 0.05, 0.3])
def test_with_fewer_samples_than_dimensions_the_fit_in_the_samples_span_is_the_ambient_fit(scale):
    # N < D: SFDA fits in the N-dimensional coordinates of the centred features' span. Every sample, mean and
    # scatter lies in that span, the shrinkage target keeps tr / D of the ambient space and the power iteration
    # starts from the ambient S_w·1, so λ and the logits (up to a per-sample constant) are those of the D-dim fit.
    # (At λ's 1e-10 floor both fits are conditioned ~1e10 and agree only to ~1e-5: rounding, not the method.)
    from transfer_core.metrics.lda import fit_shrinkage_lda
    from transfer_core.metrics.sfda import span_coordinates

    features, labels = blobs(n=60, d=200, classes=3, scale=scale)
    data = prepare(features + 5.0 * scale, labels, device="cpu")
    ambient = fit_shrinkage_lda(data.features, data.labels, data.num_classes)
    coordinates, span = span_coordinates(data)
    assert coordinates.shape == (60, 59) and span.dim == 200  # centring leaves N − 1 directions
    reduced = fit_shrinkage_lda(coordinates, data.labels, data.num_classes, span=span)
    assert 1e-3 < reduced.shrinkage < 1 and reduced.shrinkage == pytest.approx(ambient.shrinkage, rel=1e-10)

    def centred_logits(lda, x):
        logits = x @ lda.coef.T + lda.intercept
        return (logits - logits.mean(dim=1, keepdim=True)).numpy()

    expected = centred_logits(ambient, data.features)
    np.testing.assert_allclose(centred_logits(reduced, coordinates), expected, rtol=0,
                               atol=1e-10 * np.abs(expected).max())
