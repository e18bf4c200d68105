"""Feature rows per image: what a model computed for each image it has seen, so a run that needs more images (the
next slice of an anytime ranking, a larger ``--limit``, another dataset sharing images) extracts only the new ones.

A model's rows live in one folder under ``rows/`` named by its rows key (everything a row depends on except the
image: model fingerprint, preprocessing, layer, head, extraction version). Each chunk in it is a store entry (arrays
``features`` [n, D] and, with a source head, ``source_probs`` [n, C]; the n image keys in its metadata) named by the
digest of its image keys, written atomically. A chunk that does not read back whole is removed with a warning (its
images are then a miss); the folder is one item of the store's size cap (:mod:`transfer_core.cache.layout`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from transfer_core.cache.layout import ENTRY_SUFFIX, ROWS, touch
from transfer_core.cache.store import (
    READ_ERRORS,
    FeatureStore,
    check_arrays,
    entry_problem,
    read_entry,
    store_key,
    write_entry,
)


@dataclass(frozen=True)
class StoredRows:
    """Which of the requested images have rows (``found``, one flag per image), those rows in request order, and the
    metadata of the chunks they came from."""

    found: np.ndarray
    arrays: dict[str, np.ndarray]
    meta: list[dict]


def rows_key(model_parts: dict) -> str:
    """The folder name of a model's rows, from what its rows depend on."""
    return store_key({"kind": "feature-rows", **model_parts})


def _folder(store: FeatureStore, key: str) -> Path:
    return store.root / ROWS.folder / key


def read_rows(store: FeatureStore, key: str, images: Sequence[str], names: Sequence[str]) -> StoredRows:
    """The stored rows of arrays ``names`` for ``images`` (keys as :meth:`~transfer_core.data.base.ImageDataset.
    image_keys` gives them); an image is found only when every named array has its row. Only the chunks holding a
    wanted image are read whole; with no ``names`` only the chunks' metadata is read (which images are stored)."""
    wanted = {image: position for position, image in enumerate(images)}
    found = np.zeros(len(images), dtype=bool)
    pieces: dict[str, list] = {name: [] for name in names}
    positions: list[np.ndarray] = []
    used: list[dict] = []
    folder = _folder(store, key)
    for path in sorted(folder.glob(f"*{ENTRY_SUFFIX}")):
        header = _chunk(path, (), arrays=False)
        if header is None or not any(image in wanted for image in header.meta["images"]):
            continue
        entry = _chunk(path, names) if names else header
        if entry is None:
            continue
        rows = [(row, wanted[image]) for row, image in enumerate(entry.meta["images"])
                if image in wanted and not found[wanted[image]]]
        if not rows or not _same_width(pieces, entry.arrays):
            continue
        taken, at = np.array([row for row, _ in rows]), np.array([position for _, position in rows])
        found[at] = True
        positions.append(at)
        used.append(entry.meta)
        for name in names:
            pieces[name].append(entry.arrays[name][taken])
    if positions:
        touch(folder)
    order = np.argsort(np.concatenate(positions)) if positions else np.array([], dtype=np.int64)
    return StoredRows(found, {name: np.concatenate(parts)[order] for name, parts in pieces.items() if parts}, used)


def write_rows(store: FeatureStore, key: str, images: Sequence[str], arrays: dict[str, np.ndarray],
               meta: dict) -> None:
    """Keep the rows ``arrays`` (one per image of ``images``) as a chunk of the model's rows; the chunk's name is the
    digest of its image keys, so writing the same rows twice keeps one copy."""
    if not images:
        return
    check_arrays(arrays)
    chunk = store_key({"rows": key, "images": list(images)})
    store.folder(ROWS)
    write_entry(_folder(store, key) / f"{chunk}{ENTRY_SUFFIX}", arrays, {**meta, "images": list(images)})
    store.evict(keep=_folder(store, key))


def _chunk(path: Path, names: Sequence[str], arrays: bool = True):
    """A chunk that reads back whole with rows for each of ``names`` (only its metadata when not ``arrays``), or
    None (a damaged one is removed)."""
    try:
        entry = read_entry(path, arrays)
        images = entry.meta.get("images")
        problem = (entry_problem(entry, len(images) if arrays else None, tuple(names)) if isinstance(images, list)
                   else "has no image keys")
    except FileNotFoundError:
        return None
    except READ_ERRORS as err:
        problem = f"cannot be read ({type(err).__name__}: {err})"
    if problem is None:
        return entry
    warnings.warn(f"feature rows {path} {problem}; removed them, so those images are extracted again", stacklevel=3)
    path.unlink(missing_ok=True)
    return None


def _same_width(pieces: dict[str, list], arrays: dict[str, np.ndarray]) -> bool:
    """A chunk whose arrays are not as wide as the chunks read before it belongs to another model: left out."""
    return all(not parts or parts[0].shape[1:] == arrays[name].shape[1:] for name, parts in pieces.items())
