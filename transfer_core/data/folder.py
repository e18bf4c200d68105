"""An image folder with one sub-folder per class (images may sit deeper inside a class folder)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import SkippedFile
from .catalogue import Catalogue
from .images import file_catalogue

FOLDER_HINT = "Put each class's images in its own sub-folder, e.g. DATA/cat/1.jpg and DATA/dog/2.png."
_IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}  # operating-system clutter, like hidden files


def is_ignored(name: str) -> bool:
    """Hidden files and folders (``.name``) and operating-system clutter are not part of a dataset."""
    return name.startswith(".") or name in _IGNORED_NAMES


def visible_entries(folder: Path) -> list[Path]:
    """The folder's entries that are not ignored, sorted by name."""
    return sorted(entry for entry in folder.iterdir() if not is_ignored(entry.name))


def folder_catalogue(root: Path, name: str | None = None) -> Catalogue:
    """Every visible file under each class sub-folder of ``root`` (label = the sub-folder's name); files directly
    in ``root`` and class folders without files are reported as skipped."""
    paths, labels, skipped = [], [], []
    for entry in visible_entries(root):
        if not entry.is_dir():
            skipped.append(SkippedFile(entry.name, "not inside a class folder (each class needs its own sub-folder)"))
            continue
        files = _files_under(entry)
        if not files:
            skipped.append(SkippedFile(f"{entry.name}/", "class folder has no files"))
        paths += files
        labels += [entry.name] * len(files)
    return file_catalogue(
        name or root.name,
        f"image folder {root} ({len(set(labels))} class folders)",
        paths,
        [path.relative_to(root).as_posix() for path in paths],
        labels=np.array(labels, dtype=str),
        skipped=skipped,
        hint=FOLDER_HINT,
    )


def _files_under(folder: Path) -> list[Path]:
    """Visible files anywhere below ``folder`` (ignored sub-folders pruned), in sorted path order."""
    found = []
    for directory, subfolders, files in os.walk(folder):
        subfolders[:] = [sub for sub in subfolders if not is_ignored(sub)]
        found += [Path(directory, file) for file in files if not is_ignored(file)]
    return sorted(found)
