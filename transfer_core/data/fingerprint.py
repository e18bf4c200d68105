"""Stable dataset fingerprints (the feature store keys on them) and cached file content hashes."""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from typing import Sequence

import numpy as np

FINGERPRINT_FORMAT = 1


def file_state(path: str | os.PathLike) -> tuple[str, int, int]:
    """(real path, size, modification time in ns): a key that changes whenever the file is rewritten."""
    stat = os.stat(path)
    return os.path.realpath(path), stat.st_size, stat.st_mtime_ns


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 (hex) of a file's bytes, computed once per file state in this process."""
    return _sha256_of(*file_state(path))


@lru_cache(maxsize=1 << 16)
def _sha256_of(real_path: str, size: int, mtime_ns: int) -> str:
    with open(real_path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def dataset_fingerprint(source: str, item_keys: Sequence[str], labels: np.ndarray | None = None,
                        targets: np.ndarray | None = None) -> str:
    """sha256 over the source identity, the items' identities in order, and their labels or targets.

    ``source`` names where the items come from ("files" when ``item_keys`` are content hashes, so a folder, its zip
    and a CSV listing the same images in the same order share a fingerprint; "package==version/render" for bundled
    arrays whose keys are indices).
    """
    payload = {
        "format": FINGERPRINT_FORMAT,
        "source": source,
        "items": list(item_keys),
        "labels": None if labels is None else np.asarray(labels).tolist(),
        "targets": None if targets is None else np.asarray(targets, dtype=np.float64).tolist(),
    }
    canonical = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

