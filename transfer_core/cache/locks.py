"""Advisory locks on the store's folders, so one process never deletes a folder another one is using.

A process that extracted or reused a dataset folder *pins* it: it holds a shared ``flock`` on the folder until it
exits (the kernel drops the lock when the process dies, however it dies). A staging folder being filled is held
exclusively by its writer. Whoever wants to delete a folder takes the exclusive lock without waiting and skips the
folder when it cannot. Where ``fcntl`` is missing (Windows) only this process's own pins are known.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

_DIRECTORY = getattr(os, "O_DIRECTORY", 0)  # refuse to open (and lock) a file that is not a folder
_PINNED: dict[str, int] = {}  # absolute folder path -> the open descriptor that holds its shared lock


def pin(folder: Path) -> bool:
    """Hold a shared lock on ``folder`` until this process exits; False (and nothing held) when it does not exist.

    Waits while another process is deleting it, then checks that the folder is still there.
    """
    name = os.path.abspath(folder)
    if name in _PINNED:
        return True
    descriptor = _open(folder)
    if descriptor is None:
        return False
    if fcntl is not None:
        fcntl.flock(descriptor, fcntl.LOCK_SH)
    if not _still_at(descriptor, folder):
        os.close(descriptor)
        return False
    _PINNED[name] = descriptor
    return True


def release(folder: Path) -> None:
    """Drop this process's pin on ``folder`` (if it holds one)."""
    descriptor = _PINNED.pop(os.path.abspath(folder), None)
    if descriptor is not None:
        os.close(descriptor)


def remove_unless_held(folder: Path) -> bool:
    """Delete ``folder`` unless a process (this one included) pins or fills it; True when it is gone."""
    if os.path.abspath(folder) in _PINNED:
        return False
    descriptor = _open(folder)
    if descriptor is None:
        return not folder.exists()
    try:
        if not _try_exclusive(descriptor):
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return not folder.exists()
    finally:
        os.close(descriptor)


class Staging:
    """A new hidden folder ``PREFIX*`` in ``parent``, held exclusively while it is filled; :meth:`publish` renames it
    to its final name and turns the hold into a pin. Leaving the ``with`` block removes whatever is left of it."""

    def __init__(self, parent: Path, prefix: str):
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        self._descriptor: int | None = os.open(self.path, os.O_RDONLY | _DIRECTORY)
        _try_exclusive(self._descriptor)  # a brand-new folder: nobody else can hold it yet

    def publish(self, target: Path) -> None:
        """Rename the staging folder to ``target`` (an OSError if ``target`` already exists) and pin it."""
        self.path.rename(target)
        if fcntl is not None:
            fcntl.flock(self._descriptor, fcntl.LOCK_SH)
        _PINNED[os.path.abspath(target)] = self._descriptor
        self._descriptor = None

    def __enter__(self) -> "Staging":
        return self

    def __exit__(self, *exc_info) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._descriptor is not None:
            os.close(self._descriptor)


def _open(folder: Path) -> int | None:
    try:
        return os.open(folder, os.O_RDONLY | _DIRECTORY)
    except OSError:
        return None


def _try_exclusive(descriptor: int) -> bool:
    """Take the exclusive lock without waiting; False when another holder has the folder."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _still_at(descriptor: int, folder: Path) -> bool:
    """Whether ``folder`` still names the folder open as ``descriptor`` (a concurrent removal may have won)."""
    try:
        here, opened = os.stat(folder), os.fstat(descriptor)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (opened.st_dev, opened.st_ino)
