"""The held-out split of fine-tuning: seeded train / validation / test indices, stratified by class."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from transfer_core.groundtruth.errors import GroundTruthError
from transfer_core.groundtruth.protocol import FineTuneProtocol


def split_indices(size: int, classes: np.ndarray | None, protocol: FineTuneProtocol) -> dict[str, np.ndarray]:
    """Disjoint sorted index arrays ``train``, ``val``, ``test`` over ``size`` images.

    ``classes`` (int labels, or None for regression) stratifies every cut. The test and validation parts take
    ``test_fraction`` / ``val_fraction`` of all images (capped at ``max_eval_images``); training gets the rest,
    capped at ``max_train_images``.
    """
    everything = np.arange(size)
    try:
        rest, test = _cut(everything, classes, protocol.test_fraction, protocol.seed)
        train, val = _cut(rest, classes, protocol.val_fraction / (1.0 - protocol.test_fraction), protocol.seed)
    except ValueError as err:  # sklearn: a split too small to hold every class
        raise GroundTruthError(f"{size} images are too few for a stratified train/validation/test split with "
                               f"this protocol ({err}); use more images or larger val/test fractions") from None
    return {"train": _capped(train, classes, protocol.max_train_images, protocol.seed),
            "val": _capped(val, classes, protocol.max_eval_images, protocol.seed),
            "test": _capped(test, classes, protocol.max_eval_images, protocol.seed)}


def _cut(indices: np.ndarray, classes: np.ndarray | None, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    stratify = None if classes is None else classes[indices]
    kept, held_out = train_test_split(indices, test_size=fraction, stratify=stratify, random_state=seed)
    return np.sort(kept), np.sort(held_out)


def _capped(indices: np.ndarray, classes: np.ndarray | None, cap: int | None, seed: int) -> np.ndarray:
    """A seeded (stratified) subset of ``cap`` of ``indices``, or all of them when there are not more."""
    if cap is None or len(indices) <= cap:
        return indices
    stratify = None if classes is None else classes[indices]
    kept, _ = train_test_split(indices, train_size=cap, stratify=stratify, random_state=seed)
    return np.sort(kept)
