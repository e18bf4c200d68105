"""What a dataset source resolves to: images with labels (or regression targets) and a stable fingerprint."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
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
    default size): with ``dataset_id`` they reload the same images. ``item_keys`` identify the images across datasets
    (:meth:`image_keys`); ``part_of`` is the size of the dataset this one is a slice of (:func:`dataset_part`), None
    for a whole dataset.
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
    item_keys: Sequence[str] = ()
    part_of: int | None = None

    def __len__(self) -> int:
        return self.size

    def image_keys(self) -> list[str]:
        """Each image's identity across datasets: ``item_keys`` when the source gave them (the source and the image's
        own key, its content hash for files), else its position in this dataset (shared only with itself)."""
        if len(self.item_keys) == self.size:
            return list(self.item_keys)
        return [f"{self.fingerprint}#{index}" for index in range(self.size)]

    @property
    def classes(self) -> list:
        return [] if self.labels is None else sorted(set(self.labels.tolist()))


@dataclass(frozen=True)
class PartLoader:
    """``load(i)`` of a slice: image ``indices[i]`` of the whole dataset (picklable for DataLoader workers)."""

    load: Callable[[int], Image.Image]
    indices: np.ndarray

    def __call__(self, index: int) -> Image.Image:
        return self.load(int(self.indices[index]))


def dataset_part(dataset: ImageDataset, indices: np.ndarray) -> ImageDataset:
    """The images ``indices`` (sorted) of ``dataset`` as a dataset of their own, with their labels or targets, their
    image keys and a fingerprint of their own; all of them is ``dataset`` itself."""
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == dataset.size:
        return dataset
    digest = hashlib.sha256(f"{dataset.fingerprint}:{indices.tolist()}".encode()).hexdigest()
    keys = dataset.image_keys()
    return replace(dataset, load=PartLoader(dataset.load, indices), size=int(indices.size), fingerprint=digest,
                   labels=None if dataset.labels is None else dataset.labels[indices],
                   targets=None if dataset.targets is None else dataset.targets[indices],
                   item_names=[dataset.item_names[i] for i in indices] if len(dataset.item_names) else (),
                   item_keys=[keys[i] for i in indices], part_of=dataset.size)
