"""GBC: hand-derived Bhattacharyya cases, Google-style reference loops, invariances, 1 000 classes."""

import math
import time

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

import transfer_core.metrics.gbc as gbc_module
from bench.numpy_reference.gbc import gbc as gbc_numpy
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError
from transfer_core.metrics.gbc import gbc
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import REGISTRY, parse_options


def blobs(n=150, d=10, classes=5, separation=1.5, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % classes)
    noise = rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, size=d)
    features = noise + separation * rng.normal(size=(classes, d))[labels]
    return features, labels


def score(features, labels, gaussian="spherical"):
    return gbc(features, labels, gaussian=gaussian, device="cpu")


@pytest.mark.parametrize("gaussian", ["spherical", "diagonal"])
def test_two_one_dimensional_classes_by_hand(gaussian):
    # {0, 2}: μ = 1, σ = 1; {5, 9}: μ = 7, σ = 4; σ̄ = 2.5.
    # BD = 36 / (8 · 2.5) + ½ (log 2.5 − ½ log 1 − ½ log 4) = 1.8 + ½ log 1.25; two ordered pairs.
    expected = -2 * math.exp(-(1.8 + 0.5 * math.log(1.25)))
    assert score(np.array([0.0, 2.0, 5.0, 9.0]), np.array([0, 0, 1, 1]), gaussian) == pytest.approx(expected, rel=1e-13)


def test_two_dimensional_classes_by_hand_spherical_and_diagonal_differ():
    # A = {(0,0), (2,0)}: μ = (1, 0), σ = (1, 1e-4 floor); B = {(1,3), (1,5)}: μ = (1, 4), σ = (1e-4, 1).
    features = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 3.0], [1.0, 5.0]])
    labels = np.array([0, 0, 1, 1])
    average = (1 + 1e-4) / 2
    # spherical: σ_A = σ_B = σ̄ = 0.50005, so the log term vanishes (a scalar, not multiplied by D).
    assert score(features, labels, "spherical") == pytest.approx(-2 * math.exp(-16 / (8 * average)), rel=1e-13)
    # diagonal: the same separation, log term Σ_d (log σ̄ − ½ log σ_A,d − ½ log σ_B,d) = 2 log σ̄ − log 1e-4.
    distance = 16 / (8 * average) + 0.5 * (2 * math.log(average) - math.log(1e-4))
    assert score(features, labels, "diagonal") == pytest.approx(-2 * math.exp(-distance), rel=1e-13)


@pytest.mark.parametrize("gaussian", ["spherical", "diagonal"])
@pytest.mark.parametrize("n, d, classes", [(150, 10, 5), (40, 6, 12), (300, 80, 7)])  # the last one uses PCA(64)
def test_matches_reference_loops(gaussian, n, d, classes):
    features, labels = blobs(n, d, classes, seed=d)
    assert score(features, labels, gaussian) == pytest.approx(gbc_numpy(features, labels, gaussian), rel=1e-10)


def test_diagonal_blocks_of_rows_cover_every_pair(monkeypatch):
    features, labels = blobs(n=60, d=6, classes=12)
    monkeypatch.setattr(gbc_module, "CHUNK_ELEMENTS", 5 * 12 * 6)  # blocks of 5, 5 and 2 classes
    assert score(features, labels, "diagonal") == pytest.approx(gbc_numpy(features, labels, "diagonal"), rel=1e-10)


def test_single_sample_classes_and_constant_columns():
    features, labels = blobs(n=31, d=5, classes=3)
    features[:, 1] = 2.0
    labels[-1] = 3
    for gaussian in ("spherical", "diagonal"):
        value = score(features, labels, gaussian)
        assert np.isfinite(value) and value == pytest.approx(gbc_numpy(features, labels, gaussian), rel=1e-10)


