"""Validation and conversion of metric inputs at the boundary (scikit-learn style).

Every metric accepts NumPy arrays, torch tensors or lists and converts them here into fresh float64 /
int64 tensors on the chosen device, so metrics never mutate the caller's arrays.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from transfer_core.metrics.errors import DegenerateInputError, MetricInputError, TransferabilityWarning

MAX_NAMED = 10  # classes named in one warning before "and N more"


def _to_numpy(values, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    try:
        return np.asarray(values)
    except Exception as exc:  # ragged lists and the like
        raise MetricInputError(f"{name} could not be read as an array: {exc}") from exc


def as_matrix(values, name: str, device: torch.device, *, n_rows: int | None = None) -> torch.Tensor:
    """A finite float64 ``[N, D]`` copy of ``values`` on ``device`` (a 1-D input becomes ``[N, 1]``)."""
    array = _to_numpy(values, name)
    if array.dtype.kind not in "biuf":
        raise MetricInputError(f"{name} must be numeric, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise MetricInputError(f"{name} must be a 2-D array [N, D], got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise MetricInputError(f"{name} is empty (shape {array.shape})")
    if n_rows is not None and array.shape[0] != n_rows:
        raise MetricInputError(f"{name} has {array.shape[0]} rows but the features have {n_rows}")
    tensor = torch.tensor(np.ascontiguousarray(array), dtype=torch.float64, device=device)  # always a copy
    bad_rows = (~torch.isfinite(tensor)).any(dim=1)
    if bool(bad_rows.any()):
        raise MetricInputError(
            f"{name} contain non-finite values (NaN or inf) in {int(bad_rows.sum())} of {array.shape[0]} rows"
        )
    return tensor


def as_labels(labels, n_rows: int, device: torch.device) -> tuple[torch.Tensor, np.ndarray]:
    """Class indices ``0..C-1`` (sorted order of the original values) and the original class values."""
    array = _to_numpy(labels, "labels")
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise MetricInputError(f"labels must be 1-D [N], got shape {array.shape}")
    if array.shape[0] != n_rows:
        raise MetricInputError(f"labels have {array.shape[0]} entries but the features have {n_rows} rows")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise MetricInputError("labels contain NaN or inf")
        if not np.all(array == np.round(array)):
            raise MetricInputError("labels must be integers or strings; got fractional numbers (use --targets)")
    classes, indices = np.unique(array, return_inverse=True)
    return torch.tensor(indices.reshape(-1), dtype=torch.int64, device=device), classes


def as_probabilities(probs, n_rows: int, device: torch.device) -> torch.Tensor:
    """Source-class probabilities ``[N, C_s]``: non-negative rows, renormalised to sum to one."""
    tensor = as_matrix(probs, "source probabilities", device, n_rows=n_rows)
    if bool((tensor < 0).any()):
        raise MetricInputError("source probabilities must be non-negative (pass softmax outputs, not logits)")
    sums = tensor.sum(dim=1, keepdim=True)
    if bool((sums <= 0).any()):
        raise MetricInputError("every row of the source probabilities must have positive mass")
    if bool(((sums - 1).abs() > 1e-3).any()):
        warnings.warn("source probabilities did not sum to 1 per row; renormalised", TransferabilityWarning,
                      stacklevel=3)
    return tensor / sums


def warn_single_image_classes(labels: torch.Tensor, classes: np.ndarray, effect: str) -> None:
    """Warn, naming them, about classes with exactly one image and what that does to a metric (``effect``).

    Only metrics whose math is skewed by such a class call this (kNN, GBC); the others' formulas are
    well-defined for a class of one.
    """
    counts = torch.bincount(labels, minlength=len(classes)).cpu().numpy()
    single = [str(value) for value in classes[counts == 1]]
    if not single:
        return
    more = f" and {len(single) - MAX_NAMED} more" if len(single) > MAX_NAMED else ""
    subject = f"class {single[0]} has" if len(single) == 1 else f"classes {', '.join(single[:MAX_NAMED])}{more} have"
    warnings.warn(f"{subject} a single image: {effect}", TransferabilityWarning, stacklevel=3)


def require_classes(num_classes: int, metric: str, minimum: int = 2) -> None:
    """Raise :class:`DegenerateInputError` when there are fewer than ``minimum`` classes."""
    if num_classes < minimum:
        raise DegenerateInputError(f"{metric} needs at least {minimum} classes, got {num_classes}")

