"""LEEP in plain NumPy (Nguyen et al., ICML 2020): the formula of ``transfer_core.metrics.leep``."""

from __future__ import annotations

import numpy as np


def leep(source_probs: np.ndarray, labels: np.ndarray) -> float:
    """mean_i log Σ_z P(y_i | z) θ_iz; a source class with no mass gets P(y | z) = 0."""
    theta = np.asarray(source_probs, dtype=np.float64)
    _, y = np.unique(labels, return_inverse=True)
    joint = np.eye(y.max() + 1)[y].T @ theta / theta.shape[0]
    marginal = joint.sum(axis=0, keepdims=True)
    conditional = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    return float(np.mean(np.log((theta * conditional[y]).sum(axis=1))))
