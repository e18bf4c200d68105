"""Shrinkage H-score: H-score with a Ledoit–Wolf regularised feature covariance (Ibrahim et al., 2022)."""

from __future__ import annotations

import torch

from transfer_core.metrics.hscore import pinv_diagonal, prepared_for_hscore, principal_scatter
from transfer_core.metrics.prepared import Prepared
from transfer_core.metrics.registry import CLASSIFICATION, register


def ledoit_wolf_shrinkage(data: Prepared) -> torch.Tensor:
    """Ledoit–Wolf shrinkage α of the ddof-0 covariance of the centred features (as scikit-learn's
    ``ledoit_wolf_shrinkage``), from the shared spectrum and the row norms: no D × D matrix."""
    n, d = data.centered.shape
    eigenvalues = data.centered_spectrum.singular_values.square() / n  # of S = ZᵀZ / n
    zero = torch.zeros((), dtype=eigenvalues.dtype, device=eigenvalues.device)
    if d == 1:
        return zero
    trace, frobenius2 = eigenvalues.sum(), eigenvalues.square().sum()
    fourth_moment = data.centered.square().sum(dim=1).square().sum() / n  # mean of ‖z_i‖⁴
    beta = (fourth_moment - frobenius2) / (d * n)
    delta = (frobenius2 - trace.square() / d) / d  # ‖S − (tr S / d) I‖²_F / d
    if bool(delta <= 0):
        return zero
    return (torch.minimum(beta, delta) / delta).clamp(0, 1)


@register("hscore_shrinkage", tasks=(CLASSIFICATION,),
          meaning="How far apart the class averages are compared with the overall spread of the features, "
                  "with the spread estimated robustly so that it stays meaningful when samples are few.",
          citation="Ibrahim et al., Newer is not always better: Rethinking transferability metrics, their "
                   "peculiarities, stability and performance, ECML-PKDD 2022",
          options={})
def hscore_shrinkage(features, labels=None, *, device="auto") -> float:
    """Shrinkage H-score H_α = tr(pinv(Σ) · (1 − α) Cov G) (higher is better).

    Ibrahim et al. (2022): centre F, Σ = (1 − α) S + α (tr S / D) I with S the ddof-0 covariance and α
    the Ledoit–Wolf shrinkage (scikit-learn's ``LedoitWolf``, as in the authors' code); Cov G with
    ddof 1, pinv rcond 1e-15. Computed in the eigenbasis of the centred features, where Σ is diagonal.
    Unlike the plain H-score it does not saturate when N ≤ D.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 20)
    >>> features = rng.normal(size=(20, 50)) + labels[:, None]
    >>> round(hscore_shrinkage(features, labels), 4)
    1.8417
    """
    data = prepared_for_hscore(features, labels, device, "Shrinkage H-score")
    n, d = data.centered.shape
    total, between = principal_scatter(data)
    alpha = ledoit_wolf_shrinkage(data)
    shrunk = (1 - alpha) * total / n + alpha * total.sum() / (n * d)
    return float((1 - alpha) / (n - 1) * (between * pinv_diagonal(shrunk)).sum())
