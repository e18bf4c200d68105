"""NCTI's components in plain NumPy / scikit-learn (Wang et al., ICCV 2023): the benchmark's baseline.

The recipe of BUserName/NCTI ``NCTI_Score`` with scikit-learn's own estimators: ``PCA(svd_solver="full")`` capped
at min(64, N, D) components, then ``LinearDiscriminantAnalysis`` (svd, or eigen with shrinkage λ) on them.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis


def fitted_lda(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, LinearDiscriminantAnalysis, float]:
    """The principal coordinates, the fitted LDA of NCTI's branch rule and its λ (1e-10: the svd solver)."""
    pca = PCA(n_components=min(64, *features.shape), svd_solver="full")
    x = pca.fit_transform(features)
    shrinkage = max(float(np.exp(-np.sum(pca.explained_variance_[:32]))), 1e-10)
    if shrinkage == 1e-10:
        lda = LinearDiscriminantAnalysis(solver="svd")
    else:
        lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage=shrinkage)
    return x, lda.fit(x, labels), shrinkage


def ncti(features: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """``{"ncti.seli", "ncti.ncc", "ncti.vc"}`` of one model; the inputs are not modified."""
    features = np.asarray(features, dtype=np.float64)
    _, labels = np.unique(labels, return_inverse=True)
    x, lda, _ = fitted_lda(features, labels)
    projection = lda.transform(x)
    probabilities = lda.predict_proba(x)
    class_norms = [np.linalg.norm(probabilities[labels == c], ord="nuc") for c in range(labels.max() + 1)]
    return {"ncti.seli": float(np.linalg.norm(projection - projection.mean(axis=0), ord="nuc")),
            "ncti.ncc": float(probabilities[np.arange(len(labels)), labels].mean()),
            "ncti.vc": float(np.log(np.sum(class_norms)))}
