"""Seeded subsamples: per-class quotas (hand-derived), proportions, determinism, regression draws."""

import numpy as np
import pytest

from transfer_core.data import DatasetError
from transfer_core.data.subsample import class_quotas, nested_slices, subsample_indices


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


def test_nested_slices_grow_keep_class_proportions_and_end_with_everything():
    labels = np.repeat(np.array(["a", "b", "c"]), [600, 300, 100])
    np.random.default_rng(1).shuffle(labels)
    slices = nested_slices(len(labels), (0.15, 0.4, 1.0), seed=7, labels=labels)
    assert [len(part) for part in slices] == [150, 400, 1000]
    assert dict(zip(*np.unique(labels[slices[0]], return_counts=True))) == {"a": 90, "b": 45, "c": 15}
    for smaller, larger in zip(slices, slices[1:]):
        assert np.isin(smaller, larger).all()
    assert slices[-1].tolist() == list(range(1000))
    assert all(np.array_equal(a, b) for a, b in zip(slices, nested_slices(1000, (0.15, 0.4, 1.0), 7, labels)))


def test_nested_slices_keep_every_class_and_stay_nested_where_quotas_would_shrink():
    labels = np.array([0] * 7 + [1] * 2 + [2])  # a tiny class: at least one image from the first slice on
    slices = nested_slices(10, (0.1, 0.3, 0.5, 0.7, 1.0), seed=0, labels=labels)
    assert all(set(labels[part]) == {0, 1, 2} for part in slices)
    for smaller, larger in zip(slices, slices[1:]):
        assert np.isin(smaller, larger).all()


def test_nested_slices_for_regression_are_prefixes_of_one_shuffle():
    slices = nested_slices(20, (0.25, 0.5, 1.0), seed=3)
    assert [len(part) for part in slices] == [5, 10, 20] and np.isin(slices[0], slices[1]).all()


@pytest.mark.parametrize("fractions", [(), (0.0, 1.0), (0.5, 0.2), (0.5, 1.5)])
def test_nested_slices_refuse_fractions_that_do_not_grow_within_one(fractions):
    with pytest.raises(DatasetError, match="slice fractions"):
        nested_slices(10, fractions, seed=0)
