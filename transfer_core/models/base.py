"""What a model source resolves to: a feature extractor, its preprocessing, its source head and its card."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the model's input tensor (timm-style pretrained config, timm's eval transform).

    The image is resized (with ``interpolation``) as ``crop_mode`` says, then centre-cropped to ``input_size`` (H, W):

    * "center": an int ``resize`` is the shorter side (the longer one keeps the aspect ratio, truncated, as
      torchvision's ``Resize(int)``); an (H, W) ``resize`` scales the image by one factor to just cover that box,
      sizes rounded (timm's ``ResizeKeepRatio``, which timm uses for a non-square input);
    * "squash": resized to exactly ``resize`` (H, W), an int meaning a square, whatever the aspect ratio;
    * "border": scaled by one factor to fit inside ``resize`` (H, W) (int: a square), sizes rounded, and padded with
      the ``mean`` colour (rounded to a grey level) where it is smaller than ``input_size``.

    Pixel values are then scaled to ``[0, value_scale]``, put in ``channels`` order ("RGB", "BGR" or "L"), and
    normalised with ``mean`` / ``std`` given in those scaled units.
    """

    input_size: tuple[int, int] = (224, 224)
    resize: int | tuple[int, int] = 256
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    interpolation: str = "bilinear"  # PIL's: "nearest" | "bilinear" | "bicubic" | "box" | "hamming" | "lanczos"
    channels: str = "RGB"
    value_scale: float = 1.0
    crop_mode: str = "center"  # "center" | "squash" | "border"

    def to_dict(self) -> dict:
        settings = asdict(self)
        if self.crop_mode == "center":  # as before crop modes existed: those settings keep fingerprints, cache keys
            del settings["crop_mode"]
        return settings


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

