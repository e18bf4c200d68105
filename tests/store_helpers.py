"""Helpers for the store tests: files made old, and writers that really die mid-write (shared by tests/test_store*.py,
tests/test_data_archive.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_DIE_WHILE_WRITING = """
import os, sys
from pathlib import Path
from transfer_core.cache.atomic import atomic_write
def die(stream):
    stream.write(b"PK half-written")
    stream.flush()
    os._exit(3)
atomic_write(Path(sys.argv[1]), die)
"""


def age(path: Path, seconds_ago: float) -> None:
    stamp = time.time() - seconds_ago
    os.utime(path, (stamp, stamp))


def python(code: str, *args: str, **popen) -> subprocess.Popen:
    """Another Python process running ``code`` with this repository importable."""
    return subprocess.Popen([sys.executable, "-c", code, *args], env={**os.environ, "PYTHONPATH": str(REPO)},
                            **popen)


def crashed_write(target: Path) -> Path:
    """The temporary file an ``atomic_write`` of ``target`` leaves behind when its process dies mid-write."""
    before = set(target.parent.iterdir()) if target.parent.is_dir() else set()
    assert python(_DIE_WHILE_WRITING, str(target)).wait(timeout=60) == 3
    (leftover,) = set(target.parent.iterdir()) - before
    assert not target.exists() and leftover.name.startswith(f".{target.name}.")
    return leftover
