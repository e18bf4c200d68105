"""Device choice shared by extraction and metrics: ``"auto"`` means CUDA when present, else CPU."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"`` / ``None`` / a name into a ``torch.device``; a CUDA request without CUDA is an error."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA device is available; use 'auto' or 'cpu'")
    return resolved
