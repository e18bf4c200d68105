"""Shrinkage H-score in plain NumPy with scikit-learn's ``LedoitWolf`` covariance."""

from __future__ import annotations

import numpy as np
from sklearn.covariance import LedoitWolf

from bench.numpy_reference.hscore import class_mean_rows


def hscore_shrinkage(features, labels) -> float:
    f = np.asarray(features, dtype=np.float64)
    f = f - f.mean(axis=0, keepdims=True)
    estimator = LedoitWolf().fit(f)
    cov_g = np.atleast_2d(np.cov(class_mean_rows(f, np.asarray(labels)), rowvar=False))
    return float(np.trace(np.linalg.pinv(estimator.covariance_, rcond=1e-15) @ ((1 - estimator.shrinkage_) * cov_g)))
