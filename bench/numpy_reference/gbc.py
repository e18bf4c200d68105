"""GBC in plain NumPy / scikit-learn (Pándy et al., CVPR 2022): the benchmark's baseline.

Loops over ordered class pairs as google-research ``stable_transfer/transferability/gbc.py`` does.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA


def bhattacharyya_distance(mu1, mu2, var1, var2) -> float:
    """⅛ Σ (μ1 − μ2)² / σ̄ + ½ (Σ log σ̄ − ½ Σ log σ1 − ½ Σ log σ2), σ̄ = (σ1 + σ2) / 2."""
    average = (var1 + var2) / 2
    separation = np.sum((mu1 - mu2) ** 2 / average) / 8
    spread = np.sum(np.log(average)) - 0.5 * np.sum(np.log(var1)) - 0.5 * np.sum(np.log(var2))
    return float(separation + 0.5 * spread)


def gbc(features: np.ndarray, labels: np.ndarray, gaussian: str = "spherical") -> float:
    """−Σ over ordered class pairs of exp(−BD); PCA to 64 dims when min(N, D) ≥ 64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim == 1:
        features = features[:, None]
    if min(features.shape) >= 64:
        features = PCA(n_components=64, svd_solver="full").fit_transform(features)
    classes = np.unique(labels)
    stats = {}
    for c in classes:
        members = features[labels == c]
        variance = np.maximum(members.var(axis=0), 1e-4)
        stats[c] = (members.mean(axis=0), variance.mean() if gaussian == "spherical" else variance)
    total = 0.0
    for c1 in classes:
        for c2 in classes:
            if c1 != c2:
                total += np.exp(-bhattacharyya_distance(stats[c1][0], stats[c2][0], stats[c1][1], stats[c2][1]))
    return -total
