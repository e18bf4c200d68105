"""PED in plain NumPy (Li et al., ICCV 2023): the benchmark's baseline, SFDA from bench/numpy_reference/sfda.py.

The loop structure of lixiaotong97/PED ``PED_Score``: standardise, then per step a Python loop over class pairs
i < j that pushes overlapping classes apart, the samples themselves moved; the step whose movement falls to half
of the first step's is discarded, at most 6 kept; un-standardise and score.
"""

from __future__ import annotations

import numpy as np

from bench.numpy_reference.sfda import sfda


def simulate(z: np.ndarray, labels: np.ndarray, nsigma: float = 0.6, time_step: float = 0.1) -> tuple[np.ndarray, int]:
    """The moved standardised samples and the number of steps kept."""
    classes = np.unique(labels)
    radii = np.array([np.sqrt(z[labels == c].var(axis=0).sum()) for c in classes])
    first, kept = None, 0
    for _ in range(6):
        means = np.stack([z[labels == c].mean(axis=0) for c in classes])
        move = np.zeros_like(means)
        for i in range(len(classes)):
            for j in range(i + 1, len(classes)):
                direction = means[i] - means[j]
                distance = np.linalg.norm(direction)
                overlap = max(nsigma * (radii[i] + radii[j]) - distance, 0.0)
                if distance == 0 or overlap == 0:
                    continue
                step = min(0.5 * time_step**2 * overlap, overlap) * direction / distance
                move[i] += step
                move[j] -= step
        displacement = move[np.searchsorted(classes, labels)]
        movement = np.linalg.norm(displacement, axis=1).sum()
        first = movement if first is None else first
        if movement == 0 or movement / first <= 0.5:
            break
        z, kept = z + displacement, kept + 1
    return z, kept


def ped(features: np.ndarray, labels: np.ndarray, general_features: np.ndarray | None = None) -> float:
    """PED with SFDA as the base metric; standardised by ``general_features`` (else the features themselves)."""
    features = np.asarray(features, dtype=np.float64)
    sample = features if general_features is None else np.asarray(general_features, dtype=np.float64)
    mean, std = sample.mean(axis=0), np.maximum(sample.std(axis=0), 1e-3)
    moved, _ = simulate((features - mean) / std, np.asarray(labels))
    return sfda(moved * std + mean, labels)
