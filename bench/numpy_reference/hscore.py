"""H-score in plain NumPy: covariances with ``np.cov`` (ddof 1) and ``np.linalg.pinv`` (rcond 1e-15)."""

from __future__ import annotations

import numpy as np


def class_mean_rows(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """G: each row replaced by the mean of its class."""
    classes, inverse = np.unique(labels, return_inverse=True)
    one_hot = (inverse.reshape(-1)[:, None] == np.arange(len(classes))[None, :]).astype(np.float64)
    means = (one_hot.T @ features) / one_hot.sum(axis=0)[:, None]
    return means[inverse.reshape(-1)]


def hscore(features, labels) -> float:
    f = np.asarray(features, dtype=np.float64)
    cov_f = np.cov(f, rowvar=False)
    cov_g = np.cov(class_mean_rows(f, np.asarray(labels)), rowvar=False)
    return float(np.trace(np.linalg.pinv(np.atleast_2d(cov_f), rcond=1e-15) @ np.atleast_2d(cov_g)))
