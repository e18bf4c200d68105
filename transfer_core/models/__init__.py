"""Model sources: a model ID (``zoo:``, ``timm:``, ``torchvision:``, ``file:``, ``onnx:``) → feature extractor,
preprocessing, source head and card. Heavy libraries are imported only when a model is loaded."""

from transfer_core.models.errors import ModelLoadError
from transfer_core.models.registry import declared_preprocessing, default_zoo_ids, list_models, load_model

__all__ = ["ModelLoadError", "declared_preprocessing", "default_zoo_ids", "list_models", "load_model"]
