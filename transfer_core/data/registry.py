"""Dataset IDs to datasets: ``demo``, ``demo:NAME``, an image folder, a ``.zip`` of one, or a ``.csv``."""

from __future__ import annotations

import numbers
import os
from pathlib import Path

from .archive import zip_catalogue
from .base import ImageDataset
from .catalogue import Catalogue, to_dataset
from .csv_source import csv_catalogue
from .demos import DEMOS, demo_catalogue, demo_listing
from .errors import DatasetError
from .folder import folder_catalogue

_FILE_SOURCES = {".zip": zip_catalogue, ".csv": csv_catalogue}


def load_dataset(dataset_id: str | os.PathLike, *, limit: int | None = None, seed: int = 0) -> ImageDataset:
    """Resolve ``dataset_id`` to an ``ImageDataset``; ``limit`` keeps a seeded subsample of that many images
    (per-class proportional for classification, at least one per class; uniform for regression).

    IDs: ``demo`` (the embedded default, 1 000 textile photos), ``demo:NAME`` (see ``list_datasets``), a folder
    with one sub-folder per class, a ``.zip`` of such a folder, or a ``.csv`` with columns ``path,label`` or
    ``path,target...``. Every failure is a ``DatasetError`` whose message says what to do.
    """
    if isinstance(dataset_id, os.PathLike):
        dataset_id = os.fspath(dataset_id)
    if limit is not None and not _is_whole(limit, minimum=1):
        raise DatasetError(f"limit must be a positive whole number of images, got {limit!r}")
    if not _is_whole(seed, minimum=0):
        raise DatasetError(f"seed must be a non-negative whole number, got {seed!r}")
    return to_dataset(_catalogue(dataset_id), dataset_id, None if limit is None else int(limit), int(seed))


def list_datasets() -> list[tuple[str, str]]:
    """(ID, one-line description) of every bundled dataset; folders, zips and CSVs are given by their path."""
    return demo_listing()


def _is_whole(value, minimum: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum


def _catalogue(dataset_id: str) -> Catalogue:
    if not isinstance(dataset_id, str) or not dataset_id.strip():
        raise DatasetError(f"a dataset ID must be a non-empty string, got {dataset_id!r}")
    if dataset_id == "demo" or dataset_id.startswith("demo:"):
        return demo_catalogue(dataset_id)
    path = Path(dataset_id).expanduser()
    if path.is_dir():
        return folder_catalogue(path)
    if not path.exists():
        raise DatasetError(f"no dataset {dataset_id!r}: it is not a bundled dataset ({', '.join(DEMOS)}) and no file "
                           "or folder has that path")
    source = _FILE_SOURCES.get(path.suffix.lower())
    if source is None:
        raise DatasetError(f"{dataset_id}: cannot read a {path.suffix or 'suffix-less'} file as a dataset; give an "
                           "image folder (one sub-folder per class), a .zip of one, or a .csv with columns "
                           "path,label or path,target")
    return source(path)
