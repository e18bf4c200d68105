"""PARC (Bolya et al., NeurIPS 2021): Spearman with ties against SciPy, the RDMs against NumPy, equality with
the recipe on scikit-learn's exact PCA, agreement with the NumPy reference and the original randomized recipe,
invariances, stratified seeded subsampling, degenerate input."""

import math
import warnings

import numpy as np
import pytest
import sklearn.decomposition
import sklearn.preprocessing
import torch
from scipy.stats import rankdata, spearmanr

from bench.numpy_reference.parc import parc as parc_numpy
from transfer_core.metrics import parc as parc_module
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError, TransferabilityWarning
from transfer_core.metrics.parc import (
    average_ranks,
    correlation_distances,
    label_distances,
    parc,
    spearman,
    stratified_subsample,
)


def blobs(n, d, classes, seed, spread=1.0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    return rng.normal(size=(classes, d))[labels] + spread * rng.normal(size=(n, d)), labels


def upper(matrix):
    return matrix[np.triu_indices(matrix.shape[0], 1)]


def test_spearman_hand_case_with_ties():
    # ranks (1, 2.5, 2.5, 4) and (1.5, 1.5, 3.5, 3.5): covariance 3, norms √4.5 and 2 → 1/√2
    x, y = torch.tensor([1.0, 2.0, 2.0, 3.0]), torch.tensor([0.0, 0.0, 1.0, 1.0])
    assert average_ranks(x).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert float(spearman(x, y)) == pytest.approx(1 / math.sqrt(2), abs=1e-12)  # a few roundings


def test_average_ranks_and_spearman_match_scipy_on_heavily_tied_data():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 2000).astype(float), rng.normal(size=2000) + rng.integers(0, 2, 2000)
    assert np.array_equal(average_ranks(torch.tensor(x)).numpy(), rankdata(x))
    assert float(spearman(torch.tensor(x), torch.tensor(y))) == pytest.approx(spearmanr(x, y)[0], abs=1e-12)


