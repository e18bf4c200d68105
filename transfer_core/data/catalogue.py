"""What every source produces before subsampling, and how it becomes an ``ImageDataset``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np
from PIL import Image

from .base import ImageDataset, SkippedFile
from .errors import DatasetError
from .fingerprint import dataset_fingerprint
from .subsample import subsample_indices


class ImageSource(Protocol):
    """Items in a fixed order: ``open(i)`` makes image ``i``; ``keys(indices)`` identifies those items."""

    def open(self, index: int) -> Image.Image: ...

    def keys(self, indices: Sequence[int]) -> list[str]: ...


@dataclass
class Catalogue:
    """A source's full item list (labels or targets, never both), its identity and the files it passed over.

    ``hint`` tells a user how the source should be laid out (used in error messages); ``default_limit`` is the
    subsample size used when the caller gives none (bundled demos that are larger than a quick run needs);
    ``notes`` are what a user should be told once about how the images are read.
    """

    name: str
    description: str
    source: str
    images: ImageSource
    item_names: list[str]
    labels: np.ndarray | None = None
    targets: np.ndarray | None = None
    skipped: list[SkippedFile] = field(default_factory=list)
    hint: str = ""
    default_limit: int | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SubsetLoader:
    """``load(i)`` of a dataset that keeps the items ``chosen`` of a source (picklable for DataLoader workers)."""

    images: ImageSource
    chosen: np.ndarray

    def __call__(self, index: int) -> Image.Image:
        if not 0 <= index < len(self.chosen):
            raise IndexError(f"image index {index} is out of range for a dataset of {len(self.chosen)} images")
        return self.images.open(int(self.chosen[index]))


def to_dataset(catalogue: Catalogue, dataset_id: str, limit: int | None, seed: int) -> ImageDataset:
    """Check the catalogue is usable, subsample it (seeded) and fingerprint the result."""
    _check_not_empty(catalogue, dataset_id)
    if catalogue.labels is not None:
        _check_classes(catalogue, dataset_id)
    chosen = subsample_indices(len(catalogue.item_names), catalogue.default_limit if limit is None else limit, seed,
                               catalogue.labels)
    labels = None if catalogue.labels is None else catalogue.labels[chosen]
    targets = None if catalogue.targets is None else catalogue.targets[chosen]
    return ImageDataset(
        dataset_id=dataset_id,
        name=catalogue.name,
        load=SubsetLoader(catalogue.images, chosen),
        size=len(chosen),
        fingerprint=dataset_fingerprint(catalogue.source, catalogue.images.keys(chosen), labels, targets),
        labels=labels,
        targets=targets,
        item_names=[catalogue.item_names[i] for i in chosen],
        skipped=list(catalogue.skipped),
        description=catalogue.description,
        notes=list(catalogue.notes),
        limit=limit,
        seed=seed,
        item_keys=[f"{catalogue.source}|{key}" for key in catalogue.images.keys(chosen)],
    )


def _check_not_empty(catalogue: Catalogue, dataset_id: str) -> None:
    if catalogue.item_names:
        return
    skipped = catalogue.skipped
    found = (f"; {len(skipped)} file(s) were skipped, e.g. {skipped[0].path}: {skipped[0].reason}" if skipped
             else "")
    raise DatasetError(f"{dataset_id} has no usable images{found}. {catalogue.hint}".strip())


def _check_classes(catalogue: Catalogue, dataset_id: str) -> None:
    classes, counts = np.unique(catalogue.labels, return_counts=True)
    if len(classes) < 2:
        raise DatasetError(f"{dataset_id} has a single class ({str(classes[0])!r}, {counts[0]} images): ranking models "
                           f"for classification needs at least two classes. {catalogue.hint}".strip())
