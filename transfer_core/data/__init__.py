"""Dataset sources: bundled demos, image folders, zips of them and CSVs of paths, as ``ImageDataset`` objects."""

from .base import ImageDataset, SkippedFile
from .errors import DatasetError
from .registry import list_datasets, load_dataset

__all__ = ["DatasetError", "ImageDataset", "SkippedFile", "list_datasets", "load_dataset"]
