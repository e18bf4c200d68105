"""Seeded, deterministic subsamples: per-class proportional for labels, uniform for regression targets."""

from __future__ import annotations

import numpy as np

from .errors import DatasetError


def class_quotas(counts: np.ndarray, limit: int) -> np.ndarray:
    """How many items to draw from each class: proportional to ``counts`` (largest remainder), at least one each.

    >>> class_quotas(np.array([1000, 500, 500]), 300).tolist()
    [150, 75, 75]
    """
    counts = np.asarray(counts, dtype=np.int64)
    if limit < len(counts):
        raise DatasetError(f"limit {limit} is smaller than the number of classes ({len(counts)}): a subsample needs "
                           f"at least one image per class, so use a limit of at least {len(counts)}")
    exact = counts * (limit / counts.sum())
    quota = np.maximum(np.floor(exact).astype(np.int64), 1)
    while (gap := limit - int(quota.sum())) != 0:  # at most one step per class
        step = 1 if gap > 0 else -1
        room = quota < counts if step > 0 else quota > 1
        quota[np.argmax(np.where(room, (exact - quota) * step, -np.inf))] += step
    return quota


def subsample_indices(size: int, limit: int | None, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
    """Sorted indices of a seeded subsample of ``limit`` of ``size`` items (all of them when ``limit`` is None or
    not smaller than ``size``). With ``labels`` the classes keep their proportions; without, items are drawn
    uniformly."""
    if limit is None or limit >= size:
        return np.arange(size)
    if labels is None:
        return np.sort(np.random.default_rng(seed).choice(size, size=limit, replace=False))
    codes, counts, rank_in_class = _shuffled_within_classes(size, seed, labels)
    return np.flatnonzero(rank_in_class < class_quotas(counts, limit)[codes])


def nested_slices(size: int, fractions: tuple[float, ...], seed: int, labels: np.ndarray | None = None,
                  ) -> list[np.ndarray]:
    """Growing, nested, seeded subsets (sorted indices) holding about ``fractions`` of the ``size`` items, each class
    keeping its proportion (at least one image per class) when ``labels`` are given; a fraction of 1 is every item.

    >>> [part.tolist() for part in nested_slices(6, (0.5, 1.0), seed=0, labels=np.array([0, 0, 0, 1, 1, 1]))]
    [[1, 2, 3], [0, 1, 2, 3, 4, 5]]
    """
    if not fractions or any(not 0 < f <= 1 for f in fractions) or list(fractions) != sorted(fractions):
        raise DatasetError(f"slice fractions must increase within (0, 1], got {fractions}")
    if labels is None:
        order = np.random.default_rng(seed).permutation(size)
        return [np.sort(order[: max(1, round(f * size))]) for f in fractions]
    codes, counts, rank_in_class = _shuffled_within_classes(size, seed, labels)
    quota = np.zeros_like(counts)
    slices = []
    for fraction in fractions:  # never fewer per class than the slice before: the slices stay nested
        quota = np.maximum(quota, class_quotas(counts, max(len(counts), round(fraction * size))))
        slices.append(np.flatnonzero(rank_in_class < quota[codes]))
    return slices


def _shuffled_within_classes(size: int, seed: int, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each item's class code, the class counts, and each item's position in a seeded shuffle of its class."""
    rng = np.random.default_rng(seed)
    _, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    order = np.lexsort((rng.random(size), codes))  # grouped by class, shuffled within each class
    rank_in_class = np.empty(size, dtype=np.int64)
    rank_in_class[order] = np.arange(size) - np.repeat(np.cumsum(counts) - counts, counts)
    return codes, counts, rank_in_class
