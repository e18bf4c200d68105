"""SFDA: self-challenging Fisher discriminant analysis (Shao et al., ECCV 2022)."""

from __future__ import annotations

import warnings

import torch

from transfer_core.metrics.errors import TransferabilityWarning
from transfer_core.metrics.inputs import require_classes
from transfer_core.metrics.lda import ShrinkageLDA, Span, fit_shrinkage_lda
from transfer_core.metrics.options import PCA_DIM
from transfer_core.metrics.prepared import Prepared, prepare
from transfer_core.metrics.registry import CLASSIFICATION, check_options, register


def self_challenging_mix(x: torch.Tensor, labels: torch.Tensor, lda: ShrinkageLDA) -> torch.Tensor:
    """Move each sample i of class c to p'_ic x_i + (1 − p'_ic) μ̄_{−c} (a new tensor).

    p' = softmax(p) is a second softmax over the LDA posteriors p (it softens them, as the reference does);
    μ̄_{−c} is the unweighted mean of the other classes' means.
    """
    confidence = torch.softmax(lda.posterior(x), dim=1).gather(1, labels[:, None])
    others_mean = (lda.means.sum(dim=0, keepdim=True) - lda.means) / (lda.means.shape[0] - 1)
    return confidence * x + (1.0 - confidence) * others_mean[labels]


def span_coordinates(data: Prepared) -> tuple[torch.Tensor, Span]:
    """The centred features' principal coordinates U S (the shared spectrum; components at the noise floor left
    out) and what the fit needs of the D-dimensional space: with N < D this fits N-, not D-dimensional scatters."""
    spectrum = data.centered_spectrum
    return spectrum.scores[:, spectrum.nonzero], Span(data.features.shape[1], data.features.sum(dim=1))


def first_stage(data: Prepared, name: str, *, pca_dim: int | None = None,
                advice: str = "") -> tuple[torch.Tensor, Span | None, ShrinkageLDA]:
    """SFDA's first stage on ``data`` (labelled): the features it fits on (``pca_dim`` PCA components, else the
    samples' span coordinates when N < D), that span, and the shrinkage LDA. When N < D + C the within-class scatter
    is singular and the fit saturates: a :class:`TransferabilityWarning` names metric ``name`` (plus ``advice``)."""
    x, span = data.features, None
    if pca_dim is not None:
        x = data.pca(dim=pca_dim)
    elif data.n < data.features.shape[1]:
        x, span = span_coordinates(data)
    dim = x.shape[1] if span is None else span.dim
    if data.n < dim + data.num_classes:
        warnings.warn(f"{name} saturates towards 1.0 with {data.n} samples in {dim} dimensions and "
                      f"{data.num_classes} classes (N < D + C: the within-class scatter is singular){advice}",
                      TransferabilityWarning, stacklevel=3)
    return x, span, fit_shrinkage_lda(x, data.labels, data.num_classes, span=span)


@register("sfda", tasks=(CLASSIFICATION,),
          meaning="How confidently a regularised Fisher (LDA) classifier still separates the classes after "
                  "each sample is pulled towards the other classes (mean probability of the true class).",
          citation="Shao et al., Not All Models Are Equal: Predicting Model Transferability in a "
                   "Self-challenging Fisher Space, ECCV 2022",
          options={"pca_dim": PCA_DIM})
def sfda(features, labels=None, *, pca_dim: int | None = None, device="auto") -> float:
    """SFDA score in [0, 1], higher is better.

    1. Shrinkage LDA (:mod:`transfer_core.metrics.lda`) gives p(c | x).
    2. Self-challenging mix: with p' = softmax(p), each sample of class c moves to
       p'_ic x_i + (1 − p'_ic) μ̄_{−c} (μ̄_{−c}: unweighted mean of the other class means).
    3. Refit the LDA on the mixed features with the same λ; score = mean_i p(y_i | x_i) (no log).

    Reproduces ``SFDA_Score`` of TencentARC/SFDA (``metrics.py``), deterministic; unlike it, the caller's
    features are never modified, and ``pca_dim`` optionally reduces the features first (exact PCA, no
    whitening, capped at min(N, D)). When N < D + C the within-class scatter is singular, the in-sample fit
    separates the classes and the score saturates near 1.0: a :class:`TransferabilityWarning` says so
    (compare models at a common ``pca_dim`` well below N). Ensemble selection from the paper is not part
    of this function.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 300)
    >>> features = rng.normal(size=(300, 8)) + 2.0 * labels[:, None]
    >>> round(sfda(features, labels, device="cpu"), 4)
    0.9257
    """
    pca_dim = check_options("sfda", pca_dim=pca_dim)["pca_dim"]
    data = prepare(features, labels, device=device)
    data.require("features", "labels")
    require_classes(data.num_classes, "SFDA")
    x, span, first = first_stage(data, "SFDA", pca_dim=pca_dim,
                                 advice="; compare models at a common pca_dim well below N")
    mixed = self_challenging_mix(x, data.labels, first)
    second = fit_shrinkage_lda(mixed, data.labels, data.num_classes, shrinkage=first.shrinkage, span=span)
    return float(second.mean_true_class_probability(mixed, data.labels))
