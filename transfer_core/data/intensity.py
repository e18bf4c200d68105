"""Images with more than 8 bits per pixel (16-bit, 32-bit integer, 32-bit float) as 8-bit ones, by one linear map
for the whole dataset.

The rule: every such image of a dataset goes through the same line, from the darkest to the brightest pixel among
all of them (``[lo, hi]``) to 0–255, rounded. Never per image: absolute intensity is often the signal (X-ray
density, fluorescence), and a per-image stretch would erase it. 8-bit images (every other mode) are used as they
are; so are 16-bit colour files, which Pillow itself reads as 8-bit RGB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, NamedTuple

import numpy as np
from PIL import Image

_KINDS = {"I": "32-bit integer", "F": "32-bit float"}  # plus every "I;16..." mode (any byte order): "16-bit"


def depth_kind(mode: str) -> str | None:
    """How a single-channel mode with more than 8 bits per pixel is named in notes; None for an 8-bit mode."""
    return "16-bit" if mode.startswith("I;16") else _KINDS.get(mode)


class PixelRange(NamedTuple):
    """The kind (:func:`depth_kind`) of one high-bit-depth image and its darkest and brightest pixel value."""

    kind: str
    lo: float
    hi: float


class UnmappablePixels(Exception):
    """A high-bit-depth image with a pixel that no linear map can place (NaN or infinite)."""


def pixel_range(image: Image.Image) -> PixelRange | None:
    """The range of a high-bit-depth image (None for an 8-bit one); :class:`UnmappablePixels` when a pixel is NaN
    or infinite."""
    kind = depth_kind(image.mode)
    if kind is None:
        return None
    pixels = np.asarray(image)
    if not np.isfinite(pixels).all():
        raise UnmappablePixels(f"{kind} image with pixel values that are not finite (NaN or infinity)")
    return PixelRange(kind, float(pixels.min()), float(pixels.max()))


@dataclass(frozen=True)
class IntensityMap:
    """The dataset-wide line from ``[lo, hi]`` to 0–255 and how many images of each kind it maps."""

    lo: float
    hi: float
    counts: tuple[tuple[str, int], ...]

    @classmethod
    def spanning(cls, ranges: Iterable[PixelRange | None]) -> IntensityMap | None:
        """The map covering every high-bit-depth image's range (None entries are 8-bit images); None if none is."""
        ranges = [item for item in ranges if item is not None]
        if not ranges:
            return None
        kinds = [kind for kind in ("16-bit", *_KINDS.values()) if any(item.kind == kind for item in ranges)]
        counts = tuple((kind, sum(item.kind == kind for item in ranges)) for kind in kinds)
        return cls(min(item.lo for item in ranges), max(item.hi for item in ranges), counts)

    @property
    def identity(self) -> str:
        """What the fingerprint records: the exact range (the pixels the models see depend on it)."""
        return f"8-bit from [{self.lo!r}, {self.hi!r}]"

    def apply(self, image: Image.Image) -> Image.Image:
        """A high-bit-depth image as an 8-bit "L" image by this map; an 8-bit image as it is."""
        if depth_kind(image.mode) is None:
            return image
        scale = 255.0 / (self.hi - self.lo) if self.hi > self.lo else 0.0  # a constant dataset maps to black
        pixels = np.rint((np.asarray(image, dtype=np.float64) - self.lo) * scale)
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))

    def note(self, total: int) -> str:
        """The one sentence a user is told about this dataset's mapping (``total``: its usable images)."""
        mapped = sum(count for _, count in self.counts)
        kinds = " and ".join(f"{count} {'image is' if count == 1 else 'images are'} {kind}"
                             for kind, count in self.counts)
        rest = f" The other {total - mapped} (8-bit) are used as they are." if total > mapped else ""
        return (f"{kinds}: their intensities are mapped linearly from [{self.lo:g}, {self.hi:g}] (the darkest and "
                f"brightest pixel among them) to 0–255, for every image alike, so absolute intensity is kept.{rest}")
