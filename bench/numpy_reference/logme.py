"""LogME in plain NumPy, one target column at a time (the structure of thuml/LogME's fixed-point fit).

Same formula and stopping rule as ``transfer_core.metrics.logme`` (see metrics-spec.md), including the
log-determinant over all D eigenvalues of FᵀF.
"""

from __future__ import annotations

import numpy as np


def _column_evidence(u: np.ndarray, sigma: np.ndarray, y: np.ndarray, d: int) -> float:
    n = y.shape[0]
    x2 = (u.T @ y) ** 2
    outside = y @ y - x2.sum()
    alpha, beta = 1.0, 1.0
    for _ in range(11):
        t = alpha / beta
        gamma = np.sum(sigma / (sigma + t))
        m2 = np.sum(sigma * x2 / (t + sigma) ** 2)
        res2 = np.sum(x2 / (1 + sigma / t) ** 2) + outside
        alpha = gamma / (m2 + 1e-5)
        beta = (n - gamma) / (res2 + 1e-5)
        if abs(alpha / beta - t) / t <= 1e-3:
            break
    log_det = np.sum(np.log(alpha + beta * sigma)) + (d - sigma.shape[0]) * np.log(alpha)
    return (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - log_det / 2
            - beta / 2 * res2 - alpha / 2 * m2 - n / 2 * np.log(2 * np.pi))


def logme(features, labels=None, *, targets=None) -> float:
    """Mean over one-vs-all classes (``labels``) or target columns (``targets``) of evidence / N."""
    f = np.asarray(features, dtype=np.float64)
    n, d = f.shape
    if labels is not None:
        classes = np.unique(labels)
        columns = (np.asarray(labels)[:, None] == classes[None, :]).astype(np.float64)
    else:
        columns = np.asarray(targets, dtype=np.float64).reshape(n, -1)
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    return float(np.mean([_column_evidence(u, s**2, column, d) for column in columns.T]) / n)
