"""Turn a built network into a ``LoadedModel``: layer choice, eval mode, card facts, fingerprint."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from transfer_core.models.base import LoadedModel, ModelCard, Preprocessing
from transfer_core.models.extractors import LayerFeatures
from transfer_core.models.fingerprint import model_fingerprint

PENULTIMATE = "penultimate"


@dataclass
class Network:
    """What an adapter builds.

    ``features`` maps a preprocessed batch to pooled penultimate features [B, D]; ``head`` maps those to source-class
    logits (None when the checkpoint has no classifier). A named layer is looked up in ``layers_of`` (default:
    ``features``), whose forward pass must run through it.
    """

    features: nn.Module
    preprocessing: Preprocessing
    head: nn.Module | None = None
    layers_of: nn.Module | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CardFacts:
    """The card entries an adapter knows; parameters and feature dim are measured on the built network."""

    architecture: str
    pretrained_on: str
    licence: str
    source: str
    notes: str = ""


_NOT_WEIGHTS = ("running_mean", "running_var", "num_batches_tracked")


def weight_count(modules: list[nn.Module | None]) -> int:
    """Number of trained values: parameters plus constant weights held as buffers (ONNX initializers), once each;
    BatchNorm running statistics are not counted."""
    tensors = {
        tensor.data_ptr(): tensor.numel()
        for module in modules
        if module is not None
        for name, tensor in module.state_dict(keep_vars=True).items()
        if tensor.is_floating_point() and not name.endswith(_NOT_WEIGHTS)
    }
    return sum(tensors.values())


def feature_dim(extractor: nn.Module, preprocessing: Preprocessing) -> int:
    """Width of the extractor's output, from one blank image at the model's native size."""
    channels = 1 if preprocessing.channels == "L" else 3
    with torch.inference_mode():
        return int(extractor(torch.zeros(1, channels, *preprocessing.input_size)).shape[1])


def assemble(model_id: str, network: Network, facts: CardFacts, layer: str | None) -> LoadedModel:
    """The ``LoadedModel`` for ``network`` at ``layer`` (None = penultimate; a named layer has no source head)."""
    if layer is None:
        extractor, head, layer_name = network.features, network.head, PENULTIMATE
    else:
        extractor, head, layer_name = LayerFeatures(network.layers_of or network.features, layer), None, layer
    extractor.eval()
    if head is not None:
        head.eval()
    card = ModelCard(
        model_id=model_id,
        architecture=facts.architecture,
        pretrained_on=facts.pretrained_on,
        licence=facts.licence,
        parameters=weight_count([extractor, head]),
        feature_dim=feature_dim(extractor, network.preprocessing),
        source=facts.source,
        notes=facts.notes,
    )
    return LoadedModel(
        model_id=model_id,
        extractor=extractor,
        preprocessing=network.preprocessing,
        card=card,
        fingerprint=model_fingerprint([extractor, head], network.preprocessing, layer_name, facts.architecture),
        head=head,
        layer=layer_name,
        extra=network.extra,
    )
