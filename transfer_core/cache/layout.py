"""What the store keeps under its root, and counting, evicting and clearing exactly that.

Each folder under the root holds items the store names in a fixed way (:data:`KINDS`); anything else there (a user's
files, when ``$TRANSFER_SCOUT_CACHE`` points at a shared folder) is never counted, evicted or removed. Writers stage
under hidden temporary names; a staging file or folder older than :data:`STALE_SECONDS` that no live writer holds
(:mod:`transfer_core.cache.locks`) is abandoned and removed. The store marks a root with :data:`MARKER` when it
creates it; :func:`clear` refuses a non-empty root without the marker unless all it holds are the store's folders (a
store from before the marker). Feature entries, feature rows per image (one item per model,
:mod:`transfer_core.cache.rows`) and extracted datasets count against the size cap and are evicted least recently
used first ("used" = modification time, bumped on every read or reuse), and so do exported ONNX
graphs and their verdicts (:mod:`transfer_core.engines.graphs`): each is as large as its model's weights (tens of MB),
and rebuilt from the model in seconds when evicted, so the cap the user set holds them too. Model manifests (a few
KB), fine-tuning runs (hours of work) and uploads (the user's own files) are counted and cleared, never evicted.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from transfer_core.cache.atomic import TEMP_SUFFIX
from transfer_core.cache.locks import release, remove_unless_held
from transfer_core.errors import TransferScoutError

DIGEST = "[0-9a-f]{64}"
ENTRY_SUFFIX = ".npz"
MANIFEST_SUFFIX = ".json"
GRAPH_SUFFIX = ".onnx"
VERDICT_SUFFIX = ".json"
EXTRACTING_PREFIX = ".extracting-"
MARKER = ".transfer-scout-cache"
STALE_SECONDS = 3600.0  # a staging file or folder this old, that no process holds, belongs to a writer that died
_MARKER_TEXT = "Transfer Scout cache: `python -m transfer_core cache clear` removes only what the cache wrote here.\n"
_RANDOM = "[a-z0-9_]+"  # the random part of ``tempfile`` names


def _atomic_temp(name: str) -> re.Pattern:
    """The temporary names :func:`~transfer_core.cache.atomic.atomic_write` uses for targets named like ``name``."""
    return re.compile(rf"\.{name}\.{_RANDOM}{re.escape(TEMP_SUFFIX)}")


@dataclass(frozen=True)
class Kind:
    """One folder of the store: the names its items have, whether they count against the size cap, and the
    temporary names its writers use beside the items (inside each item when ``nested``)."""

    folder: str
    label: str
    item: re.Pattern
    is_folder: bool
    capped: bool
    staging: re.Pattern
    nested: bool = False


FEATURES = Kind("entries", "feature entries", re.compile(DIGEST + re.escape(ENTRY_SUFFIX)), False, True,
                _atomic_temp(DIGEST + re.escape(ENTRY_SUFFIX)))
DATASETS = Kind("datasets", "extracted zip datasets", re.compile("zip-[0-9a-f]{32}"), True, True,
                re.compile(re.escape(EXTRACTING_PREFIX) + _RANDOM))
MANIFESTS = Kind("models", "model manifests", re.compile(DIGEST + re.escape(MANIFEST_SUFFIX)), False, False,
                 _atomic_temp(DIGEST + re.escape(MANIFEST_SUFFIX)))
RUNS = Kind("groundtruth", "fine-tuning runs", re.compile(DIGEST), True, False,  # transfer_core.groundtruth.runstore
            _atomic_temp(".+"), nested=True)
UPLOADS = Kind("uploads", "uploads", re.compile("[0-9a-f]{16}"), True, False,  # transfer_core.uploads
               re.compile(r"\.upload-" + _RANDOM), nested=True)
_GRAPH_ITEM = DIGEST + f"(?:{re.escape(GRAPH_SUFFIX)}|{re.escape(VERDICT_SUFFIX)})"
GRAPHS = Kind("graphs", "exported ONNX graph files", re.compile(_GRAPH_ITEM), False, True,  # engines/graphs.py
              _atomic_temp(_GRAPH_ITEM))
ROWS = Kind("rows", "feature rows per image", re.compile(DIGEST), True, True,  # transfer_core.cache.rows
            _atomic_temp(DIGEST + re.escape(ENTRY_SUFFIX)), nested=True)
KINDS = (FEATURES, DATASETS, MANIFESTS, RUNS, UPLOADS, GRAPHS, ROWS)


class NotAStoreError(TransferScoutError, ValueError):
    """:func:`clear` was pointed at a folder that does not look like the store's."""


@dataclass(frozen=True)
class KindUsage:
    kind: Kind
    count: int
    bytes: int


@dataclass(frozen=True)
class StoreUsage:
    """How full the store is; ``entries`` and ``bytes`` are what counts against ``max_bytes``."""

    root: Path
    max_bytes: int
    kinds: tuple[KindUsage, ...]

    @property
    def entries(self) -> int:
        return sum(usage.count for usage in self.kinds if usage.kind.capped)

    @property
    def bytes(self) -> int:
        return sum(usage.bytes for usage in self.kinds if usage.kind.capped)


@dataclass(frozen=True)
class Cleared:
    """What :func:`clear` removed, by kind label, and how many items it kept because another process uses them."""

    removed: dict[str, int]
    in_use: int


