"""Prepared.subset: a resampled subset shares the full inputs' validation and Gram matrices and scores exactly as
the same rows prepared afresh."""

import warnings

import numpy as np
import pytest

from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.suite import score_suite

METRICS = ["logme", "sfda", "gbc", "hscore", "hscore_shrinkage", "transrate", "parc", "knn", "disco", "leep", "nce"]


def pool(n: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 3)
    features = rng.normal(size=(n, d)) + 1.5 * rng.normal(size=(3, d))[labels] + 4.0  # an offset, as real features
    probs = rng.dirichlet(np.ones(5), size=n)
    return features, labels, probs


def scores(prepared) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {name: outcome.value for name, outcome in score_suite(prepared, METRICS).items()}


@pytest.mark.parametrize("n, d", [(60, 200), (120, 20)])  # spectra from Gram sub-blocks (N < D), and without
def test_every_metric_on_a_subset_equals_the_same_rows_prepared_afresh(n, d):
    features, labels, probs = pool(n, d)
    rows = np.sort(np.random.default_rng(1).choice(n, size=int(0.8 * n), replace=False))
    full = prepare(features, labels, source_probs=probs, device="cpu")
    shared = scores(full.subset(rows))
    fresh = scores(prepare(features[rows], labels[rows], source_probs=probs[rows], device="cpu"))
    assert set(shared) == set(METRICS) and all(value is not None for value in fresh.values())
    for name in METRICS:
        assert shared[name] == pytest.approx(fresh[name], rel=1e-8, abs=1e-10), name


def test_subset_spectrum_from_a_gram_block_reproduces_the_subsets_gram_matrix():
    features, labels, _ = pool(60, 200)
    rows = np.arange(0, 60, 2)
    part = prepare(features, labels, device="cpu").subset(rows)
    centred = features[rows] - features[rows].mean(axis=0)
    scores_ = part.centered_spectrum.scores.numpy()
    gram = centred @ centred.T
    np.testing.assert_allclose(scores_ @ scores_.T, gram, rtol=0, atol=1e-10 * np.abs(gram).max())


def test_a_subset_that_leaves_a_class_out_numbers_the_remaining_classes_again():
    features, labels, _ = pool(30, 5)
    rows = np.flatnonzero(labels != 1)
    part = prepare(features, labels, device="cpu").subset(rows)
    assert part.num_classes == 2 and list(part.classes) == [0, 2]
    assert part.labels.tolist() == [0 if label == 0 else 1 for label in labels[rows]]
