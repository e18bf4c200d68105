"""N-LEEP with scikit-learn (the pipeline of google-research ``stable_transfer/transferability/nleep.py``).

Same formula and stopping rule as ``transfer_core.metrics.nleep``: PCA keeping 80 % of the variance
(exact SVD), a ``GaussianMixture`` with 5·C full-covariance components (capped at N/2), reg_covar 1e-6,
tol 1e-3, at most 100 EM iterations, k-means initialisation from ``random_state``, then LEEP on the
posteriors. The k-means seeding uses NumPy's random stream, so per-seed scores differ from the torch
version's; the benchmark times this as the baseline.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture


def leep_numpy(theta: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    """mean_i log Σ_z P(y_i | z) θ_iz with P(y, z) the label-θ joint (empty z contribute nothing)."""
    joint = np.eye(num_classes)[labels].T @ theta / theta.shape[0]
    marginal = joint.sum(axis=0, keepdims=True)
    conditional = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    return float(np.mean(np.log(np.sum(theta * conditional[labels], axis=1))))


def nleep(features: np.ndarray, labels: np.ndarray, *, seed: int = 0, seeds: int = 1) -> float:
    """N-LEEP averaged over ``random_state`` = seed .. seed + seeds - 1."""
    classes, indices = np.unique(labels, return_inverse=True)
    reduced = PCA(n_components=0.8, svd_solver="full").fit_transform(np.asarray(features, dtype=np.float64))
    components = min(5 * len(classes), max(1, reduced.shape[0] // 2))
    scores = []
    for random_state in range(seed, seed + seeds):
        mixture = GaussianMixture(components, covariance_type="full", reg_covar=1e-6, tol=1e-3, max_iter=100,
                                  init_params="kmeans", random_state=random_state).fit(reduced)
        scores.append(leep_numpy(mixture.predict_proba(reduced), indices.reshape(-1), len(classes)))
    return float(np.mean(scores))
