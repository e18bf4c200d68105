"""Read a weights file safely: safetensors, or a PyTorch pickle through ``torch.load(weights_only=True)`` only."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch

from transfer_core.models.conversion import strip_prefix
from transfer_core.models.errors import ModelLoadError

_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
SAVE_HINT = ("Save just the weights with `safetensors.torch.save_file(model.state_dict(), 'weights.safetensors')` "
             "or `torch.save(model.state_dict(), 'weights.pth')`, and load that")
# what a damaged file makes torch.load raise besides UnpicklingError (found by corrupting real checkpoints)
_DAMAGED = (RuntimeError, OSError, EOFError, ValueError, IndexError, KeyError)


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


def _unpickling_error(path: Path, error: pickle.UnpicklingError) -> ModelLoadError:
    """Torch's weights-only refusal in plain words: which global the pickle would have imported, if it names one."""
    refused = re.search(r"GLOBAL (\S+)", str(error))
    if refused:
        return ModelLoadError(f"refused {path}: it is a pickle that would run code (it references "
                              f"{refused.group(1)}); Transfer Scout only loads plain tensors. {SAVE_HINT}")
    return ModelLoadError(f"cannot read {path}: it is not a checkpoint of plain tensors or it is damaged "
                          f"({_detail(error)}). {SAVE_HINT}")


def _detail(error: pickle.UnpicklingError) -> str:
    """The weights-only reader's own reason, without torch's advice to switch the check off."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reasons = [line for line in lines if "weights_only" not in line]
    return reasons[-1] if reasons else "unsupported pickle content"


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
        raise _unpickling_error(path, error) from None
    except _DAMAGED as error:
        raise ModelLoadError(f"cannot read {path} as a PyTorch checkpoint ({error}); is the file complete?") from error
    return _unwrap(checkpoint, path)
