"""``torchvision:NAME`` — a torchvision classification model with its DEFAULT pretrained weights enum."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import torch
from torch import nn

from transfer_core.models.assemble import CardFacts, Network, assemble
from transfer_core.models.base import LoadedModel, Preprocessing
from transfer_core.models.downloads import require_download
from transfer_core.models.errors import ModelLoadError


def split_classifier(model: nn.Module) -> nn.Linear:
    """Replace the model's final ``nn.Linear`` (its classifier) by Identity, so the model returns pre-logits; return it.

    torchvision classifiers are registered last (``fc``, ``classifier[-1]``, ``heads.head``), so the last Linear in
    registration order is the one that produces the logits.
    """
    name, linear = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
    parent_name, _, attribute = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, attribute, nn.Identity())
    return linear


def classifier_network(model: nn.Module, preprocessing: Preprocessing, extra: dict | None = None) -> Network:
    head = split_classifier(model)
    return Network(features=model, preprocessing=preprocessing, head=head, extra=extra or {})


def torchvision_preprocessing(weights) -> Preprocessing:
    transform = weights.transforms()
    crop = transform.crop_size[0]
    return Preprocessing(
        input_size=(crop, crop),
        resize=transform.resize_size[0],
        mean=tuple(transform.mean),
        std=tuple(transform.std),
        interpolation=transform.interpolation.value,
    )


def load_torchvision(name: str, layer: str | None) -> LoadedModel:
    """``torchvision:NAME``: weights from torch's hub cache, else downloaded (a clear error when offline)."""
    import torchvision

    if name not in torchvision.models.list_models(module=torchvision.models):
        raise ModelLoadError(
            f"unknown torchvision classification model {name!r}; "
            "`torchvision.models.list_models(module=torchvision.models)` lists names"
        )
    weights = torchvision.models.get_model_weights(name).DEFAULT
    cache_dir = os.path.join(torch.hub.get_dir(), "checkpoints")
    filename = os.path.basename(urlsplit(weights.url).path)
    if not os.path.isfile(os.path.join(cache_dir, filename)):
        require_download(
            weights.url,
            f"torchvision weights {weights}",
            f"Download {weights.url} where there is internet and put it in {cache_dir} (torchvision then loads it "
            f"offline), or load a weights file of a timm architecture with `file:/path/to/weights.pth?arch=NAME`.",
        )
    try:
        model = torchvision.models.get_model(name, weights=weights)
    except Exception as error:  # urllib / hash-check errors all mean "download failed" to the user
        raise ModelLoadError(
            f"torchvision could not load {weights} ({type(error).__name__}: {error}). Put {filename} in {cache_dir}."
        ) from error
    categories = weights.meta.get("categories", [])
    facts = CardFacts(
        architecture=f"torchvision {name}",
        pretrained_on=f"{weights} ({len(categories)} classes)",
        licence="BSD-3-Clause code; weights per torchvision's model docs",
        source=weights.url,
    )
    network = classifier_network(model, torchvision_preprocessing(weights), {"source_classes": list(categories)})
    return assemble(f"torchvision:{name}", network, facts, layer)
