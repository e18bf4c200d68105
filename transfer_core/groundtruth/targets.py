"""Checks shared by the linear probe and fine-tuning: labels → class indices, regression targets → a 2-D matrix."""

from __future__ import annotations

import numpy as np

from transfer_core.groundtruth.errors import GroundTruthError
from transfer_core.groundtruth.result import CLASSIFICATION, REGRESSION


def task_of(labels, targets) -> str:
    """``"classification"`` when labels are given, ``"regression"`` for targets; exactly one must be given."""
    if (labels is None) == (targets is None):
        raise GroundTruthError("give exactly one of labels (classification) or targets (regression)")
    return CLASSIFICATION if labels is not None else REGRESSION


def class_indices(labels, size: int, min_per_class: int) -> tuple[np.ndarray, list]:
    """Labels (any sortable values) → int64 indices 0..C−1 in sorted order, and the sorted class values.

    Needs ``size`` labels, at least two classes and ``min_per_class`` images in every class.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != size:
        raise GroundTruthError(f"expected {size} labels in a 1-D array, got shape {labels.shape}")
    classes, indices, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if len(classes) < 2:
        raise GroundTruthError(f"ground truth needs at least 2 classes, got {len(classes)}")
    if counts.min() < min_per_class:
        scarce = [str(value) for value, count in zip(classes, counts) if count < min_per_class]
        raise GroundTruthError(f"class(es) {', '.join(scarce)} have fewer than {min_per_class} images; ground truth "
                               f"needs at least {min_per_class} per class (add images or drop those classes)")
    return indices.astype(np.int64), classes.tolist()


def target_matrix(targets, size: int) -> np.ndarray:
    """Regression targets ``[N]`` or ``[N, K]`` → finite float64 ``[N, K]`` with no constant column."""
    matrix = np.asarray(targets, dtype=np.float64)
    matrix = matrix[:, None] if matrix.ndim == 1 else matrix
    if matrix.ndim != 2 or len(matrix) != size:
        raise GroundTruthError(f"expected {size} regression targets as [N] or [N, K], got shape {np.shape(targets)}")
    if not np.isfinite(matrix).all():
        raise GroundTruthError("regression targets contain NaN or infinite values")
    if (np.ptp(matrix, axis=0) == 0).any():
        raise GroundTruthError("a regression target column is constant, so R² is undefined; drop that column")
    return matrix
