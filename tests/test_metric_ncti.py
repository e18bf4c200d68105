"""NCTI's components: scikit-learn's exact PCA and LinearDiscriminantAnalysis (svd; eigen with shrinkage) as the
known answer, then the branch rule, invariances and bad input."""

import math

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from bench.numpy_reference.ncti import fitted_lda
from bench.numpy_reference.ncti import ncti as ncti_numpy
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError
from transfer_core.metrics.ncti import (
    eigen_discriminant,
    ncti_components,
    ncti_shrinkage,
    principal_coordinates,
    svd_discriminant,
)
from transfer_core.metrics.prepared import prepare

RELATIVE = 1e-6  # the bound against scikit-learn


def blobs(n=300, d=20, classes=4, separation=0.3, scale=1.0, seed=0):
    """Gaussian classes on a decaying spectrum (distinct PCA variances), times ``scale``."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % classes)
    features = rng.normal(size=(n, d)) * np.linspace(2.0, 0.1, d) + separation * rng.normal(size=(classes, d))[labels]
    return scale * features, labels


def components(features, labels):
    return ncti_components(features, labels, device="cpu")


@pytest.mark.parametrize("n, d, classes, scale, branch, separation", [
    (300, 20, 4, 1.0, "svd", 0.3), (400, 100, 5, 1.0, "svd", 0.3), (500, 70, 2, 2.0, "svd", 0.1),
    (300, 20, 4, 0.1, "eigen", 0.3), (400, 100, 5, 0.05, "eigen", 0.3), (200, 80, 10, 0.02, "eigen", 0.3),
    (300, 8, 2, 0.3, "eigen", 0.3),  # k = 64 < D at (400, 100) and (200, 80)
])
def test_components_match_scikit_learn(n, d, classes, scale, branch, separation):
    """The reference (bench/numpy_reference/ncti.py) is the recipe of ``NCTI_Score`` on scikit-learn's estimators."""
    features, labels = blobs(n, d, classes, separation, scale, seed=n + d)
    shrinkage, expected = fitted_lda(features, labels)[2], ncti_numpy(features, labels)
    assert (shrinkage == 1e-10) == (branch == "svd")
    ours = components(features, labels)
    assert list(ours) == ["ncti.seli", "ncti.ncc", "ncti.vc"]
    for part, value in expected.items():
        assert ours[part] == pytest.approx(value, rel=RELATIVE), part
    assert 0 < ours["ncti.ncc"] < 0.999  # informative, not saturated


def test_principal_coordinates_are_scikit_learns_exact_pca_up_to_sign():
    features, labels = blobs(n=200, d=90)
    ours = principal_coordinates(prepare(features, labels, device="cpu")).numpy()
    reference = PCA(n_components=64, svd_solver="full").fit_transform(features)
    assert ours.shape == (200, 64)
    signs = np.sign((ours * reference).sum(axis=0))
    np.testing.assert_allclose(ours * signs, reference, rtol=0, atol=1e-9 * np.abs(reference).max())


def test_shrinkage_rule_sums_the_top_32_sample_variances():
    pca = PCA(n_components=40, svd_solver="full")
    x = torch.tensor(pca.fit_transform(blobs(d=50, scale=0.05)[0]))
    variances = pca.explained_variance_
    assert ncti_shrinkage(x) == pytest.approx(math.exp(-variances[:32].sum()), rel=1e-12)
    assert ncti_shrinkage(100 * x) == 1e-10


@pytest.mark.parametrize("classes", [2, 5])
def test_both_solvers_reproduce_scikit_learns_posterior_and_transform(classes):
    features, labels = blobs(classes=classes, scale=0.2)
    x = PCA(n_components=12, svd_solver="full").fit_transform(features)
    tx, ty = torch.tensor(x), torch.tensor(labels)
    for fit, reference in ((svd_discriminant(tx, ty, classes), LinearDiscriminantAnalysis(solver="svd")),
                           (eigen_discriminant(tx, ty, classes, 0.3),
                            LinearDiscriminantAnalysis(solver="eigen", shrinkage=0.3))):
        transformed = reference.fit_transform(x, labels)
        np.testing.assert_allclose(fit.lda.posterior(tx).numpy(), reference.predict_proba(x), rtol=0, atol=1e-10)
        ours = ((tx - tx.mean(dim=0)) @ fit.scalings[:, :classes - 1]).numpy()
        centred = transformed - transformed.mean(axis=0)
        signs = np.sign((ours * centred).sum(axis=0))  # eigenvector signs are arbitrary on both sides
        np.testing.assert_allclose(ours * signs, centred, rtol=0, atol=1e-9 * np.abs(centred).max())


def test_fewer_samples_than_64_or_dimensions_cap_the_pca_and_stay_finite():
    features, labels = blobs(n=40, d=200, classes=3, scale=0.01)
    values = components(features, labels)
    assert all(np.isfinite(v) for v in values.values())
    assert principal_coordinates(prepare(features, labels, device="cpu")).shape == (40, 40)


@pytest.mark.filterwarnings("ignore:Only one sample available", "ignore:Variables are collinear")  # scikit-learn
def test_constant_column_and_single_sample_class_match_scikit_learn():
    features, labels = blobs(n=121, d=10, classes=4, scale=0.05)
    features[:, 3] = 5.0
    labels[-1] = 4
    assert components(features, labels) == pytest.approx(ncti_numpy(features, labels), rel=RELATIVE)


def test_invariant_to_label_names_sample_order_and_translation():
    features, labels = blobs(scale=0.1)
    base = components(features, labels)
    rng = np.random.default_rng(3)
    rows = rng.permutation(len(labels))
    renamed = np.array(["dog", "cat", "emu", "ant"])[labels]
    assert components(features, renamed) == pytest.approx(base, rel=1e-12)
    assert components(features[rows], labels[rows]) == pytest.approx(base, rel=1e-9)
    assert components(features + rng.normal(size=features.shape[1]), labels) == pytest.approx(base, rel=1e-9)


def test_float16_input_and_inputs_not_mutated():
    features, labels = blobs()
    copy = features.copy()
    assert all(np.isfinite(v) for v in components(features.astype(np.float16), labels).values())
    components(features, labels)
    np.testing.assert_array_equal(features, copy)


def test_bad_input():
    features, labels = blobs()
    with pytest.raises(DegenerateInputError, match="at least 2 classes"):
        components(features, np.zeros(len(labels)))
    with pytest.raises(DegenerateInputError, match="within-class spread"):
        components(np.repeat(np.eye(3), 4, axis=0) * 50, np.repeat([0, 1, 2], 4))  # every class one point
    features[0, 0] = np.inf
    with pytest.raises(MetricInputError, match="non-finite"):
        components(features, labels)
