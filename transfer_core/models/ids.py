"""Model IDs: the one table of model sources (prefix → loader, the files that identify its weights, ID form,
description) and the rules that parse, build and show IDs. Light: a source's code is imported only when it is used.

>>> source, rest = parse("file:/ckpt/w.safetensors?arch=resnet50")
>>> source.prefix, parse_file_spec(rest)
('file', (PosixPath('/ckpt/w.safetensors'), 'resnet50'))
>>> file_id("/ckpt/w.safetensors", "resnet50")
'file:/ckpt/w.safetensors?arch=resnet50'
>>> short_name("zoo:cnn-mnist"), short_name("timm:resnet18"), is_baseline("zoo:cnn-mnist-random")
('cnn-mnist', 'timm:resnet18', True)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs

from transfer_core.models.errors import ModelLoadError

RANDOM_SUFFIX = "-random"  # zoo:NAME-random: the same architecture with a seeded random initialisation
ZOO_PREFIX = "zoo:"


@dataclass(frozen=True)
class Source:
    """One kind of model ID. ``loader`` and ``identity`` name ``module:function``: ``loader(rest, layer)`` builds the
    model; ``identity(rest)`` lists the files its weights are read from (None: only known while loading, as for hub
    models), keyed by their content hash, or by size and modification time when ``content_hashed`` is False."""

    prefix: str
    form: str
    description: str
    loader: str
    identity: str | None = None
    content_hashed: bool = True

    def load(self, rest: str, layer: str | None):
        return _function(self.loader)(rest, layer)

    def files(self, rest: str) -> list[Path] | None:
        return None if self.identity is None else _function(self.identity)(rest)


SOURCES = {source.prefix: source for source in (
    Source("zoo", "zoo:NAME", "an offline checkpoint of the default zoo (zoo:NAME-random: its random-init twin)",
           "transfer_core.models.zoo:load_zoo", "transfer_core.models.zoo:weight_files", content_hashed=False),
    Source("timm", "timm:NAME", "any timm model with pretrained weights (downloaded, or from the local hub cache)",
           "transfer_core.models.timm_source:load_timm"),
    Source("torchvision", "torchvision:NAME", "a torchvision classification model with its DEFAULT weights",
           "transfer_core.models.torchvision_source:load_torchvision"),
    Source("file", "file:PATH?arch=TIMM_NAME", "a local .safetensors or weights-only .pth for a timm architecture",
           "transfer_core.models.file_source:load_file", "transfer_core.models.ids:file_spec_files"),
    Source("onnx", "onnx:PATH", "an ONNX image model, converted with onnx2torch",
           "transfer_core.models.onnx_source:load_onnx", "transfer_core.models.ids:onnx_files"),
)}
ID_FORMS = ", ".join(["zoo:NAME", "zoo:NAME-random", *(s.form for s in SOURCES.values() if s.prefix != "zoo")])


def _function(reference: str) -> Callable:
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def parse(model_id: str) -> tuple[Source, str]:
    """(source, the rest of the ID after ``PREFIX:``); a clear :class:`ModelLoadError` for a malformed ID."""
    prefix, separator, rest = model_id.partition(":")
    if not separator or not rest:
        raise ModelLoadError(f"model IDs look like {ID_FORMS}; got {model_id!r}")
    if prefix not in SOURCES:
        raise ModelLoadError(f"unknown model source {prefix!r}; model IDs look like {ID_FORMS}")
    return SOURCES[prefix], rest


def source_files(model_id: str) -> list[Path] | None:
    """The files ``model_id``'s weights are read from ([] for a random initialisation), or None when they are only
    known while loading (hub models) or the ID is malformed."""
    try:
        source, rest = parse(model_id)
    except ModelLoadError:
        return None
    return source.files(rest)


def parse_file_spec(spec: str) -> tuple[Path, str]:
    """``PATH?arch=NAME`` (the rest of a ``file:`` ID) → (path, arch)."""
    path, _, query = spec.rpartition("?") if "?" in spec else (spec, "", "")
    arch = parse_qs(query).get("arch", [""])[0]
    if not path or not arch:
        raise ModelLoadError(
            f"file model IDs look like `file:/path/to/weights.safetensors?arch=resnet50` (a timm architecture name); "
            f"got `file:{spec}`"
        )
    return Path(path).expanduser(), arch


def file_spec_files(spec: str) -> list[Path] | None:
    """The weights file of a ``file:`` ID (None when the ID is malformed)."""
    try:
        return [parse_file_spec(spec)[0]]
    except ModelLoadError:
        return None


def onnx_files(path: str) -> list[Path]:
    return [Path(path).expanduser()]


def file_id(path: str | Path, arch: str) -> str:
    """The ID of a local weights file for the timm architecture ``arch``."""
    return f"file:{path}?arch={arch}"


def onnx_id(path: str | Path) -> str:
    return f"onnx:{path}"


def zoo_id(name: str) -> str:
    return ZOO_PREFIX + name


def is_baseline(model_id: str) -> bool:
    """Random-init baselines are named ``…-random`` (e.g. ``zoo:cnn-mnist-random``)."""
    return model_id.endswith(RANDOM_SUFFIX)


def short_name(model_id: str) -> str:
    """``zoo:cnn-mnist`` → ``cnn-mnist`` for labels; other sources keep their prefix."""
    return model_id[len(ZOO_PREFIX):] if model_id.startswith(ZOO_PREFIX) else model_id


def display_names(model_ids: list[str]) -> dict[str, str]:
    """Each ID without its source prefix (``timm:resnet18`` → ``resnet18``) when that keeps them all apart."""
    bare = {model_id: model_id.partition(":")[2] if model_id.partition(":")[0] in SOURCES else model_id
            for model_id in model_ids}
    return bare if len(set(bare.values())) == len(bare) else {model_id: model_id for model_id in model_ids}