def test_spherical_is_rotation_and_scale_invariant_without_pca():
    features, labels = blobs()  # D = 10 < 64: raw features, per-dimension variances far above the floor
    rotation, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(10, 10)))
    base = score(features, labels)
    assert score(features @ rotation + 5.0, labels) == pytest.approx(base, rel=1e-10)
    assert score(3.0 * features, labels) == pytest.approx(base, rel=1e-10)
    diagonal = score(features, labels, "diagonal")
    assert score(features @ rotation, labels, "diagonal") != pytest.approx(diagonal, rel=1e-3)  # per-axis model


def test_diagonal_is_invariant_to_per_dimension_affine_maps():
    features, labels = blobs()
    rng = np.random.default_rng(4)
    scales = rng.uniform(0.5, 3.0, size=10) * rng.choice([-1.0, 1.0], size=10)
    moved = features * scales + rng.normal(size=10)
    expected = score(features, labels, "diagonal")
    assert score(moved[:, rng.permutation(10)], labels, "diagonal") == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("gaussian", ["spherical", "diagonal"])
def test_rotation_invariant_through_pca(gaussian):
    features, labels = blobs(n=300, d=80, classes=6)
    rotation, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(80, 80)))
    assert score(features @ rotation, labels, gaussian) == pytest.approx(score(features, labels, gaussian), rel=1e-8)


def test_label_permutation_and_names_do_not_matter():
    features, labels = blobs()
    permuted = np.array([3, 0, 4, 1, 2])[labels]
    names = np.array(["e", "b", "a", "d", "c"])[labels]
    base = score(features, labels, "diagonal")
    assert score(features, permuted, "diagonal") == pytest.approx(base, rel=1e-13)
    assert score(features, names, "diagonal") == pytest.approx(base, rel=1e-13)


def test_thousand_classes_quickly():
    rng = np.random.default_rng(6)
    classes, d = 1000, 16
    labels = np.repeat(np.arange(classes), 2)
    features = rng.normal(size=(2 * classes, d)) + 3 * rng.normal(size=(classes, d))[labels]
    start = time.perf_counter()
    spherical, diagonal = score(features, labels), score(features, labels, "diagonal")
    assert time.perf_counter() - start < 10
    # independent spherical check: squared distances from scipy, log terms broadcast in NumPy
    means = np.stack([features[labels == c].mean(axis=0) for c in range(classes)])
    sigma = np.stack([np.maximum(features[labels == c].var(axis=0), 1e-4).mean() for c in range(classes)])
    average = (sigma[:, None] + sigma[None, :]) / 2
    distance = cdist(means, means, "sqeuclidean") / (8 * average) + 0.5 * (
        np.log(average) - 0.5 * np.log(sigma)[:, None] - 0.5 * np.log(sigma)[None, :])
    expected = -(np.exp(-distance).sum() - np.exp(-np.diag(distance)).sum())
    assert spherical == pytest.approx(expected, rel=1e-9)
    assert np.isfinite(diagonal) and diagonal < 0


def test_more_separable_classes_score_higher():
    values = [score(*blobs(separation=s)) for s in (0.3, 1.0, 3.0)]
    assert values[0] < values[1] < values[2] <= 0


def test_registry_option_and_inputs_not_mutated():
    features, labels = blobs()
    copy = features.copy()
    tensor = torch.tensor(features)
    options = parse_options(REGISTRY["gbc"], {"gaussian": "diagonal"})
    assert REGISTRY["gbc"].function(prepare(tensor, labels, device="cpu"), **options) == pytest.approx(
        score(features, labels, "diagonal"), rel=1e-15)
    np.testing.assert_array_equal(features, copy)
    assert torch.equal(tensor, torch.tensor(copy))


def test_bad_input():
    features, labels = blobs()
    with pytest.raises(MetricInputError, match="spherical, diagonal"):
        score(features, labels, "full")
    with pytest.raises(DegenerateInputError, match="at least 2 classes"):
        score(features, np.ones(len(labels)))
    features[0, 0] = np.inf
    with pytest.raises(MetricInputError, match="non-finite"):
        score(features, labels)
