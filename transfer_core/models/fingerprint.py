"""Stable identity of a loaded model for the feature store: weights + preprocessing + layer + architecture."""

from __future__ import annotations

import hashlib
import json

import torch
from torch import nn

from transfer_core.models.base import Preprocessing


def model_fingerprint(
    modules: list[nn.Module | None], preprocessing: Preprocessing, layer: str, architecture: str
) -> str:
    """sha256 over every weight tensor (names, dtypes, shapes, bytes) and the settings that change the features."""
    digest = hashlib.sha256()
    digest.update(json.dumps([preprocessing.to_dict(), layer, architecture], sort_keys=True).encode())
    for index, module in enumerate(modules):
        if module is None:
            continue
        for name, tensor in module.state_dict().items():
            flat = tensor.detach().cpu().contiguous().reshape(-1)
            digest.update(f"{index}:{name}:{flat.dtype}:{tuple(tensor.shape)}".encode())
            digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return digest.hexdigest()
