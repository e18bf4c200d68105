"""Uploaded bytes → files that the dataset and model sources read (``load_dataset(path)``, ``file:`` / ``onnx:`` ids).

An upload is written once per content under ``<root>/<sha256 prefix>/<cleaned name>`` (root default:
``$TRANSFER_SCOUT_CACHE/uploads``), so uploading the same file again gives the same path and its cached features
are reused. Names are reduced to safe characters; a folder upload (files with relative paths) is packed into a zip,
which ``load_dataset`` then extracts with its own safety checks.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Iterable

from transfer_core.cache.layout import UPLOADS, claim
from transfer_core.cache.store import default_root
from transfer_core.errors import TransferScoutError
from transfer_core.models.ids import file_id, onnx_id

DATASET_SUFFIXES = (".zip", ".csv")
CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
ONNX_SUFFIX = ".onnx"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadError(TransferScoutError, ValueError):
    """An upload that cannot be used, with what to do instead."""


def clean_name(name: str) -> str:
    """The last path component of ``name`` with anything but letters, digits, ``.``, ``_`` and ``-`` replaced.

    >>> clean_name("../My data (v2).zip")
    'My_data_v2_.zip'
    """
    base = re.split(r"[\\/]", name)[-1]
    cleaned = _UNSAFE.sub("_", base).lstrip(".")
    return cleaned or "upload"


def save_upload(name: str, data: bytes, root: str | os.PathLike | None = None) -> Path:
    """Write ``data`` to ``<root>/<sha256[:16]>/<clean name>`` (atomically, once per content) and return the path."""
    if not data:
        raise UploadError(f"{name!r} is empty; upload the file again")
    folder = Path(root) if root is not None else claim(default_root(), UPLOADS)
    target = folder / hashlib.sha256(data).hexdigest()[:16] / clean_name(name)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".upload-", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def zip_of_files(files: Iterable[tuple[str, bytes]]) -> bytes:
    """A zip holding each ``(relative path, bytes)`` under that path (as a browser's folder upload names them).

    The paths are stored as given: ``load_dataset`` refuses absolute paths, ``..`` and other unsafe entries when it
    extracts the zip.
    """
    buffer = io.BytesIO()
    count = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path, data in files:
            archive.writestr(path.replace("\\", "/"), data)
            count += 1
    if not count:
        raise UploadError("the folder upload holds no files; choose a folder with one sub-folder of images per class")
    return buffer.getvalue()


def checkpoint_model_id(path: str | os.PathLike, architecture: str = "") -> str:
    """The model id of an uploaded checkpoint: ``onnx:PATH`` for ``.onnx``, ``file:PATH?arch=NAME`` for weights files
    (which need the timm architecture they belong to)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ONNX_SUFFIX:
        return onnx_id(path)
    if suffix not in CHECKPOINT_SUFFIXES:
        raise UploadError(f"{path.name}: a checkpoint must be {', '.join(CHECKPOINT_SUFFIXES)} (weights for a timm "
                          f"architecture) or {ONNX_SUFFIX}")
    architecture = architecture.strip()
    if not architecture:
        raise UploadError(f"{path.name} holds weights only: give the timm architecture they belong to "
                          "(e.g. resnet50)")
    return file_id(path, architecture)
