"""What a dataset source resolves to: images with labels (or regression targets) and a stable fingerprint."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class SkippedFile:
    """A file that was not used, and why (corrupt image, not an image, unreadable, ...)."""

    path: str
    reason: str


@dataclass
class ImageDataset:
    """A labelled (or regression) image set.

    ``load(i)`` returns image ``i`` as a PIL image (any mode; extraction converts it). Exactly one of ``labels``
    ([N], strings or ints) and ``targets`` ([N] or [N, K] floats) is set. ``fingerprint`` changes whenever the images,
    their order or their labels change, and is stable otherwise (the feature store keys on it). ``notes`` are
    sentences to show the user once (e.g. how 16-bit images are mapped to the models' input range). ``limit`` and
    ``seed`` are the subsample :func:`~transfer_core.data.load_dataset` was asked for (``limit`` None: the source's
    default size): with ``dataset_id`` they reload the same images.
    """

    dataset_id: str
    name: str
    load: Callable[[int], Image.Image]
    size: int
    fingerprint: str
    labels: np.ndarray | None = None
    targets: np.ndarray | None = None
    item_names: Sequence[str] = ()
    skipped: list[SkippedFile] = field(default_factory=list)
    description: str = ""
    notes: list[str] = field(default_factory=list)
    limit: int | None = None
    seed: int = 0

    def __len__(self) -> int:
        return self.size

    @property
    def classes(self) -> list:
        return [] if self.labels is None else sorted(set(self.labels.tolist()))
