"""Safe extraction of a zipped image folder into the cache, then loading it as a folder.

Every entry is checked before anything is written: no absolute paths, no ``..`` components, no symbolic links, no
encrypted entries, no duplicates, and limits on the number of files and the total uncompressed size (a zip bomb
is refused). ``zipfile`` itself stops each entry at its declared size and checks its CRC, so the declared sizes
that the limit checks are the sizes written. The extraction lives in the store's ``datasets/`` folder, counts
against its size cap like feature entries, and stays pinned (:mod:`transfer_core.cache.locks`) while the process
that extracted or reused it runs, so no eviction pulls it from under the images being read.
"""

from __future__ import annotations

import lzma
import re
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..cache.layout import DATASETS, EXTRACTING_PREFIX, extracted_name, touch
from ..cache.locks import Staging, pin
from ..cache.store import FeatureStore
from .catalogue import Catalogue
from .errors import DatasetError
from .fingerprint import file_sha256
from .folder import folder_catalogue, visible_entries

_SUPPORTED_COMPRESSION = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ZipLimits:
    """The most a dataset zip may expand to."""

    max_files: int = 100_000
    max_total_bytes: int = 4 * 2**30


def zip_catalogue(zip_path: Path, limits: ZipLimits = ZipLimits()) -> Catalogue:
    """The image folder inside ``zip_path`` (a single wrapping folder is looked through), extracted into the
    cache (``$TRANSFER_SCOUT_CACHE/datasets``) once per zip content."""
    folder = extract_zip(zip_path, FeatureStore(), limits)
    return folder_catalogue(_dataset_root(folder), name=zip_path.stem)


def extract_zip(zip_path: Path, store: FeatureStore, limits: ZipLimits = ZipLimits()) -> Path:
    """Extract ``zip_path`` into ``store``'s ``datasets/zip-<content hash>/`` (reused when already there), pin it for
    this process and return it; then evict what the store's size cap has no room for.

    Nothing is written unless every entry passes the checks; a failed extraction leaves nothing behind.
    """
    target = store.root / DATASETS.folder / extracted_name(file_sha256(zip_path))
    if pin(target):
        touch(target)
        return target
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = _checked_members(archive, zip_path, limits)
            with Staging(store.folder(DATASETS), EXTRACTING_PREFIX) as staging:
                for info, parts in members:
                    _write_member(archive, info, staging.path.joinpath(*parts))
                try:
                    staging.publish(target)
                except OSError:
                    if not pin(target):  # else a concurrent extraction of the same zip finished first
                        raise
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, lzma.LZMAError) as error:
        raise DatasetError(f"could not extract {zip_path} ({error}): check that it is a complete, unencrypted zip, "
                           "or unzip it yourself and give the folder") from error
    store.evict()
    return target


def _checked_members(archive: zipfile.ZipFile, zip_path: Path,
                     limits: ZipLimits) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """Every entry with its safe relative path parts; raises DatasetError naming the first unsafe entry."""
    members, seen, files, total = [], set(), 0, 0
    for info in archive.infolist():
        parts = _safe_parts(info, zip_path)
        if not parts:
            continue
        if parts in seen:
            raise DatasetError(f"refusing {zip_path}: entry {info.filename!r} appears twice")
        seen.add(parts)
        members.append((info, parts))
        if info.is_dir():
            continue
        files += 1
        total += info.file_size
        if files > limits.max_files:
            raise DatasetError(f"refusing {zip_path}: it holds more than {limits.max_files:,} files; split the "
                               "dataset or unzip it yourself and give the folder")
        if total > limits.max_total_bytes:
            raise DatasetError(f"refusing {zip_path}: it would expand to more than {limits.max_total_bytes:,} bytes "
                               "(a zip bomb, or a dataset too large for an upload); unzip it yourself and give the "
                               "folder")
    return members


def _safe_parts(info: zipfile.ZipInfo, zip_path: Path) -> tuple[str, ...]:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        raise DatasetError(f"refusing {zip_path}: entry {info.filename!r} has an absolute path")
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise DatasetError(f"refusing {zip_path}: entry {info.filename!r} points outside the archive ('..')")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise DatasetError(f"refusing {zip_path}: entry {info.filename!r} is a symbolic link")
    if info.flag_bits & 0x1:
        raise DatasetError(f"refusing {zip_path}: entry {info.filename!r} is encrypted; zip it without a password")
    if info.compress_type not in _SUPPORTED_COMPRESSION:
        raise DatasetError(f"refusing {zip_path}: entry {info.filename!r} uses an unsupported compression method "
                           f"({info.compress_type}); re-create the zip with standard (deflate) compression")
    return parts


def _write_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, destination: Path) -> None:
    if info.is_dir():
        destination.mkdir(parents=True, exist_ok=True)
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    with archive.open(info) as source, open(destination, "xb") as sink:
        shutil.copyfileobj(source, sink, 1 << 20)


def _dataset_root(folder: Path) -> Path:
    """Look through single wrapping folders (``data.zip`` holding ``data/cat/...``, ``data/dog/...``)."""
    entries = visible_entries(folder)
    while len(entries) == 1 and entries[0].is_dir() and any(child.is_dir() for child in visible_entries(entries[0])):
        folder = entries[0]
        entries = visible_entries(folder)
    return folder
