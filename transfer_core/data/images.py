"""Image files on disk: telling real images from everything else, and opening them lazily.

High-bit-depth files (16-bit, 32-bit integer, float) are opened as 8-bit images by one map for the whole catalogue
(:mod:`.intensity`), whose range is read in the same pass that checks each file decodes.
"""

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
from .intensity import IntensityMap, PixelRange, UnmappablePixels, pixel_range

# Formats decoded by Pillow itself; others (EPS runs Ghostscript, for one) are refused for untrusted files.
READABLE_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError)


def _examine(path: str | os.PathLike) -> tuple[str | None, PixelRange | None]:
    """(Why ``path`` cannot be used as an image, a short reason; None), or (None, its pixel range if it is a
    high-bit-depth image) when it decodes completely.

    Judged by content, not by extension; the verdict is cached per file state (path, size, modification time).
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return "not a regular file", None
        state = file_state(path)
    except FileNotFoundError:
        return "file not found", None
    except OSError as error:
        return f"unreadable ({error.strerror or error})", None
    return _decode(*state)


@lru_cache(maxsize=1 << 16)
def _decode(real_path: str, size: int, mtime_ns: int) -> tuple[str | None, PixelRange | None]:
    if size == 0:
        return "empty file", None
    try:
        with Image.open(real_path, formats=READABLE_FORMATS) as image:
            image.draft(image.mode, (1, 1))  # JPEG (always 8-bit) decodes at 1/8 scale: fast, reads every byte
            image.load()
            return None, pixel_range(image)
    except Image.DecompressionBombError as error:
        return f"image too large ({error})", None
    except UnidentifiedImageError:
        return f"not an image (or not one of {', '.join(READABLE_FORMATS)})", None
    except PermissionError:
        return "unreadable (permission denied)", None
    except UnmappablePixels as error:
        return str(error), None
    except _DECODE_ERRORS as error:
        return f"corrupt or truncated image ({error})", None


@dataclass(frozen=True)
class FileImages:
    """Image files opened on demand (EXIF orientation applied, high-bit-depth ones mapped to 8 bits by
    ``intensity``); identified by their content hashes."""

    paths: tuple[Path, ...]
    intensity: IntensityMap | None = None

    def open(self, index: int) -> Image.Image:
        path = self.paths[index]
        try:
            with Image.open(path, formats=READABLE_FORMATS) as image:
                image.load()
                image = ImageOps.exif_transpose(image)
                return image if self.intensity is None else self.intensity.apply(image)
        except _DECODE_ERRORS as error:
            raise DatasetError(f"could not read {path} ({error}); it changed or vanished after the dataset was "
                               "loaded: load the dataset again") from error

    def keys(self, indices: Sequence[int]) -> list[str]:
        return [file_sha256(self.paths[i]) for i in indices]


def file_catalogue(name: str, description: str, paths: Sequence[Path], shown: Sequence[str], *,
                   labels: np.ndarray | None = None, targets: np.ndarray | None = None,
                   skipped: Sequence[SkippedFile] = (), hint: str = "") -> Catalogue:
    """A catalogue of the candidate files that are real images; the others are listed in ``skipped`` (as
    ``shown``) with the reason, after any the source already skipped. High-bit-depth images share one intensity
    map, recorded in the catalogue's source (hence its fingerprint) and told once in its notes."""
    problems, ranges = zip(*map(_examine, paths)) if paths else ((), ())
    usable = np.array([problem is None for problem in problems], dtype=bool)
    intensity = IntensityMap.spanning(ranges)
    return Catalogue(
        name=name,
        description=description,
        source="files" if intensity is None else f"files, {intensity.identity}",
        images=FileImages(tuple(path for path, ok in zip(paths, usable) if ok), intensity),
        item_names=[text for text, ok in zip(shown, usable) if ok],
        labels=None if labels is None else np.asarray(labels)[usable],
        targets=None if targets is None else np.asarray(targets, dtype=np.float64)[usable],
        skipped=[*skipped, *(SkippedFile(text, problem) for text, problem in zip(shown, problems) if problem)],
        hint=hint,
        notes=[] if intensity is None else [intensity.note(int(usable.sum()))],
    )
