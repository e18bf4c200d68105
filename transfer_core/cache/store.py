"""A content-addressed on-disk cache for extracted features (and any other arrays worth keeping).

An entry is one ``.npz`` file named by the sha256 of its key parts (model fingerprint, preprocessing, layer,
dataset fingerprint, format version, ...), holding numpy arrays plus a JSON metadata string; it is read with
``allow_pickle=False``. Writes go to a temporary file in the same folder, are fsynced, then ``os.replace``-d into
place, so a crash mid-write never leaves a half-written entry under a real name; an entry that does not read back
whole (damaged, or not what the caller expects) is removed with a warning and treated as a miss. The root's layout,
the size cap (least recently used first, "used" = modification time, bumped on every read: access times are
unreliable on ``noatime`` / ``relatime`` mounts) and clearing are :mod:`transfer_core.cache.layout`'s.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from transfer_core.cache.atomic import atomic_write
from transfer_core.cache.layout import (
    DIGEST,
    ENTRY_SUFFIX,
    FEATURES,
    Cleared,
    Kind,
    StoreUsage,
    claim,
    clear,
    evict,
    touch,
    usage,
)

FORMAT_VERSION = 1
DEFAULT_MAX_BYTES = 5 * 2**30
_META_NAME = "__meta__"
_KEY_PATTERN = re.compile(DIGEST)
READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, json.JSONDecodeError)


def default_root() -> Path:
    """``$TRANSFER_SCOUT_CACHE`` when set, else ``~/.cache/transfer-scout``."""
    configured = os.environ.get("TRANSFER_SCOUT_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "transfer-scout"


def store_key(parts: dict) -> str:
    """The sha256 (hex) of ``parts`` as canonical JSON, with the store's format version mixed in."""
    try:
        canonical = json.dumps({"store_format": FORMAT_VERSION, **parts}, sort_keys=True, separators=(",", ":"),
                               allow_nan=False)
    except (TypeError, ValueError) as err:
        raise TypeError(f"store key parts must be plain JSON values (str, number, bool, list, dict): {err}") from err
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoreEntry:
    """What a hit returns: the stored arrays by name and the metadata (``created`` is added by the store)."""

    arrays: dict[str, np.ndarray]
    meta: dict


class FeatureStore:
    """The on-disk store under ``root`` (default :func:`default_root`), capped at ``max_bytes``."""

    def __init__(self, root: str | os.PathLike | None = None, max_bytes: int = DEFAULT_MAX_BYTES):
        if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes <= 0:
            raise ValueError(f"max_bytes must be a positive number of bytes, got {max_bytes!r}")
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.entries_dir = self.root / FEATURES.folder
        self.max_bytes = max_bytes

    key = staticmethod(store_key)

    def path(self, key: str) -> Path:
        if not _KEY_PATTERN.fullmatch(key):
            raise ValueError(f"store keys are sha256 hex digests (see FeatureStore.key), got {key!r}")
        return self.entries_dir / f"{key}{ENTRY_SUFFIX}"

    def get(self, key: str, rows: int | None = None, required: Iterable[str] = ()) -> StoreEntry | None:
        """The entry under ``key``, or None on a miss.

        An entry that does not read back whole (damaged, no metadata, a ``required`` array missing, a NaN or
        infinite value, or an array whose first dimension is not ``rows``) is removed with a warning: a miss.
        """
        path = self.path(key)
        try:
            entry = read_entry(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except READ_ERRORS as err:
            problem = f"cannot be read ({type(err).__name__}: {err})"
        else:
            problem = entry_problem(entry, rows, tuple(required))
        if problem is not None:
            warnings.warn(f"feature store entry {path} {problem}; removed it, so it is computed again", stacklevel=2)
            _remove(path)
            return None
        touch(path)
        return entry

    def put(self, key: str, arrays: dict[str, np.ndarray], meta: dict) -> bool:
        """Store ``arrays`` (finite numeric numpy arrays) with JSON ``meta`` under ``key`` atomically.

        Returns False when the entry alone is larger than the size cap (it is then not kept).
        """
        target = self.path(key)
        check_arrays(arrays)
        claim(self.root, FEATURES)
        write_entry(target, arrays, meta)
        return self.evict(keep=target)

    def folder(self, kind: Kind) -> Path:
        """``kind``'s folder under the root, created (a new root is marked as the store's)."""
        return claim(self.root, kind)

    def evict(self, keep: Path | None = None) -> bool:
        """Clean abandoned staging and evict least recently used items over the cap; True if ``keep`` survived."""
        return evict(self.root, self.max_bytes, keep)

    def clear(self) -> Cleared:
        """Remove everything the store wrote under its root (:func:`transfer_core.cache.layout.clear`)."""
        return clear(self.root)

    def usage(self) -> StoreUsage:
        return usage(self.root, self.max_bytes)


def write_entry(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write ``arrays`` (checked with :func:`check_arrays`) and JSON ``meta`` (plus ``created``) as one entry at
    ``path``, atomically."""
    payload = {name: np.asarray(array) for name, array in arrays.items()}
    payload[_META_NAME] = np.array(json.dumps({**meta, "created": time.time()}, allow_nan=False))
    atomic_write(path, lambda stream: np.savez(stream, allow_pickle=False, **payload))


def read_entry(path: Path, arrays: bool = True) -> StoreEntry:
    """The entry at ``path`` (only its metadata when not ``arrays``: the arrays are then not read from disk); one of
    :data:`READ_ERRORS` when it does not read back."""
    with np.load(path, allow_pickle=False) as stored:
        if _META_NAME not in stored.files:
            raise ValueError("the entry has no metadata")
        meta = json.loads(str(stored[_META_NAME]))
        arrays = {name: stored[name] for name in stored.files if name != _META_NAME} if arrays else {}
    if not isinstance(meta, dict):
        raise ValueError("metadata is not a JSON object")
    return StoreEntry(arrays, meta)


def entry_problem(entry: StoreEntry, rows: int | None, required: tuple[str, ...]) -> str | None:
    """Why ``entry`` is not what the caller expects, or None."""
    missing = [name for name in required if name not in entry.arrays]
    if missing:
        return f"lacks the array(s) {', '.join(missing)}"
    for name, array in entry.arrays.items():
        if rows is not None and (array.ndim == 0 or array.shape[0] != rows):
            return f"has {name} of shape {array.shape}, not {rows} rows"
        if np.issubdtype(array.dtype, np.inexact) and not np.isfinite(array).all():
            return f"has NaN or infinite values in {name}"
    return None


def check_arrays(arrays: dict[str, np.ndarray]) -> None:
    """A ``ValueError`` unless every array is finite and numeric under an allowed name."""
    for name, array in arrays.items():
        if name == _META_NAME or not name.isidentifier():
            raise ValueError(f"array name {name!r} is not allowed in the feature store")
        array = np.asarray(array)
        if array.dtype.hasobject:
            raise ValueError(f"array {name!r} holds Python objects; the feature store keeps numeric arrays only")
        if np.issubdtype(array.dtype, np.inexact) and not np.isfinite(array).all():
            raise ValueError(f"array {name!r} holds NaN or infinite values; the feature store keeps finite arrays only")


def _remove(path: Path) -> None:
    """Delete a damaged entry if we can (a read-only store keeps it, and it stays a miss)."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass

