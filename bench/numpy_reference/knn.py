"""Leave-one-out 1-NN accuracy with scikit-learn: the baseline of ``transfer_core.metrics.knn``."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors


def knn(features: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of samples whose nearest other sample (Euclidean) has the same label.

    Asks for the 2 nearest neighbours of each sample and keeps the one that is not the sample itself
    (with exact duplicates the sample need not come first). Ties follow scikit-learn's order.
    """
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    _, indices = NearestNeighbors(n_neighbors=2).fit(features).kneighbors(features)
    itself = np.arange(features.shape[0])
    other = np.where(indices[:, 0] == itself, indices[:, 1], indices[:, 0])
    return float(np.mean(labels[other] == labels))
