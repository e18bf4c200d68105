"""Inputs converted once and decompositions shared across metrics.

Scoring a model with the whole suite converts its features once and computes each expensive
decomposition (the centred spectrum behind PCA, SFDA, DISCO, TransRate and, with fewer samples than dimensions,
LogME; the raw spectrum behind LogME otherwise; class statistics) at most once, whichever metrics ask for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from transfer_core.device import resolve_device
from transfer_core.metrics.errors import MetricInputError
from transfer_core.metrics.inputs import as_labels, as_matrix, as_probabilities


@dataclass(frozen=True)
class Spectrum:
    """Thin SVD of a matrix ``M = U S Vᵀ`` (singular values descending)."""

    singular_values: torch.Tensor  # [k], k = min(N, D)
    scores: torch.Tensor  # U S, [N, k]: the coordinates of each row along the singular directions

    @property
    def nonzero(self) -> torch.Tensor:
        """``[k]`` mask of the singular values above the noise floor (the rest are rounding noise)."""
        return self.singular_values > _zero_threshold(self.singular_values)

    @property
    def left_vectors(self) -> torch.Tensor:
        """``U`` [N, k]; columns for (numerically) zero singular values are zero."""
        s, nonzero = self.singular_values, self.nonzero
        safe = torch.where(nonzero, s, torch.ones_like(s))
        return torch.where(nonzero, self.scores / safe, torch.zeros_like(self.scores))


def _zero_threshold(s: torch.Tensor) -> torch.Tensor:
    """Singular values at or below s_max·√(k·eps) are zero: the noise floor of an SVD taken through the Gram matrix."""
    largest = s.max() if s.numel() else torch.tensor(0.0, dtype=s.dtype, device=s.device)
    return largest * (max(s.shape[0], 1) * torch.finfo(s.dtype).eps) ** 0.5


def spectrum_of(matrix: torch.Tensor, gram: torch.Tensor | None = None) -> Spectrum:
    """Exact thin SVD through the eigendecomposition of the smaller Gram matrix (float64); with N < D the caller
    may pass ``gram`` = M Mᵀ when it already has it."""
    n, d = matrix.shape
    if n >= d:
        eigenvalues, vectors = torch.linalg.eigh(matrix.T @ matrix)
        eigenvalues, vectors = eigenvalues.flip(0), vectors.flip(1)
        scores = matrix @ vectors
    else:
        eigenvalues, left = torch.linalg.eigh(matrix @ matrix.T if gram is None else gram)
        eigenvalues, left = eigenvalues.flip(0), left.flip(1)
        scores = left * eigenvalues.clamp_min(0).sqrt()
    return Spectrum(eigenvalues.clamp_min(0).sqrt(), scores)


class Prepared:
    """Validated inputs of one scoring call (a model's features on one target set).

    Build it once with :func:`prepare` and pass it to any number of metrics.
    """

    def __init__(self, *, features=None, labels=None, targets=None, source_probs=None, general_features=None,
                 device="auto"):
        self.device = resolve_device(device)
        self.features = None if features is None else as_matrix(features, "features", self.device)
        self.general_features = None if general_features is None else self._general(general_features)
        n_rows = self._row_count(features, labels, targets, source_probs)
        self.source_probs = None if source_probs is None else as_probabilities(source_probs, n_rows, self.device)
        if labels is not None and targets is not None:
            raise MetricInputError("give either labels (classification) or targets (regression), not both")
        self.labels, self.classes = (None, None) if labels is None else as_labels(labels, n_rows, self.device)
        self.targets = None if targets is None else as_matrix(targets, "targets", self.device, n_rows=n_rows)
        self._gram_source: tuple[Prepared, torch.Tensor] | None = None  # (parent, rows) of a subset

    def _general(self, general_features) -> torch.Tensor:
        """A general feature sample of the same model (PED standardises with it): as many columns as the features."""
        general = as_matrix(general_features, "general features", self.device)
        if self.features is not None and general.shape[1] != self.features.shape[1]:
            raise MetricInputError(f"the general features have {general.shape[1]} columns but the features have "
                                   f"{self.features.shape[1]}")
        return general

    def subset(self, rows) -> Prepared:
        """The same inputs restricted to ``rows`` (e.g. one resampled subset of the images), without validating and
        converting them again. With fewer rows than dimensions, the subset's centred spectrum comes from a sub-block of
        the centred Gram matrix of these full inputs (computed once, shared by every subset) instead of a new N × D
        product."""
        rows = torch.as_tensor(rows, dtype=torch.int64, device=self.device)
        part = Prepared.__new__(Prepared)
        part.device = self.device
        part.features, part.source_probs, part.targets = (
            None if value is None else value[rows] for value in (self.features, self.source_probs, self.targets))
        part.labels, part.classes = self.labels, self.classes
        part.general_features = self.general_features  # a separate sample: every subset keeps all of it
        if self.labels is not None:
            present = torch.unique(self.labels[rows])
            part.labels = torch.searchsorted(present, self.labels[rows])  # 0..C'−1 again if a class is left out
            part.classes = self.classes[present.cpu().numpy()]
        few = self.features is not None and rows.numel() < self.features.shape[1]
        part._gram_source = (self, rows) if few else None
        return part

    def _row_count(self, features, labels, targets, source_probs) -> int:
        if self.features is not None:
            return self.features.shape[0]
        for value in (source_probs, labels, targets):
            if value is not None:
                return len(value)
        raise MetricInputError("no inputs were given")

    @property
    def n(self) -> int:
        return self._first_present().shape[0]

    def _first_present(self) -> torch.Tensor:
        for value in (self.features, self.source_probs, self.labels, self.targets):
            if value is not None:
                return value
        raise MetricInputError("no inputs were given")

    @property
    def num_classes(self) -> int:
        return 0 if self.classes is None else len(self.classes)

    def require(self, *names: str) -> None:
        """Raise :class:`MetricInputError` naming each of ``names`` that was not given."""
        missing = [name for name in names if getattr(self, name) is None]
        if missing:
            raise MetricInputError(f"missing input(s): {', '.join(missing)}")

    # --- shared decompositions (computed on first use) ---

    @cached_property
    def centered(self) -> torch.Tensor:
        """Features minus their column means."""
        self.require("features")
        return self.features - self.features.mean(dim=0, keepdim=True)

    @cached_property
    def centered_spectrum(self) -> Spectrum:
        """Thin SVD of the centred features: PCA, DISCO's spectral components, TransRate."""
        block = self.gram_block
        if block is None:
            return spectrum_of(self.centered)
        row_means = block.mean(dim=1)  # products of rows centred on the parent's mean: centre again
        return spectrum_of(self.centered, block - row_means[:, None] - row_means[None, :] + row_means.mean())

    @cached_property
    def raw_spectrum(self) -> Spectrum:
        """Thin SVD of the uncentred features (LogME with N ≥ D; with N < D it works from the centred one)."""
        self.require("features")
        return spectrum_of(self.features)

    @cached_property
    def gram_block(self) -> torch.Tensor | None:
        """For a subset with fewer rows than dimensions (:meth:`subset`): the products of its rows centred on the full
        inputs' mean, a sub-block of their centred Gram matrix (distances and, centred again, the spectrum follow from
        it without an N × D product); None otherwise."""
        if self._gram_source is None:
            return None
        parent, rows = self._gram_source
        return parent.centered_gram[rows][:, rows]

    @cached_property
    def centered_gram(self) -> torch.Tensor:
        """Gram matrix of the centred features, for subsets (:meth:`subset`)."""
        return self.centered @ self.centered.T

    def pca(self, dim: int | None = None, variance: float | None = None) -> torch.Tensor:
        """Principal-component coordinates (no whitening), by a fixed ``dim`` (capped at min(N, D)) or the
        smallest number of components that explains ``variance`` of the total."""
        spectrum = self.centered_spectrum
        if variance is not None:
            energy = spectrum.singular_values.square()
            explained = energy.cumsum(0) / energy.sum().clamp_min(torch.finfo(energy.dtype).tiny)
            dim = int(torch.searchsorted(explained, torch.tensor([variance], dtype=explained.dtype,
                                                                   device=explained.device) - 1e-12).item()) + 1
        if dim is None:
            raise ValueError("pca needs dim or variance")
        return spectrum.scores[:, : max(1, min(dim, spectrum.scores.shape[1]))]

    @cached_property
    def one_hot(self) -> torch.Tensor:
        """``[N, C]`` float64 indicator of each sample's class."""
        self.require("labels")
        return torch.nn.functional.one_hot(self.labels, self.num_classes).to(torch.float64)

    @cached_property
    def class_counts(self) -> torch.Tensor:
        return self.one_hot.sum(dim=0)

    @cached_property
    def class_means(self) -> torch.Tensor:
        """``[C, D]`` per-class mean of the features."""
        self.require("features")
        return (self.one_hot.T @ self.features) / self.class_counts[:, None]


def prepare(features=None, labels=None, *, targets=None, source_probs=None, general_features=None,
            device="auto") -> Prepared:
    """Return ``features`` unchanged when it is already :class:`Prepared`, else validate everything given.

    ``general_features`` (optional) is a general sample of the same model's features, e.g. on ImageNet validation
    images, which PED standardises with.
    """
    if isinstance(features, Prepared):
        if any(value is not None for value in (labels, targets, source_probs, general_features)):
            raise MetricInputError("pass the labels / targets / general features when preparing, not beside a "
                                   "Prepared input")
        return features
    return Prepared(features=features, labels=labels, targets=targets, source_probs=source_probs,
                    general_features=general_features, device=device)

