"""PARC with NumPy / SciPy / scikit-learn (Bolya et al., NeurIPS 2021): the rules of
``transfer_core.metrics.parc`` (exact PCA to 32 dims with scikit-learn's component-based sign, components with
numerically zero variance dropped, constant rows left out, class-stratified subsample above ``budget``).

Unlike dbolya/parc, the label dissimilarities are rounded before ranking (see ``parc``): the reference's
rounding noise breaks their ties and shifts its score (by 0.2 on 30 samples, for example).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.preprocessing import StandardScaler
from sklearn.utils.extmath import svd_flip

PCA_DIM = 32
COMPONENT_TOLERANCE = 1e-7
ROW_TOLERANCE = 1e-10


def stratified_subsample(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices: ⌊n_c · size / N⌋ per class plus one for the largest remainders, drawn by a seeded
    NumPy generator (the same allocation as the torch version, a different random draw)."""
    n = labels.shape[0]
    counts = np.bincount(labels)
    take = counts * size // n
    favoured = np.argsort(-(counts * size % n), kind="stable")[: size - take.sum()]
    take[favoured] += 1
    by_class = np.lexsort((np.random.default_rng(seed).random(n), labels))
    position_in_class = np.arange(n) - (np.cumsum(counts) - counts)[labels[by_class]]
    return np.sort(by_class[position_in_class < take[labels[by_class]]])


def parc(features: np.ndarray, labels: np.ndarray, budget: int = 5000, seed: int = 0) -> float:
    """100 · Spearman of the upper triangles of 1 − corrcoef(standardised PCA rows) and 1 − corrcoef(one-hot)."""
    features = np.asarray(features, dtype=np.float64)
    _, y = np.unique(labels, return_inverse=True)
    num_classes = y.max() + 1
    centred = features - features.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    u, _ = svd_flip(u, vt, u_based_decision=False)
    dim = min(PCA_DIM, s.shape[0])
    scores = u[:, :dim] * s[:dim]
    if y.shape[0] > budget:
        chosen = stratified_subsample(y, budget, seed)
        scores, y = scores[chosen], y[chosen]
    spread = scores.std(axis=0)
    rows = StandardScaler().fit_transform(scores[:, spread > COMPONENT_TOLERANCE * spread.max()])
    varying = np.linalg.norm(rows - rows.mean(axis=1, keepdims=True), axis=1) > ROW_TOLERANCE * np.sqrt(rows.shape[1])
    rows, y = rows[varying], y[varying]
    upper = np.triu_indices(rows.shape[0], 1)
    feature_rdm = 1 - np.corrcoef(rows)
    # Rounded: np.corrcoef leaves ~1e-16 noise on the two true values (0 and C/(C − 1)), which would split
    # the massive ties that Spearman's average ranks must see.
    label_rdm = np.round(1 - np.corrcoef(np.eye(num_classes)[y]), 12)
    return float(spearmanr(feature_rdm[upper], label_rdm[upper])[0] * 100)
