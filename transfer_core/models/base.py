"""What a model source resolves to: a feature extractor, its preprocessing, its source head and its card."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the model's input tensor (timm-style pretrained config).

    ``resize`` is the shorter-side size before the centre crop to ``input_size`` (H, W); pixel values are scaled to
    ``[0, value_scale]``, put in ``channels`` order ("RGB", "BGR" or "L"), then normalised with ``mean`` / ``std``
    given in those scaled units.
    """

    input_size: tuple[int, int] = (224, 224)
    resize: int = 256
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    interpolation: str = "bilinear"  # "bilinear" | "bicubic" | "nearest"
    channels: str = "RGB"
    value_scale: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ModelCard:
    """Plain facts shown to users next to a model."""

    model_id: str
    architecture: str
    pretrained_on: str
    licence: str
    parameters: int
    feature_dim: int
    source: str  # where the weights come from (package, hub name, file path)
    notes: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LoadedModel:
    """A resolved model ID.

    ``extractor`` maps a preprocessed batch ``[B, C, H, W]`` to pooled features ``[B, D]``; ``head`` (or None when the
    checkpoint has no source classifier) maps those features to source-class logits ``[B, C_s]``. ``fingerprint``
    identifies weights + preprocessing + layer: the feature store keys on it.
    """

    model_id: str
    extractor: torch.nn.Module
    preprocessing: Preprocessing
    card: ModelCard
    fingerprint: str
    head: torch.nn.Module | None = None
    layer: str = "penultimate"
    extra: dict = field(default_factory=dict)

