"""``timm:NAME`` — a timm architecture with its pretrained weights (hub, local cache), and timm helpers for others."""

from __future__ import annotations

import math
import os
from urllib.parse import urlsplit

import torch
from torch import nn

from transfer_core.models.assemble import CardFacts, Network, assemble
from transfer_core.models.base import LoadedModel, Preprocessing
from transfer_core.models.downloads import hub_endpoint, require_download
from transfer_core.models.errors import ModelLoadError
from transfer_core.models.extractors import TimmPreLogits

TIMM_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")  # all timm names but "random"
TIMM_CROP_MODES = ("center", "squash", "border")


def timm_preprocessing(model: nn.Module) -> Preprocessing:
    """The model's pretrained config as a ``Preprocessing`` that reproduces timm's eval transform
    (``create_transform(**resolve_data_config({}, model=model))``): input size, crop_pct, crop_mode, interpolation,
    mean / std. A setting timm's eval transform would apply that ``preprocess`` cannot is a ``ModelLoadError``."""
    from timm.data import DEFAULT_CROP_PCT, resolve_data_config

    config = resolve_data_config({}, model=model)
    name = getattr(model, "pretrained_cfg", {}).get("architecture", type(model).__name__)
    interpolation, crop_mode = config["interpolation"], config.get("crop_mode") or "center"
    if interpolation not in TIMM_INTERPOLATIONS:
        raise ModelLoadError(f"timm model {name!r} asks for interpolation {interpolation!r}; evaluation supports "
                             f"{', '.join(TIMM_INTERPOLATIONS)}")
    if crop_mode not in TIMM_CROP_MODES:
        raise ModelLoadError(f"timm model {name!r} asks for crop_mode {crop_mode!r}; supported: "
                             f"{', '.join(TIMM_CROP_MODES)}")
    _, height, width = config["input_size"]
    crop_pct = config["crop_pct"] or DEFAULT_CROP_PCT
    scale = (math.floor(height / crop_pct), math.floor(width / crop_pct))  # as transforms_imagenet_eval
    return Preprocessing(
        input_size=(height, width),
        resize=scale[0] if scale[0] == scale[1] else scale,  # timm resizes the shorter side only for a square scale
        mean=tuple(config["mean"]),
        std=tuple(config["std"]),
        interpolation=interpolation,
        crop_mode=crop_mode,
    )


def timm_network(model: nn.Module, preprocessing: Preprocessing | None = None) -> Network:
    """Pre-logits features, the classifier as head (none when the model has no classes), named blocks of the model."""
    classifier = model.get_classifier() if getattr(model, "num_classes", 0) else None
    return Network(
        features=TimmPreLogits(model),
        preprocessing=preprocessing or timm_preprocessing(model),
        head=classifier if isinstance(classifier, nn.Module) and not isinstance(classifier, nn.Identity) else None,
        layers_of=model,
    )


def check_timm_name(name: str) -> None:
    import timm

    if not timm.is_model(name):
        raise ModelLoadError(
            f"unknown timm model {name!r}; `python -c \"import timm; print(timm.list_models('resnet*'))\"` lists names"
        )


def _cached_weights(name: str) -> str | None:
    """A weights file for ``name`` already in the local Hugging Face or torch hub cache, if any."""
    from huggingface_hub import try_to_load_from_cache
    from timm.models import get_pretrained_cfg

    config = get_pretrained_cfg(name)
    if config is None:
        return None
    if config.hf_hub_id:
        for filename in (config.hf_hub_filename, "model.safetensors", "pytorch_model.bin"):
            found = filename and try_to_load_from_cache(config.hf_hub_id, filename)
            if isinstance(found, str):
                return found
    if config.url:
        local = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlsplit(config.url).path))
        if os.path.isfile(local):
            return local
    return None


def _download_url(name: str) -> str:
    from timm.models import get_pretrained_cfg

    config = get_pretrained_cfg(name)
    if config is None or not (config.hf_hub_id or config.url):
        raise ModelLoadError(f"timm has no pretrained weights for {name!r}; "
                             f"pick a name with a tag, e.g. 'resnet50.a1_in1k'")
    return hub_endpoint() if config.hf_hub_id else config.url


def load_timm(name: str, layer: str | None) -> LoadedModel:
    """``timm:NAME``: pretrained weights from the local cache, else downloaded (a clear error when offline)."""
    import timm

    check_timm_name(name)
    cached = _cached_weights(name)
    if cached is None:
        require_download(
            _download_url(name),
            f"timm weights for {name!r}",
            f"Download them where there is internet (e.g. `timm.create_model('{name}', pretrained=True)` fills the "
            f"Hugging Face cache, which is used offline), or save a weights file and use "
            f"`file:/path/to/weights.safetensors?arch={name}`.",
        )
    overlay = {"pretrained_cfg_overlay": {"file": cached}} if cached else {}
    try:
        model = timm.create_model(name, pretrained=True, **overlay)
    except Exception as error:  # the hub client raises many types; all mean the same to the user
        raise ModelLoadError(
            f"timm could not load pretrained weights for {name!r} ({type(error).__name__}: {error}). "
            f"Use a local file instead: `file:/path/to/weights.safetensors?arch={name}`."
        ) from error
    config = model.pretrained_cfg
    facts = CardFacts(
        architecture=config.get("architecture", name),
        pretrained_on=config.get("tag", "") or "timm default weights",
        licence=config.get("license", "see the model page"),
        source=f"timm {name}" + (f" ({cached})" if cached else ""),
    )
    return assemble(f"timm:{name}", timm_network(model), facts, layer)
