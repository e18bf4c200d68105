"""TransRate in plain NumPy: direct D × D log-determinants for the whole set and each class."""

from __future__ import annotations

import numpy as np


def coding_rate(z: np.ndarray, eps: float = 1e-4) -> float:
    n, d = z.shape
    _, log_det = np.linalg.slogdet(np.eye(d) + z.T @ z / (n * eps))
    return 0.5 * log_det


def transrate(features, labels, *, pca_dim: int | None = None) -> float:
    z = np.asarray(features, dtype=np.float64)
    z = z - z.mean(axis=0, keepdims=True)
    if pca_dim is not None:
        _, _, vh = np.linalg.svd(z, full_matrices=False)
        z = z @ vh[:pca_dim].T
    labels = np.asarray(labels)
    classes = np.unique(labels)
    return coding_rate(z) - np.mean([coding_rate(z[labels == c]) for c in classes])
