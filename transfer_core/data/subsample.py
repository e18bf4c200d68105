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
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.choice(size, size=limit, replace=False))
    _, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    order = np.lexsort((rng.random(size), codes))  # grouped by class, shuffled within each class
    rank_in_class = np.empty(size, dtype=np.int64)
    rank_in_class[order] = np.arange(size) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.flatnonzero(rank_in_class < class_quotas(counts, limit)[codes])
