"""Projections behind the Explore page: Fisher space against scikit-learn / scipy, subsampling, padding,
spectral components against numpy and DISCO, metric agreement against scipy, one UMAP run."""

import numpy as np
import pytest
from scipy.linalg import eigh
from scipy.stats import kendalltau
from sklearn.covariance import shrunk_covariance
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from transfer_core.errors import InvalidInputError, UndefinedResultError
from transfer_core.metrics.disco import disco_components
from transfer_core.metrics.errors import TransferabilityWarning
from transfer_core.presentation.projections import (
    fisher_projection,
    metric_agreement,
    spectral_components,
    umap_embedding,
)


def blobs(counts=(60, 60, 60, 60), d=12, spread=4.0, scale=1.0, seed=0):
    """Gaussian classes with random means and a shared correlated covariance; labels are strings."""
    rng = np.random.default_rng(seed)
    codes = np.repeat(np.arange(len(counts)), counts)
    mixing = rng.normal(size=(d, d)) / np.sqrt(d)
    features = rng.normal(size=(len(codes), d)) @ mixing + spread * rng.normal(size=(len(counts), d))[codes]
    return scale * features, np.array([f"class-{c}" for c in codes])


def nearest_centroid_accuracy(points, labels):
    classes = np.unique(labels)
    centroids = np.stack([points[labels == c].mean(axis=0) for c in classes])
    predicted = classes[np.argmin(((points[:, None, :] - centroids[None]) ** 2).sum(axis=2), axis=1)]
    return np.mean(predicted == labels)


def abs_correlations(a, b):
    """|Pearson correlation| of matching columns."""
    return np.array([abs(np.corrcoef(a[:, k], b[:, k])[0, 1]) for k in range(a.shape[1])])


def pooled_within_variance(points, labels):
    residuals = points - np.stack([points[labels == c].mean(axis=0) for c in labels])
    return (residuals ** 2).mean(axis=0)


@pytest.mark.parametrize("dims", [2, 3])
def test_fisher_projection_separates_classes_and_respects_dims(dims):
    features, labels = blobs()
    projection = fisher_projection(features, labels, dims, device="cpu")
    assert projection.coordinates.shape == (240, dims)
    assert len(projection.axis_titles) == dims and projection.explained.shape == (dims,)
    assert np.all(np.diff(projection.explained) <= 0) and projection.explained.sum() <= 1 + 1e-12
    assert projection.method == "Fisher (LDA)"
    np.testing.assert_array_equal(projection.indices, np.arange(240))
    np.testing.assert_array_equal(projection.labels, labels)
    assert nearest_centroid_accuracy(projection.coordinates, projection.labels) >= 0.99


def test_fisher_axes_match_scikit_learn_eigen_solver():
    """At realistic feature scales λ sits at its 1e-10 floor, where scikit-learn's eigen solver (which also
    shrinks S_b, by λ) solves the same problem: the axes agree up to sign and scale, the discriminant ratios
    exactly, and each axis has unit within-class variance."""
    features, labels = blobs(scale=10.0)
    ours = fisher_projection(features, labels, 3, pca_dim=None, device="cpu")
    reference = LinearDiscriminantAnalysis(solver="eigen", shrinkage=1e-10).fit(features, labels)
    assert np.all(abs_correlations(ours.coordinates, reference.transform(features)) > 1 - 1e-9)
    np.testing.assert_allclose(ours.explained, reference.explained_variance_ratio_[:3], rtol=1e-8)
    np.testing.assert_allclose(pooled_within_variance(ours.coordinates, labels), 1.0, rtol=1e-6)


def test_fisher_axes_solve_the_shrunk_generalised_eigenproblem():
    """With an explicit λ: the axes are those of scipy's S_b v = ρ S_w,λ v, S_w,λ from scikit-learn."""
    features, labels = blobs()
    ours = fisher_projection(features, labels, 3, pca_dim=None, shrinkage=0.3, device="cpu")
    centred = features - features.mean(axis=0)
    means = np.stack([centred[labels == c].mean(axis=0) for c in np.unique(labels)])
    within = sum(np.mean(labels == c) * np.cov(centred[labels == c].T, bias=True) for c in np.unique(labels))
    between = means.T @ (means * (np.unique(labels, return_counts=True)[1] / len(labels))[:, None])
    ratios, vectors = eigh(between, shrunk_covariance(within, 0.3))
    expected = centred @ vectors[:, ::-1][:, :3]
    assert np.all(abs_correlations(ours.coordinates, expected) > 1 - 1e-10)
    np.testing.assert_allclose(ours.explained, ratios[::-1][:3] / ratios.sum(), rtol=1e-8)


