"""What the feature store and the ranking table need of a model, remembered so a fully cached run never loads it.

Loading a checkpoint (Keras / ONNX conversion, hashing every weight for the fingerprint) costs seconds per model;
once features are cached that is most of a repeated ``rank``. After a model is loaded once, its
:class:`ModelManifest` (fingerprint, preprocessing, layer, whether it has a source head, card) is written as JSON
under ``models/`` in the feature store's root, keyed by the *source identity*: the model ID and layer, the installed
versions of torch / torchvision / timm / onnx2torch, a hash of this package's model-adapter code, and the files the
weights come from. A ``file:`` or ``onnx:`` checkpoint is identified by the sha256 of its bytes, hashed on every
request (about 0.1 s per 100 MB, against seconds to load the model), so a replacement with the same size and
modification time is noticed. The zoo's asset-package files are identified by size and modification time: only
``pip`` rewrites them, and hashing the whole zoo (~400 MB) would add a noticeable share to a fully cached ``rank``.
Any change to those gives another key, so a stale manifest is never used. ``timm:`` and ``torchvision:``
models come from a hub whose files are resolved while loading: they have no source identity and are always loaded.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from transfer_core.cache.atomic import atomic_write
from transfer_core.cache.layout import MANIFEST_SUFFIX, MANIFESTS, claim
from transfer_core.models.base import LoadedModel, ModelCard, Preprocessing
from transfer_core.models.errors import ModelLoadError
from transfer_core.models.ids import parse

MANIFEST_VERSION = 1
_PACKAGES = ("torch", "torchvision", "timm", "onnx2torch")


@dataclass(frozen=True)
class ModelManifest:
    """A loaded model's identity for the feature store (``fingerprint``, ``preprocessing``, ``layer``, ``has_head``)
    and its card."""

    model_id: str
    fingerprint: str
    preprocessing: Preprocessing
    layer: str
    has_head: bool
    card: ModelCard

    @classmethod
    def of(cls, model: LoadedModel) -> "ModelManifest":
        return cls(model.model_id, model.fingerprint, model.preprocessing, model.layer, model.head is not None,
                   model.card)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelManifest":
        preprocessing = {key: tuple(value) if isinstance(value, list) else value
                         for key, value in data["preprocessing"].items()}
        return cls(data["model_id"], data["fingerprint"], Preprocessing(**preprocessing), data["layer"],
                   bool(data["has_head"]), ModelCard(**data["card"]))


def read_manifest(model_id: str, layer: str | None, root: Path) -> ModelManifest | None:
    """The remembered manifest of ``model_id`` at ``layer``, or None (no source identity, never loaded, changed
    since, or an unreadable file)."""
    path = _manifest_path(model_id, layer, root)
    if path is None:
        return None
    try:
        manifest = ModelManifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return manifest if manifest.model_id == model_id else None


def remember_manifest(model: LoadedModel | ModelManifest, layer: str | None, root: Path) -> None:
    """Write ``model``'s manifest (a no-op for models without a source identity; a failed write only costs a
    later load). A manifest made elsewhere (a Ray worker that loaded the model from the same files) is kept as is."""
    path = _manifest_path(model.model_id, layer, root)
    if path is None:
        return
    manifest = model if isinstance(model, ModelManifest) else ModelManifest.of(model)
    text = json.dumps(manifest.to_dict(), sort_keys=True).encode("utf-8")
    try:
        claim(Path(root), MANIFESTS)
        atomic_write(path, lambda stream: stream.write(text))
    except OSError:
        pass


def _manifest_path(model_id: str, layer: str | None, root: Path) -> Path | None:
    try:
        source, rest = parse(model_id)
    except ModelLoadError:
        return None
    files = source.files(rest)
    if files is None:
        return None
    identify = _file_content if source.content_hashed else _file_state
    identity = {"manifest": MANIFEST_VERSION, "model_id": model_id, "layer": layer, "code": _adapter_code_hash(),
                "packages": _package_versions(), "files": [identify(path) for path in files]}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()
    return Path(root) / MANIFESTS.folder / f"{digest}{MANIFEST_SUFFIX}"


def _file_content(path: Path) -> list:
    """(resolved path, sha256 of the bytes) of ``path``, read afresh; a missing file gives an identity no load can
    match."""
    try:
        with open(path, "rb") as handle:
            return [str(path.resolve()), hashlib.file_digest(handle, "sha256").hexdigest()]
    except OSError:
        return [str(path), None]


def _file_state(path: Path) -> list:
    """(resolved path, size, modification time) of ``path``; a missing file gives an identity no load can match."""
    try:
        stat = path.stat()
    except OSError:
        return [str(path), None, None]
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


@functools.cache
def _adapter_code_hash() -> str:
    """sha256 of this package's model-adapter sources: an adapter change invalidates every manifest."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@functools.cache
def _package_versions() -> dict[str, str | None]:
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions
