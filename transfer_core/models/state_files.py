"""Read a weights file safely: safetensors, or a PyTorch pickle through ``torch.load(weights_only=True)`` only."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from transfer_core.models.conversion import strip_prefix
from transfer_core.models.errors import ModelLoadError

_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")


def _unwrap(checkpoint: object, path: Path) -> dict[str, torch.Tensor]:
    """Accept a bare state dict or one wrapped as ``{"state_dict": ...}`` / ``{"model": ...}``."""
    if isinstance(checkpoint, dict):
        for key in _WRAPPER_KEYS:
            if isinstance(checkpoint.get(key), dict):
                checkpoint = checkpoint[key]
                break
    if not isinstance(checkpoint, dict) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise ModelLoadError(
            f"{path} does not hold a state dict of tensors; save one with "
            "`torch.save(model.state_dict(), path)` or `safetensors.torch.save_file(model.state_dict(), path)`"
        )
    return strip_prefix(checkpoint, ("module.",))


def _reason(error: Exception) -> str:
    """The informative line of torch's long weights-only message (e.g. ``Unsupported global: GLOBAL x.Y``)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return next((line for line in lines if "Unsupported" in line), lines[0] if lines else type(error).__name__)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` / ``.pth`` / ``.pt`` / ``.bin`` file, on the CPU; never runs pickled code."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError) as error:
            raise ModelLoadError(f"cannot read {path} as safetensors ({error}); is the file complete?") from error
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ModelLoadError(
            f"refused to load {path}: it is a pickle that needs more than tensors (weights_only=True rejected it: "
            f"{_reason(error)}). Arbitrary pickles can run code, so they are never loaded. If you trust "
            "the file, re-save just the weights with `torch.save(model.state_dict(), 'weights.pth')` or as "
            ".safetensors, and load that"
        ) from error
    except (RuntimeError, OSError, EOFError) as error:
        raise ModelLoadError(f"cannot read {path} as a PyTorch checkpoint ({error}); is the file complete?") from error
    return _unwrap(checkpoint, path)
