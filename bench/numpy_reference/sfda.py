"""SFDA in plain NumPy / scikit-learn (Shao et al., ECCV 2022): the benchmark's baseline.

Same formula and stopping rule as :mod:`transfer_core.metrics.sfda`: class-by-class scatter as in the
TencentARC/SFDA reference, three power-iteration steps for λ, scikit-learn's shrinkage LDA (lsqr solver,
whose shrunk per-class covariances weighted by the priors equal (1 − λ) S_w + λ tr(S_w)/D I).
"""

from __future__ import annotations

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis


def top_eigenvalue_estimate(matrix: np.ndarray, steps: int = 3) -> float:
    """x = A·1, then ``steps`` times y = Ax/‖Ax‖, x = Ay/‖Ay‖; returns xᵀAy (exact value if A·1 ≈ 0)."""
    x = matrix.sum(axis=1)
    if np.linalg.norm(x) <= np.linalg.norm(matrix) * matrix.shape[0] * np.finfo(float).eps:
        return float(max(np.linalg.eigvalsh(matrix)[-1], 0.0))
    for _ in range(steps):
        y = matrix @ x
        y /= np.linalg.norm(y)
        x = matrix @ y
        x /= np.linalg.norm(x)
    return float(x @ matrix @ y)


def within_class_scatter(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """S_w = Σ_c π_c cov(X_c) with ddof 0, one class at a time."""
    scatter = np.zeros((features.shape[1], features.shape[1]))
    for label in np.unique(labels):
        members = features[labels == label]
        scatter += len(members) / len(labels) * np.atleast_2d(np.cov(members.T, bias=True))
    return scatter


def adaptive_shrinkage(features: np.ndarray, labels: np.ndarray) -> float:
    """λ = max(exp(−5 λ_max(S_w)), 1e-10)."""
    return max(float(np.exp(-5.0 * top_eigenvalue_estimate(within_class_scatter(features, labels)))), 1e-10)


def lda_posterior(features: np.ndarray, labels: np.ndarray, shrinkage: float) -> np.ndarray:
    """In-sample p(c | x) of scikit-learn's shrinkage LDA with the empirical priors."""
    priors = np.bincount(labels) / len(labels)
    model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage, priors=priors)
    return model.fit(features, labels).predict_proba(features)


def sfda(features: np.ndarray, labels: np.ndarray) -> float:
    """SFDA score in [0, 1]; ``features`` is not modified."""
    features = np.array(features, dtype=np.float64)
    _, labels = np.unique(labels, return_inverse=True)
    shrinkage = adaptive_shrinkage(features, labels)
    softened = np.exp(lda_posterior(features, labels, shrinkage))
    softened /= softened.sum(axis=1, keepdims=True)
    means = np.stack([features[labels == c].mean(axis=0) for c in range(labels.max() + 1)])
    for c in range(len(means)):
        members = labels == c
        others = (means.sum(axis=0) - means[c]) / (len(means) - 1)
        weight = softened[members, c][:, None]
        features[members] = weight * features[members] + (1 - weight) * others
    refit = lda_posterior(features, labels, shrinkage)
    return float(refit[np.arange(len(labels)), labels].mean())