def test_default_pca_is_a_rotation_when_features_are_narrow():
    """12 < 64 dimensions: the PCA keeps every direction, and with a fixed λ the LDA is rotation invariant
    (the adaptive λ is not quite: its power iteration starts from S_w·1)."""
    features, labels = blobs(d=12)
    reduced = fisher_projection(features, labels, shrinkage=0.05, device="cpu")
    raw = fisher_projection(features, labels, pca_dim=None, shrinkage=0.05, device="cpu")
    np.testing.assert_allclose(np.abs(reduced.coordinates), np.abs(raw.coordinates), atol=1e-8)


def test_two_classes_pad_the_second_axis_with_the_within_class_principal_component():
    features, labels = blobs(counts=(80, 70))
    projection = fisher_projection(features, labels, device="cpu")
    assert "2 classes give only 1 discriminant axis" in projection.axis_titles[1]
    np.testing.assert_allclose(projection.explained, [1.0, 0.0])
    assert nearest_centroid_accuracy(projection.coordinates[:, :1], labels) >= 0.99
    residuals = features - np.stack([features[labels == c].mean(axis=0) for c in labels])
    first_component = np.linalg.svd(residuals, full_matrices=False)[2][0]
    expected = (features - features.mean(axis=0)) @ first_component
    assert abs_correlations(projection.coordinates[:, 1:], expected[:, None])[0] > 1 - 1e-10
    assert pooled_within_variance(projection.coordinates, labels)[1] == pytest.approx(1.0, rel=1e-10)


def test_three_classes_in_three_dimensions_pad_the_third_axis():
    features, labels = blobs(counts=(40, 40, 40))
    projection = fisher_projection(features, labels, 3, device="cpu")
    assert projection.axis_titles[0].startswith("Discriminant axis 1")
    assert projection.axis_titles[1].startswith("Discriminant axis 2")
    assert "3 classes give only 2 discriminant axes" in projection.axis_titles[2]
    assert projection.explained[2] == 0.0


def test_subsample_is_stratified_seeded_and_fitted_on_all_samples():
    features, labels = blobs(counts=(120, 80, 40))
    full = fisher_projection(features, labels, max_points=10_000, device="cpu")
    shown = fisher_projection(features, labels, max_points=60, seed=3, device="cpu")
    again = fisher_projection(features, labels, max_points=60, seed=3, device="cpu")
    other = fisher_projection(features, labels, max_points=60, seed=4, device="cpu")
    _, per_class = np.unique(shown.labels, return_counts=True)
    assert per_class.tolist() == [30, 20, 10]
    assert np.all(np.diff(shown.indices) > 0)
    np.testing.assert_array_equal(shown.labels, labels[shown.indices])
    np.testing.assert_allclose(shown.coordinates, full.coordinates[shown.indices], atol=1e-12)
    np.testing.assert_array_equal(again.indices, shown.indices)
    assert not np.array_equal(other.indices, shown.indices)


def test_small_samples_warn_and_inputs_are_not_mutated():
    features, labels = blobs(counts=(10, 10), d=30)
    before = features.copy()
    with pytest.warns(TransferabilityWarning, match="within-class scatter is singular"):
        projection = fisher_projection(features, labels, pca_dim=None, device="cpu")
    assert np.isfinite(projection.coordinates).all()
    np.testing.assert_array_equal(features, before)


def test_fisher_projection_bad_inputs_raise_clear_errors():
    features, labels = blobs(counts=(10, 10))
    with pytest.raises(InvalidInputError, match="2 or 3 dimensions"):
        fisher_projection(features, labels, 4, device="cpu")
    with pytest.raises(UndefinedResultError, match="at least 2 classes"):
        fisher_projection(features, np.zeros(20), device="cpu")
    with pytest.raises(InvalidInputError, match="max_points"):
        fisher_projection(features, labels, max_points=1, device="cpu")
    with pytest.raises(InvalidInputError, match="at least 3 feature dimensions"):
        fisher_projection(features, labels, 3, pca_dim=2, device="cpu")
    with pytest.raises(UndefinedResultError, match="within-class spread"):
        fisher_projection(np.repeat(np.eye(2), 5, axis=0), np.repeat([0, 1], 5), device="cpu")
    with pytest.warns(TransferabilityWarning), pytest.raises(UndefinedResultError, match="singular"):
        fisher_projection(blobs(counts=(10, 10), d=30)[0], labels, pca_dim=None, shrinkage=0.0, device="cpu")
    with pytest.raises(InvalidInputError, match="shrinkage"):
        fisher_projection(features, labels, shrinkage=2.0, device="cpu")
    with pytest.raises(InvalidInputError, match="non-finite"):
        fisher_projection(np.full((20, 3), np.nan), labels, device="cpu")


