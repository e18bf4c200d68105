"""ETran's components in plain NumPy / scikit-learn (Gholami et al., ICCV 2023): the benchmark's baseline.

``etran.lda`` is SFDA's first stage with scikit-learn's shrinkage LDA (bench/numpy_reference/sfda.py);
``etran.energy`` sorts SciPy's per-sample logsumexp and averages the lowest max(1, ⌊5N/1000⌋).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from bench.numpy_reference.sfda import adaptive_shrinkage, lda_posterior


def etran(features: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """``{"etran.lda", "etran.energy"}`` of one model; the inputs are not modified."""
    features = np.asarray(features, dtype=np.float64)
    _, labels = np.unique(labels, return_inverse=True)
    posterior = lda_posterior(features, labels, adaptive_shrinkage(features, labels))
    energies = np.sort(logsumexp(features, axis=1))
    return {"etran.lda": float(posterior[np.arange(len(labels)), labels].mean()),
            "etran.energy": float(energies[: max(1, 5 * len(features) // 1000)].mean())}
