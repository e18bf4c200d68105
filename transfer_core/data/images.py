"""Image files on disk: telling real images from everything else, and opening them lazily."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .base import SkippedFile
from .catalogue import Catalogue
from .errors import DatasetError
from .fingerprint import file_sha256, file_state

# Formats decoded by Pillow itself; others (EPS runs Ghostscript, for one) are refused for untrusted files.
READABLE_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError)


def image_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be used as an image (a short reason), or None when it decodes completely.

    Judged by content, not by extension; the verdict is cached per file state (path, size, modification time).
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return "not a regular file"
        state = file_state(path)
    except FileNotFoundError:
        return "file not found"
    except OSError as error:
        return f"unreadable ({error.strerror or error})"
    return _decode_problem(*state)


@lru_cache(maxsize=1 << 16)
def _decode_problem(real_path: str, size: int, mtime_ns: int) -> str | None:
    if size == 0:
        return "empty file"
    try:
        with Image.open(real_path, formats=READABLE_FORMATS) as image:
            image.draft(image.mode, (1, 1))  # JPEG decodes at 1/8 scale: fast, and still reads every byte
            image.load()
    except Image.DecompressionBombError as error:
        return f"image too large ({error})"
    except UnidentifiedImageError:
        return f"not an image (or not one of {', '.join(READABLE_FORMATS)})"
    except PermissionError:
        return "unreadable (permission denied)"
    except _DECODE_ERRORS as error:
        return f"corrupt or truncated image ({error})"
    return None


@dataclass(frozen=True)
class FileImages:
    """Image files opened on demand (EXIF orientation applied); identified by their content hashes."""

    paths: tuple[Path, ...]

    def open(self, index: int) -> Image.Image:
        path = self.paths[index]
        try:
            with Image.open(path, formats=READABLE_FORMATS) as image:
                image.load()
                return ImageOps.exif_transpose(image)
        except _DECODE_ERRORS as error:
            raise DatasetError(f"could not read {path} ({error}); it changed or vanished after the dataset was "
                               "loaded: load the dataset again") from error

    def keys(self, indices: Sequence[int]) -> list[str]:
        return [file_sha256(self.paths[i]) for i in indices]


def file_catalogue(name: str, description: str, paths: Sequence[Path], shown: Sequence[str], *,
                   labels: np.ndarray | None = None, targets: np.ndarray | None = None,
                   skipped: Sequence[SkippedFile] = (), hint: str = "") -> Catalogue:
    """A catalogue of the candidate files that are real images; the others are listed in ``skipped`` (as
    ``shown``) with the reason, after any the source already skipped."""
    problems = [image_problem(path) for path in paths]
    usable = np.array([problem is None for problem in problems], dtype=bool)
    return Catalogue(
        name=name,
        description=description,
        source="files",
        images=FileImages(tuple(path for path, ok in zip(paths, usable) if ok)),
        item_names=[text for text, ok in zip(shown, usable) if ok],
        labels=None if labels is None else np.asarray(labels)[usable],
        targets=None if targets is None else np.asarray(targets, dtype=np.float64)[usable],
        skipped=[*skipped, *(SkippedFile(text, problem) for text, problem in zip(shown, problems) if problem)],
        hint=hint,
    )
