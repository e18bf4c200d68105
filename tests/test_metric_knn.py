"""Leave-one-out 1-NN accuracy: hand cases with ties, block sizes, scikit-learn agreement, invariances."""

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from bench.numpy_reference.knn import knn as knn_numpy
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError
from transfer_core.metrics.knn import knn, nearest_other
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import REGISTRY


def blobs(n, d, classes, seed, spread=1.0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    return rng.normal(size=(classes, d))[labels] + spread * rng.normal(size=(n, d)), labels


# Points on a line (exact in float64): 0 ↔ 1 at distance 1, 1 is equally far (1) from 0 and 2, 3 is far away.
LINE = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [10.0, 0.0]])
LINE_NEAREST = [1, 0, 1, 2]  # sample 1's tie goes to the lower index 0


@pytest.mark.parametrize("rows_per_block", [1, 2, 3, 4])
def test_hand_neighbours_and_tie_rule_for_every_block_size(rows_per_block):
    assert nearest_other(torch.tensor(LINE), rows_per_block).tolist() == LINE_NEAREST


def test_hand_accuracy():
    # labels (0, 1, 1, 1): sample 0 → 1 wrong, 1 → 0 (tie) wrong, 2 → 1 right, 3 → 2 right.
    assert knn(LINE, [0, 1, 1, 1], device="cpu") == 0.5
    # labels (0, 0, 1, 1): 0 → 1 right, 1 → 0 right, 2 → 1 wrong, 3 → 2 right.
    assert knn(LINE, [0, 0, 1, 1], device="cpu") == 0.75


def test_duplicates_find_each_other_never_themselves():
    features = np.array([[3.0, 4.0], [3.0, 4.0], [0.0, 0.0]])
    assert nearest_other(torch.tensor(features), 1).tolist() == [1, 0, 0]
    assert knn(features, [0, 1, 1], device="cpu") == 0.0


def test_block_sizes_give_identical_neighbours():
    features, labels = blobs(67, 12, 5, seed=0, spread=2.0)
    tensor = torch.tensor(features)
    whole = nearest_other(tensor, 67)
    for rows_per_block in (1, 10, 33, 66):
        assert torch.equal(nearest_other(tensor, rows_per_block), whole)
    scores = {knn(features, labels, rows_per_block=rows, device="cpu") for rows in (1, 13, 67, 1000)}
    assert len(scores) == 1


def test_neighbours_match_scikit_learn():
    features, _ = blobs(300, 20, 4, seed=1, spread=1.5)
    _, indices = NearestNeighbors(n_neighbors=2, algorithm="brute").fit(features).kneighbors(features)
    assert indices[:, 0].tolist() == list(range(300))  # no duplicates, so sklearn returns self first
    assert nearest_other(torch.tensor(features), 37).tolist() == indices[:, 1].tolist()


def test_neighbours_from_a_shifted_gram_matrix_match_scikit_learn_for_every_block_size():
    features, labels = blobs(90, 150, 3, seed=2, spread=1.5)
    _, indices = NearestNeighbors(n_neighbors=2, algorithm="brute").fit(features).kneighbors(features)
    shifted = torch.tensor(features - features[:40].mean(axis=0))  # centred on other rows' mean, as a subset's block
    for rows_per_block in (7, 90):
        assert nearest_other(torch.tensor(features), rows_per_block, shifted @ shifted.T).tolist() == \
            indices[:, 1].tolist()
    rows = np.arange(0, 90, 2)  # a resampled subset with fewer images than dimensions reads its Gram block
    part = prepare(features, labels, device="cpu").subset(rows)
    assert part.gram_block is not None
    nearest = NearestNeighbors(n_neighbors=1).fit(features[rows]).kneighbors()[1][:, 0]
    assert REGISTRY["knn"].function(part) == pytest.approx(np.mean(labels[rows][nearest] == labels[rows]), abs=1e-12)


@pytest.mark.parametrize("n, d, classes, spread", [(200, 8, 3, 2.0), (120, 300, 10, 3.0), (400, 2, 6, 0.5)])
def test_agrees_with_numpy_reference(n, d, classes, spread):
    features, labels = blobs(n, d, classes, seed=n, spread=spread)
    score = knn(features, labels, device="cpu")
    assert 0.0 < score < 1.0
    assert score == knn_numpy(features, labels)


def test_invariant_to_relabelling_reordering_and_rigid_motions():
    features, labels = blobs(150, 6, 4, seed=2, spread=2.0)
    reference = knn(features, labels, device="cpu")
    assert knn(features, np.array([2, 0, 3, 1])[labels], device="cpu") == reference
    order = np.random.default_rng(0).permutation(150)
    assert knn(features[order], labels[order], device="cpu") == reference
    rotation, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(6, 6)))
    assert knn(features @ rotation + 100.0, labels, device="cpu") == reference


def test_single_sample_class_and_float16_give_finite_scores():
    features, labels = blobs(50, 5, 3, seed=3)
    labels[0] = 7  # a class with one sample can never be matched
    assert 0.0 <= knn(features, labels, device="cpu") < 1.0
    assert np.isfinite(knn(features.astype(np.float16), labels, device="cpu"))


def test_bad_and_degenerate_inputs_give_clear_errors():
    features, _ = blobs(10, 3, 2, seed=4)
    with pytest.raises(DegenerateInputError, match="at least 2 classes"):
        knn(features, np.zeros(10), device="cpu")
    with pytest.raises(MetricInputError, match="rows_per_block"):
        knn(features, np.arange(10) % 2, rows_per_block=0, device="cpu")
    with pytest.raises(MetricInputError, match="non-finite"):
        knn(np.where(np.eye(10, 3) > 0, np.nan, features), np.arange(10) % 2, device="cpu")