def extracted_name(zip_sha256: str) -> str:
    """The folder name of a zip's extraction under ``datasets/``, from the zip's content hash."""
    return f"zip-{zip_sha256[:32]}"


def claim(root: Path, kind: Kind) -> Path:
    """``kind``'s folder under ``root``, created; a new root (or one holding only the store's folders) is marked."""
    root.mkdir(parents=True, exist_ok=True)
    marker = root / MARKER
    if not marker.is_file() and not _foreign(root):
        marker.write_text(_MARKER_TEXT, encoding="utf-8")
    folder = root / kind.folder
    folder.mkdir(exist_ok=True)
    return folder


def touch(path: Path) -> None:
    """Mark ``path`` as just used (the LRU clock); a concurrent eviction may have removed it already."""
    try:
        os.utime(path)
    except FileNotFoundError:
        pass


def usage(root: Path, max_bytes: int) -> StoreUsage:
    kinds = []
    for kind in KINDS:
        sizes = [size for _, _, size in _sized_items(root, kind)]
        kinds.append(KindUsage(kind, len(sizes), sum(sizes)))
    return StoreUsage(root, max_bytes, tuple(kinds))


def evict(root: Path, max_bytes: int, keep: Path | None = None) -> bool:
    """Remove abandoned staging, then the least recently used capped items (``keep`` last, items in use never)
    until they fit in ``max_bytes``; True when ``keep`` survived."""
    _drop_abandoned_staging(root)
    items = sorted(item for kind in KINDS if kind.capped for item in _sized_items(root, kind))
    total = sum(size for _, _, size in items)
    for _, path, size in sorted(items, key=lambda item: item[1] == keep):  # stable: LRU order, ``keep`` last
        if total <= max_bytes:
            break
        if _remove(path):
            total -= size
    return keep is None or keep.exists()


def clear(root: Path) -> Cleared:
    """Remove every item the store wrote under ``root`` (this process's pins released; folders another process uses
    are kept) and its abandoned staging; raises :class:`NotAStoreError` for a root that is not the store's."""
    _check_is_store(root)
    _drop_abandoned_staging(root)
    removed, in_use = {}, 0
    for kind in KINDS:
        removed[kind.label] = 0
        for path in _items(root, kind):
            release(path)
            if _remove(path):
                removed[kind.label] += 1
            else:
                in_use += 1
        try:
            (root / kind.folder).rmdir()  # only when nothing is left in it
        except OSError:
            pass
    return Cleared(removed, in_use)


def _check_is_store(root: Path) -> None:
    if not root.exists():
        return
    if not root.is_dir():
        raise NotAStoreError(f"the cache root {root} is not a folder; set TRANSFER_SCOUT_CACHE to a folder")
    foreign = _foreign(root)
    if foreign and not (root / MARKER).is_file():
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise NotAStoreError(f"refusing to clear {root}: it has no {MARKER} file and holds {shown}, which the cache "
                             "did not write; nothing was removed (point TRANSFER_SCOUT_CACHE at a folder of its own)")


def _foreign(root: Path) -> list[str]:
    """Visible names directly under ``root`` that are not the store's folders."""
    folders = {kind.folder for kind in KINDS}
    return sorted(entry.name for entry in _scan(root)
                  if not entry.name.startswith(".") and not (entry.name in folders and entry.is_dir()))


def _scan(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _named(folder: Path, pattern: re.Pattern, is_folder: bool | None) -> list[Path]:
    """Entries of ``folder`` named by ``pattern`` that are real folders (``is_folder``), real files (not
    ``is_folder``) or either (None); never links."""
    found = []
    for entry in _scan(folder):
        if pattern.fullmatch(entry.name) and not entry.is_symlink():
            if is_folder is None or entry.is_dir(follow_symlinks=False) == is_folder:
                found.append(Path(entry.path))
    return found


def _items(root: Path, kind: Kind) -> list[Path]:
    return _named(root / kind.folder, kind.item, kind.is_folder)


def _sized_items(root: Path, kind: Kind) -> list[tuple[float, Path, int]]:
    """(last use, path, bytes) of every item of ``kind``."""
    sized = []
    for path in _items(root, kind):
        try:
            stat = path.stat()
            sized.append((stat.st_mtime, path, _tree_bytes(path) if kind.is_folder else stat.st_size))
        except FileNotFoundError:  # removed by a concurrent process
            continue
    return sized


def _tree_bytes(folder: Path) -> int:
    total = 0
    for directory, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except FileNotFoundError:
                continue
    return total


def _drop_abandoned_staging(root: Path) -> None:
    now = time.time()
    for kind in KINDS:
        places = [root / kind.folder] + (_items(root, kind) if kind.nested else [])
        for place in places:
            for path in _named(place, kind.staging, None):
                try:
                    stale = now - path.lstat().st_mtime > STALE_SECONDS
                except FileNotFoundError:
                    continue
                if stale:
                    _remove(path)  # a folder a live writer holds is kept


def _remove(path: Path) -> bool:
    """Delete a file, or a folder no process holds; True when it is gone."""
    if path.is_dir():
        return remove_unless_held(path)
    path.unlink(missing_ok=True)
    return True