def test_spectral_components_match_numpy_and_disco():
    features, labels = blobs(d=20)
    spectral = spectral_components(features, labels, groups=4, device="cpu")
    expected = np.linalg.svd(features - features.mean(axis=0), compute_uv=False)
    np.testing.assert_allclose(spectral.singular_values, expected, rtol=1e-9)
    np.testing.assert_allclose(spectral.cumulative_variance, np.cumsum(expected ** 2) / np.sum(expected ** 2),
                               rtol=1e-9)
    reference = disco_components(features, labels, groups=4, device="cpu")
    assert spectral.disco.total == pytest.approx(reference.total, rel=1e-12)
    np.testing.assert_allclose(spectral.disco.ratios, reference.ratios, rtol=1e-12)
    assert spectral.disco.ranges == ((0, 5), (5, 10), (10, 15), (15, 20))


def test_spectral_components_for_regression_targets():
    features, _ = blobs(d=8)
    targets = features[:, :2] @ np.array([[1.0], [-2.0]])
    spectral = spectral_components(features, targets=targets, groups=2, device="cpu")
    assert spectral.disco.task == "regression" and spectral.disco.scores.shape == (2,)
    assert np.all(spectral.disco.scores <= 0)


def test_metric_agreement_matches_scipy_on_a_hand_table():
    table = {"logme": [1.0, 2.0, 3.0, 4.0, None],
             "sfda": [0.1, 0.3, 0.2, 0.4, 0.5],
             "knn": [0.9, None, 0.8, None, 0.1],
             "flat": [1.0, 1.0, 1.0, 1.0, 1.0]}
    metrics, matrix = metric_agreement(table)
    assert metrics == ["logme", "sfda", "knn", "flat"]
    # logme vs sfda over the first four models: pairs (1,2)+ (1,3)+ (1,4)+ (2,3)− (2,4)+ (3,4)+ → (5 − 1) / 6
    assert matrix[0, 1] == pytest.approx(2 / 3)
    assert matrix[0, 1] == pytest.approx(kendalltau([1, 2, 3, 4], [0.1, 0.3, 0.2, 0.4]).statistic)
    assert matrix[1, 2] == pytest.approx(kendalltau([0.1, 0.2, 0.5], [0.9, 0.8, 0.1]).statistic) == -1.0
    assert np.isnan(matrix[0, 2])  # only two models have both numbers
    assert np.all(np.isnan(matrix[3]))  # a constant metric has no order
    np.testing.assert_allclose(np.diag(matrix)[:3], 1.0, rtol=1e-12)
    np.testing.assert_array_equal(matrix, matrix.T)


def test_metric_agreement_bad_tables():
    with pytest.raises(InvalidInputError, match="one score per model"):
        metric_agreement({"a": [1, 2, 3], "b": [1, 2]})
    with pytest.raises(InvalidInputError, match="at least one metric"):
        metric_agreement({})


def test_umap_embedding_is_seeded_and_keeps_classes_apart():
    """The only UMAP test: the first call compiles umap-learn's numba code (about 10 s or more)."""
    features, labels = blobs(counts=(50, 50, 50, 50), d=60, spread=3.0)  # D > 50: the PCA path runs
    embedding = umap_embedding(features, labels, seed=1, device="cpu")
    again = umap_embedding(features, labels, seed=1, device="cpu")
    assert embedding.coordinates.shape == (200, 2) and embedding.axis_titles == ("UMAP 1", "UMAP 2")
    np.testing.assert_array_equal(embedding.coordinates, again.coordinates)
    np.testing.assert_array_equal(embedding.labels, labels)
    assert nearest_centroid_accuracy(embedding.coordinates, labels) >= 0.95
    subsample = umap_embedding(features, labels, max_points=40, device="cpu")
    assert np.unique(subsample.labels, return_counts=True)[1].tolist() == [10, 10, 10, 10]
    with pytest.raises(InvalidInputError, match="2 or 3 dimensions"):
        umap_embedding(features, dims=1)
