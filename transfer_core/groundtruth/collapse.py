"""When a fine-tuning run has collapsed: the training loss became non-finite or ended above its start, or the
model predicts one class for every validation image (for regression targets: R² ≤ 0 on them, no better than the
training mean). A collapsed grid point is recorded with its reason and never chosen; when every point collapses,
the result says so instead of reporting an accuracy."""

from __future__ import annotations

import math

import numpy as np


def loss_collapse(start_loss: float | None, epoch_losses: list[float]) -> str | None:
    """Why the training losses show a collapse, or None. ``start_loss`` is the first batch's loss."""
    if not epoch_losses or not math.isfinite(epoch_losses[-1]):
        return f"the training loss became non-finite in epoch {len(epoch_losses)}"
    if start_loss is not None and epoch_losses[-1] > start_loss:
        return f"the training loss ended at {epoch_losses[-1]:.3g}, above its start ({start_loss:.3g})"
    return None


def one_class_collapse(predicted: np.ndarray, classes: list) -> str | None:
    """Why the validation predictions (class indices into ``classes``) show a collapse, or None."""
    chosen = np.unique(predicted)
    return f"it predicts class {classes[int(chosen[0])]!r} for every validation image" if len(chosen) == 1 else None


def r2_collapse(r2: float) -> str | None:
    """Why a regression run's validation R² shows a collapse, or None."""
    return None if r2 > 0 else f"validation R² {r2:.3f} ≤ 0: no better than the training mean"


def all_collapsed(points: list[dict]) -> str:
    """One sentence for a run whose every grid point collapsed."""
    reasons = "; ".join(f"lr={point['learning_rate']:g}, wd={point['weight_decay']:g}: {point['collapsed']}"
                        for point in points)
    return f"every grid point collapsed ({reasons})"
