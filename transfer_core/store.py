"""A content-addressed on-disk cache for extracted features (and any other arrays worth keeping).

An entry is one ``.npz`` file named by the sha256 of its key parts (model fingerprint, preprocessing, layer,
dataset fingerprint, format version, ...), holding numpy arrays plus a JSON metadata string; it is read with
``allow_pickle=False``. Writes go to a temporary file in the same folder, are fsynced, then ``os.replace``-d into
place, so a crash mid-write never leaves a half-written entry under a real name; an entry that fails to read is
treated as a miss and removed. A size cap is kept by evicting the least recently used entries, where "used" is the
file's modification time, bumped on every read (access times are unreliable on ``noatime`` / ``relatime`` mounts).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transfer_core.atomic import TEMP_SUFFIX, atomic_write

FORMAT_VERSION = 1
DEFAULT_MAX_BYTES = 5 * 2**30
ENTRY_SUFFIX = ".npz"
STALE_TEMP_SECONDS = 3600.0  # a temporary file this old belongs to a writer that crashed
_META_NAME = "__meta__"
_KEY_PATTERN = re.compile(r"[0-9a-f]{64}")
_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, json.JSONDecodeError)


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


@dataclass(frozen=True)
class StoreUsage:
    """How full the store is."""

    entries: int
    bytes: int
    max_bytes: int
    root: Path


class FeatureStore:
    """The on-disk store under ``root`` (default :func:`default_root`), capped at ``max_bytes``."""

    def __init__(self, root: str | os.PathLike | None = None, max_bytes: int = DEFAULT_MAX_BYTES):
        if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes <= 0:
            raise ValueError(f"max_bytes must be a positive number of bytes, got {max_bytes!r}")
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.entries_dir = self.root / "entries"
        self.max_bytes = max_bytes

    key = staticmethod(store_key)

    def path(self, key: str) -> Path:
        if not _KEY_PATTERN.fullmatch(key):
            raise ValueError(f"store keys are sha256 hex digests (see FeatureStore.key), got {key!r}")
        return self.entries_dir / f"{key}{ENTRY_SUFFIX}"

    def get(self, key: str) -> StoreEntry | None:
        """The entry under ``key``, or None on a miss; an unreadable entry is removed and counts as a miss."""
        path = self.path(key)
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files if name != _META_NAME}
                meta = json.loads(str(stored[_META_NAME]))
            if not isinstance(meta, dict):
                raise ValueError("metadata is not a JSON object")
        except FileNotFoundError:
            return None
        except _READ_ERRORS:
            _remove(path)
            return None
        _touch(path)
        return StoreEntry(arrays, meta)

    def put(self, key: str, arrays: dict[str, np.ndarray], meta: dict) -> bool:
        """Store ``arrays`` (numeric numpy arrays; no objects) with JSON ``meta`` under ``key`` atomically.

        Returns False when the entry alone is larger than the size cap (it is then not kept).
        """
        target = self.path(key)
        _check_arrays(arrays)
        payload = {name: np.asarray(array) for name, array in arrays.items()}
        payload[_META_NAME] = np.array(json.dumps({**meta, "created": time.time()}, allow_nan=False))
        atomic_write(target, lambda stream: np.savez(stream, allow_pickle=False, **payload))
        return self._evict(keep=key)

    def clear(self) -> int:
        """Remove every entry and leftover temporary file; returns the number of entries removed."""
        removed = 0
        for path in self._files(f"*{ENTRY_SUFFIX}"):
            path.unlink(missing_ok=True)
            removed += 1
        for path in self._files(f".*{TEMP_SUFFIX}"):
            path.unlink(missing_ok=True)
        return removed

    def usage(self) -> StoreUsage:
        entries = self._entries_by_age()
        return StoreUsage(len(entries), sum(size for _, _, size in entries), self.max_bytes, self.root)

    def _files(self, pattern: str) -> list[Path]:
        return list(self.entries_dir.glob(pattern)) if self.entries_dir.is_dir() else []

    def _entries_by_age(self) -> list[tuple[float, Path, int]]:
        """(last use, path, size) of every entry, least recently used first."""
        entries = []
        for path in self._files(f"*{ENTRY_SUFFIX}"):
            try:
                stat = path.stat()
            except FileNotFoundError:  # removed by a concurrent process
                continue
            entries.append((stat.st_mtime, path, stat.st_size))
        return sorted(entries)

    def _evict(self, keep: str) -> bool:
        """Drop stale temporary files, then least recently used entries until within the cap; True if ``keep``
        survived."""
        now = time.time()
        for path in self._files(f".*{TEMP_SUFFIX}"):
            try:
                if now - path.stat().st_mtime > STALE_TEMP_SECONDS:
                    path.unlink(missing_ok=True)
            except FileNotFoundError:
                continue
        entries = self._entries_by_age()
        kept = self.path(keep)
        total = sum(size for _, _, size in entries)
        for _, path, size in sorted(entries, key=lambda entry: entry[1] == kept):  # ``keep`` goes last
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
        return kept.exists()


def _check_arrays(arrays: dict[str, np.ndarray]) -> None:
    for name, array in arrays.items():
        if name == _META_NAME or not name.isidentifier():
            raise ValueError(f"array name {name!r} is not allowed in the feature store")
        if np.asarray(array).dtype.hasobject:
            raise ValueError(f"array {name!r} holds Python objects; the feature store keeps numeric arrays only")


def _remove(path: Path) -> None:
    """Delete a damaged entry if we can (a read-only store keeps it, and it stays a miss)."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def _touch(path: Path) -> None:
    """Mark ``path`` as just used (the LRU clock); a concurrent eviction may have removed it already."""
    try:
        os.utime(path)
    except FileNotFoundError:
        pass
