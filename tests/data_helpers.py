"""Small image files for the dataset-source tests (shared by tests/test_data_*.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, seed: int, size: tuple[int, int] = (12, 10), fmt: str | None = None) -> Path:
    """A small random RGB image (distinct bytes per seed) saved at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def write_class_folder(root: Path, counts: dict[str, int]) -> Path:
    """``root/<class>/img_<k>.png`` with ``counts[class]`` distinct images per class."""
    seed = 0
    for label, count in counts.items():
        for k in range(count):
            write_image(root / label / f"img_{k:03d}.png", seed)
            seed += 1
    return root
