"""Seeded subsamples: per-class quotas (hand-derived), proportions, determinism, regression draws."""

import numpy as np
import pytest

from transfer_core.data import DatasetError
from transfer_core.data.subsample import class_quotas, subsample_indices


@pytest.mark.parametrize(("counts", "limit", "expected"), [
    ([1000, 500, 500], 1000, [500, 250, 250]),
    ([1000, 500, 500], 300, [150, 75, 75]),
    ([7, 2, 1], 5, [3, 1, 1]),        # exact 3.5, 1, 0.5: floors 3, 1, 0, the empty class raised to 1
    ([98, 1, 1], 4, [2, 1, 1]),       # exact 3.92, .04, .04: floors 3, 0, 0 -> 3, 1, 1 = 5, one taken back from 3
    ([5, 5, 5], 3, [1, 1, 1]),
    ([3, 3, 4], 7, [2, 2, 3]),        # exact 2.1, 2.1, 2.8: floors 2, 2, 2, the largest remainder gets the extra
])
def test_class_quotas_hand_derived(counts, limit, expected):
    assert class_quotas(np.array(counts), limit).tolist() == expected


def test_class_quotas_invariants_on_random_class_sizes():
    rng = np.random.default_rng(0)
    for _ in range(200):
        counts = rng.integers(1, 60, size=rng.integers(2, 9))
        limit = int(rng.integers(len(counts), counts.sum() + 1))
        quota = class_quotas(counts, limit)
        assert quota.sum() == limit
        assert np.all(quota >= 1) and np.all(quota <= counts)
        exact = counts * limit / counts.sum()
        if np.all(exact >= 1):  # no class needed raising to one: plain largest-remainder rounding
            assert np.all(np.abs(quota - exact) < 1)


def test_limit_below_number_of_classes_is_a_clear_error():
    with pytest.raises(DatasetError, match="at least 3"):
        class_quotas(np.array([4, 4, 4]), 2)


def test_stratified_subsample_keeps_proportions_and_is_seeded():
    labels = np.repeat(np.array(["a", "b", "c"]), [600, 300, 100])
    np.random.default_rng(1).shuffle(labels)
    chosen = subsample_indices(len(labels), 100, seed=7, labels=labels)
    assert len(chosen) == 100 and len(np.unique(chosen)) == 100 and np.all(np.diff(chosen) > 0)
    assert dict(zip(*np.unique(labels[chosen], return_counts=True))) == {"a": 60, "b": 30, "c": 10}
    assert np.array_equal(chosen, subsample_indices(len(labels), 100, seed=7, labels=labels))
    assert not np.array_equal(chosen, subsample_indices(len(labels), 100, seed=8, labels=labels))


def test_regression_subsample_is_uniform_without_replacement_and_seeded():
    chosen = subsample_indices(50, 20, seed=3)
    assert len(np.unique(chosen)) == 20 and chosen.min() >= 0 and chosen.max() < 50
    assert np.array_equal(chosen, subsample_indices(50, 20, seed=3))
    assert not np.array_equal(chosen, subsample_indices(50, 20, seed=4))
    draws = np.concatenate([subsample_indices(50, 20, seed=s) for s in range(200)])
    assert np.bincount(draws, minlength=50).min() > 0  # every item can be drawn


def test_no_limit_or_a_limit_at_least_the_size_keeps_everything():
    labels = np.array(["x", "y", "x"])
    assert subsample_indices(3, None, 0, labels).tolist() == [0, 1, 2]
    assert subsample_indices(3, 3, 0, labels).tolist() == [0, 1, 2]
    assert subsample_indices(3, 10, 0).tolist() == [0, 1, 2]
