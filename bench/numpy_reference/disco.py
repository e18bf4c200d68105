"""DISCO in plain NumPy / scikit-learn (Zhang et al., AAAI 2025): the benchmark's baseline.

Same definition as :mod:`transfer_core.metrics.disco`: NumPy SVD of the centred features, equal groups of
consecutive components, scikit-learn's shrinkage LDA per group (classification) or least squares with a
bias column (regression).
"""

from __future__ import annotations

import numpy as np

from bench.numpy_reference.sfda import adaptive_shrinkage, lda_posterior


def spectral_groups(features: np.ndarray, groups: int):
    """Per group: coordinates U_g S_g of its non-zero components, and its S_ratio weight."""
    centred = features - features.mean(axis=0)
    left, values, _ = np.linalg.svd(centred, full_matrices=False)
    scores = left * values
    peak = np.abs(scores).argmax(axis=0)
    scores *= np.where(scores[peak, np.arange(scores.shape[1])] < 0, -1.0, 1.0)
    values = np.where(values > values[0] * np.sqrt(len(values) * np.finfo(float).eps), values, 0.0)
    indices = np.array_split(np.arange(len(values)), min(groups, len(values)))
    blocks = [scores[:, index[values[index] > 0]] for index in indices]
    ratios = np.array([values[index].sum() for index in indices]) / values.sum()
    return blocks, ratios


def group_score(block: np.ndarray, labels=None, targets=None) -> float:
    """S_ncc (mean true-class posterior, chance Σ π² for an empty group) or S_lr = −MSE."""
    if labels is not None:
        if block.shape[1] == 0:
            return float(np.sum((np.bincount(labels) / len(labels)) ** 2))
        posterior = lda_posterior(block, labels, adaptive_shrinkage(block, labels))
        return float(posterior[np.arange(len(labels)), labels].mean())
    design = np.hstack([np.ones((len(targets), 1)), block])
    solution = np.linalg.lstsq(design, targets, rcond=None)[0]
    return float(-np.mean((targets - design @ solution) ** 2))


def disco_parts(features, labels=None, *, targets=None, groups: int = 8):
    """(ratios, scores) per spectral group."""
    blocks, ratios = spectral_groups(np.asarray(features, dtype=np.float64), groups)
    if labels is not None:
        labels = np.unique(labels, return_inverse=True)[1]
    else:
        targets = np.asarray(targets, dtype=np.float64).reshape(len(blocks[0]), -1)
        targets = (targets - targets.mean(axis=0)) / targets.std(axis=0)
    return ratios, np.array([group_score(block, labels, targets) for block in blocks])


def disco(features, labels=None, *, targets=None, groups: int = 8) -> float:
    """Σ_g S_ratio^g · S_g."""
    ratios, scores = disco_parts(features, labels, targets=targets, groups=groups)
    return float(ratios @ scores)
