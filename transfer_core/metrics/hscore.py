"""H-score: how much of the feature variance lies between class means (Bao et al., ICIP 2019)."""

from __future__ import annotations

import warnings

import torch

from transfer_core.metrics.errors import TransferabilityWarning
from transfer_core.metrics.inputs import require_classes
from transfer_core.metrics.prepared import Prepared, prepare
from transfer_core.metrics.registry import CLASSIFICATION, register

PINV_RCOND = 1e-15


def prepared_for_hscore(features, labels, device, metric: str) -> Prepared:
    """Validated features and labels with at least two classes."""
    data = prepare(features, labels, device=device)
    data.require("features", "labels")
    require_classes(data.num_classes, metric)
    return data


def principal_scatter(data: Prepared) -> tuple[torch.Tensor, torch.Tensor]:
    """Total and between-class scatter along each principal direction v_i of the centred features.

    Returns ``(s_i², b_i)`` with s_i² = (N−1)·v_iᵀ Cov(F) v_i and b_i = (N−1)·v_iᵀ Cov(G) v_i, G_j the
    mean of F over the class of sample j. Both H-scores are traces tr(pinv(Σ) Cov G) with Σ diagonal in
    this basis and Cov G zero outside the span of the v_i, so these diagonals are all they need; they
    come from the shared centred spectrum without any D × D matrix.
    """
    spectrum = data.centered_spectrum
    class_means = (data.one_hot.T @ spectrum.scores) / data.class_counts[:, None]
    offsets = class_means - spectrum.scores.mean(dim=0)
    between = (data.class_counts[:, None] * offsets.square()).sum(dim=0)
    return spectrum.singular_values.square(), between


def pinv_diagonal(eigenvalues: torch.Tensor) -> torch.Tensor:
    """Pseudo-inverse of a diagonal PSD matrix with NumPy's rule: drop values ≤ rcond · largest."""
    keep = eigenvalues > PINV_RCOND * eigenvalues.max()
    return torch.where(keep, 1 / torch.where(keep, eigenvalues, torch.ones_like(eigenvalues)), 0.0)


@register("hscore", tasks=(CLASSIFICATION,),
          meaning="How far apart the class averages are compared with the overall spread of the features "
                  "(at most the number of classes minus one).",
          citation="Bao et al., An Information-Theoretic Approach to Transferability in Task Transfer Learning, "
                   "ICIP 2019",
          options={})
def hscore(features, labels=None, *, device="auto") -> float:
    """H-score = tr(pinv(Cov F) · Cov G), G_j the class mean of sample j's class (higher is better).

    Bao et al., ICIP 2019; reproduces thuml/Transfer-Learning-Library ``tllib/ranking/hscore.py``
    (covariances with ddof 1, NumPy ``pinv`` with rcond 1e-15), computed in the eigenbasis of the
    centred features (same value, no D × D inverse). The score lies in [0, C − 1] and saturates at
    C − 1 when the centred features have rank N − 1 (N ≤ D + 1): then it warns.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 60)
    >>> features = rng.normal(size=(60, 5)) + 3 * np.eye(5)[labels]
    >>> round(hscore(features, labels), 4)  # at most C − 1 = 2
    1.6539
    """
    data = prepared_for_hscore(features, labels, device, "H-score")
    total, between = principal_scatter(data)
    inverse = pinv_diagonal(total)
    if int((inverse > 0).sum()) >= data.n - 1:
        warnings.warn(f"H-score saturates at C − 1 = {data.num_classes - 1} when the samples ({data.n}) are at "
                      f"most the feature dimensions ({data.features.shape[1]}) plus one; use hscore_shrinkage "
                      "or more samples", TransferabilityWarning, stacklevel=2)
    return float((between * inverse).sum())
