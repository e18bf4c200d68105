"""NCE in plain NumPy (Tran et al., ICCV 2019): the formula of ``transfer_core.metrics.nce``."""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy


def nce(source_probs: np.ndarray, labels: np.ndarray) -> float:
    """−H(Y | Z) with z = argmax θ, from the joint counts of (z, y); empty source classes are skipped."""
    theta = np.asarray(source_probs, dtype=np.float64)
    _, y = np.unique(labels, return_inverse=True)
    num_classes = y.max() + 1
    z = theta.argmax(axis=1)
    counts = np.bincount(z * num_classes + y, minlength=theta.shape[1] * num_classes).reshape(-1, num_classes)
    per_source = counts.sum(axis=1)
    observed = per_source > 0
    conditional = counts[observed] / per_source[observed, None]
    return float(np.sum(per_source[observed] / y.shape[0] * xlogy(conditional, conditional).sum(axis=1)))