def test_rdms_match_numpy_corrcoef_across_several_blocks(monkeypatch):
    monkeypatch.setattr(parc_module, "BLOCK_ELEMENTS", 40)  # 1 row per block at 41 samples
    features, labels = blobs(41, 6, 4, seed=1)
    np.testing.assert_allclose(correlation_distances(torch.tensor(features)).numpy(),
                               upper(1 - np.corrcoef(features)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(label_distances(torch.tensor(labels), 4).numpy(),
                               upper(1 - np.corrcoef(np.eye(4)[labels])), rtol=0, atol=1e-12)


def test_spearman_of_the_rdms_matches_scipy():
    features, labels = blobs(80, 10, 5, seed=2, spread=2.0)
    feature_rdm = correlation_distances(torch.tensor(features))
    label_rdm = label_distances(torch.tensor(labels), 5)
    expected = spearmanr(feature_rdm.numpy(), label_rdm.numpy())[0]
    assert float(spearman(feature_rdm, label_rdm)) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("n, d, classes", [(120, 64, 4), (25, 50, 3), (90, 8, 9), (60, 40, 2)])
def test_agrees_with_numpy_reference(n, d, classes):
    features, labels = blobs(n, d, classes, seed=n + d, spread=3.0)
    assert parc(features, labels, device="cpu") == pytest.approx(parc_numpy(features, labels), abs=1e-8)


def original_recipe(features, labels):
    """dbolya/parc: seeded randomized PCA, StandardScaler, 1 − corrcoef, Spearman × 100."""
    reduced = sklearn.decomposition.PCA(n_components=32, svd_solver="randomized", random_state=1919,
                                        iterated_power=1).fit_transform(features)
    rows = sklearn.preprocessing.StandardScaler().fit_transform(reduced)
    label_rdm = 1 - np.corrcoef(np.eye(labels.max() + 1)[labels])
    return spearmanr(upper(1 - np.corrcoef(rows)), upper(label_rdm))[0] * 100


def exact_recipe(features, labels):
    """dbolya/parc with scikit-learn's exact PCA and RDM_Y in exact values (rounding keeps its two tie groups)."""
    pca = sklearn.decomposition.PCA(n_components=min(32, *features.shape), svd_solver="full")
    rows = sklearn.preprocessing.StandardScaler().fit_transform(pca.fit_transform(features))
    label_rdm = np.round(1 - np.corrcoef(np.eye(labels.max() + 1)[labels]), 12)
    return spearmanr(upper(1 - np.corrcoef(rows)), upper(label_rdm))[0] * 100


def collinear(seed):
    """40 independent columns, then 10 scaled copies and 5 sums of them: rank 40 ≥ 32."""
    features, labels = blobs(120, 40, 4, seed=seed, spread=1.5)
    return np.concatenate([features, 2.5 * features[:, :10], features[:, 10:15] + features[:, 15:20]], axis=1), labels


def tiny_classes(seed):
    """Four classes of 19–20 samples, one of 2 and one of 3."""
    features, labels = blobs(80, 48, 4, seed=seed)
    labels[[5, 50]], labels[[7, 30, 61]] = 4, 5
    return features, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("case", [
    lambda seed: blobs(50, 120, 3, seed=seed, spread=1.5),  # N < D
    lambda seed: blobs(200, 40, 5, seed=seed, spread=2.0),  # N > D
    lambda seed: blobs(100, 32, 4, seed=seed),  # D = 32: every component kept
    collinear,
    tiny_classes,
], ids=["n<d", "n>d", "d=32", "collinear", "tiny-classes"])
def test_equals_the_recipe_with_exact_pca(case, seed):
    # Both sides are exact PCAs that differ by rounding only (~1e-13), which moves no rank here; a component
    # with the other sign moves the score by 0.1-10 %.
    features, labels = case(seed)
    assert parc(features, labels, device="cpu") == pytest.approx(exact_recipe(features, labels), rel=1e-6)


def test_within_a_few_per_cent_of_the_original_randomized_recipe():
    for seed in (0, 1):
        features, labels = blobs(300, 64, 5, seed=seed, spread=1.0)
        assert parc(features, labels, device="cpu") == pytest.approx(original_recipe(features, labels), rel=0.05)


def test_invariant_to_relabelling_reordering_and_permuting_or_translating_columns():
    features, labels = blobs(90, 12, 3, seed=3, spread=2.0)
    reference = parc(features, labels, device="cpu")
    assert parc(features, np.array([2, 0, 1])[labels], device="cpu") == pytest.approx(reference, abs=1e-9)
    order = np.random.default_rng(0).permutation(90)
    assert parc(features[order], labels[order], device="cpu") == pytest.approx(reference, abs=1e-9)
    columns = np.random.default_rng(1).permutation(12)  # the sign convention follows the columns, not rotations
    assert parc(features[:, columns] - 50.0, labels, device="cpu") == pytest.approx(reference, abs=1e-8)


def test_class_structure_scores_higher_than_noise():
    features, labels = blobs(100, 16, 4, seed=4, spread=0.3)
    noise = np.random.default_rng(4).normal(size=(100, 16))
    # whitening by the standardisation caps PARC well below 100 even for separated classes (≈ 39 here)
    assert parc(features, labels, device="cpu") > 30 > 10 > abs(parc(noise, labels, device="cpu"))


def test_stratified_subsample_allocation_by_hand():
    labels = torch.tensor([0] * 5 + [1] * 3 + [2] * 2)
    # quotas 2.5, 1.5, 1.0 → floors (2, 1, 1); the spare sample goes to the first largest remainder: class 0
    chosen = stratified_subsample(labels, 3, 5, seed=0)
    assert torch.bincount(labels[chosen], minlength=3).tolist() == [3, 1, 1]


def test_stratified_subsample_is_seeded_proportional_and_without_replacement():
    labels = torch.tensor(np.random.default_rng(5).choice(4, 1000, p=[0.5, 0.3, 0.15, 0.05]))
    counts = torch.bincount(labels)
    chosen = stratified_subsample(labels, 4, 200, seed=3)
    assert chosen.shape == (200,) and torch.equal(chosen, chosen.unique())  # sorted, no repeats
    taken = torch.bincount(labels[chosen], minlength=4)
    assert ((taken - counts * 200 / 1000).abs() < 1).all()
    assert torch.equal(stratified_subsample(labels, 4, 200, seed=3), chosen)
    assert not torch.equal(stratified_subsample(labels, 4, 200, seed=4), chosen)


def test_budget_subsamples_with_a_warning_and_the_seed():
    features, labels = blobs(120, 10, 3, seed=6, spread=2.0)
    with pytest.warns(TransferabilityWarning, match="subsample of 60 of 120"):
        first = parc(features, labels, budget=60, seed=0, device="cpu")
    with pytest.warns(TransferabilityWarning):
        assert parc(features, labels, budget=60, seed=0, device="cpu") == pytest.approx(first, abs=1e-9)
        assert abs(parc(features, labels, budget=60, seed=1, device="cpu") - first) > 1  # other samples: 21.1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parc(features, labels, budget=120, device="cpu") == pytest.approx(parc_numpy(features, labels))


def test_numerically_null_components_are_dropped_not_standardised():
    # 20 samples in 30 dims: the centred data has rank 19, so the 20th component is rounding noise.
    features, labels = blobs(20, 30, 2, seed=7)
    padded = np.concatenate([features, np.full((20, 5), 3.0)], axis=1)  # constant columns change nothing
    reference = parc(features, labels, device="cpu")
    assert parc(padded, labels, device="cpu") == pytest.approx(reference, abs=1e-8)
    assert reference == pytest.approx(parc_numpy(features, labels), abs=1e-8)


def test_a_sample_at_the_centre_is_left_out_with_a_warning():
    points = np.random.default_rng(0).integers(-5, 6, (8, 3)).astype(float)
    # a 9th point makes the mean exactly 0, and a 10th sits on it: its standardised row is constant
    features = np.concatenate([points, -points.sum(axis=0, keepdims=True), np.zeros((1, 3))])
    labels = np.arange(10) % 2
    with pytest.warns(TransferabilityWarning, match="left out 1 samples"):
        score = parc(features, labels, device="cpu")
    assert np.isfinite(score)
    assert score == pytest.approx(parc_numpy(features, labels), abs=1e-9)


def test_single_sample_class_and_float16_give_finite_scores():
    features, labels = blobs(40, 6, 3, seed=8)
    labels[0] = 9
    assert np.isfinite(parc(features, labels, device="cpu"))
    assert np.isfinite(parc(features.astype(np.float16), labels, device="cpu"))


def test_degenerate_inputs_give_clear_errors():
    features, labels = blobs(12, 5, 3, seed=9)
    with pytest.raises(DegenerateInputError, match="at least 2 classes"):
        parc(features, np.zeros(12), device="cpu")
    with pytest.raises(DegenerateInputError, match="at least 2 principal directions"):
        parc(np.ones((12, 5)), labels, device="cpu")
    with pytest.raises(DegenerateInputError, match="its own class"):
        parc(features, np.arange(12), device="cpu")
    with pytest.raises(MetricInputError, match="budget"):
        parc(features, labels, budget=2, device="cpu")


def test_does_not_mutate_inputs():
    features, labels = blobs(30, 5, 3, seed=10)
    before = features.copy()
    with pytest.warns(TransferabilityWarning, match="subsample"):
        parc(features, labels, budget=20, device="cpu")
    assert np.array_equal(features, before)
