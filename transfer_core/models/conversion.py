"""Weight-conversion helpers shared by the adapters: strict mapping by tensor order + shape, Keras layouts, BN eps.

Every mapping is strict: each target tensor receives exactly one source tensor of the same shape (and floating values
for a floating target) and every source tensor is used, otherwise a ``ModelLoadError`` names the first mismatch.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from transfer_core.models.errors import ModelLoadError

SourceTensor = tuple[str, "np.ndarray | torch.Tensor"]


def without_counters(state: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    """State entries in order, without BatchNorm's ``num_batches_tracked`` counters (they are not weights)."""
    return [(name, tensor) for name, tensor in state.items() if not name.endswith("num_batches_tracked")]


def target_tensors(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The module's weights in registration order."""
    return without_counters(module.state_dict())


def as_is(array: "np.ndarray | torch.Tensor", target_shape: torch.Size) -> torch.Tensor:
    """No layout change (PyTorch checkpoints)."""
    return torch.as_tensor(array)


def keras_layout(array: np.ndarray, target_shape: torch.Size) -> torch.Tensor:
    """Keras → PyTorch layout, chosen by the target shape.

    Conv kernels HWIO → OIHW (transpose 3, 2, 0, 1); depthwise kernels (H, W, C, 1) → (C, 1, H, W) (transpose 2, 3,
    0, 1); dense kernels (in, out) → (out, in); vectors unchanged.
    """
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.ndim == 4:
        for order in ((3, 2, 0, 1), (2, 3, 0, 1)):
            candidate = tensor.permute(*order)
            if candidate.shape == target_shape:
                return candidate.contiguous()
    if tensor.ndim == 2:
        return tensor.t().contiguous()
    return tensor


def load_by_order(
    module: nn.Module,
    source: Sequence[SourceTensor],
    *,
    layout: Callable[["np.ndarray | torch.Tensor", torch.Size], torch.Tensor] = as_is,
    what: str = "checkpoint",
) -> None:
    """Copy ``source`` tensors into ``module`` pairing them by order; every key mapped and every shape equal."""
    targets = target_tensors(module)
    if len(source) != len(targets):
        raise ModelLoadError(
            f"{what}: {len(source)} weight tensors for an architecture with {len(targets)}; "
            "the checkpoint does not match this architecture"
        )
    state = {}
    for (source_name, array), (target_name, target) in zip(source, targets):
        converted = layout(array, target.shape)
        if converted.shape != target.shape:
            raise ModelLoadError(
                f"{what}: tensor {source_name!r} {tuple(np.shape(array))} does not fit {target_name!r} "
                f"{tuple(target.shape)}; the checkpoint does not match this architecture"
            )
        _check_dtype(source_name, converted, target, what)
        state[target_name] = converted.to(target.dtype)
    load_by_name(module, state, what=what)


def load_by_name(module: nn.Module, state: dict[str, torch.Tensor], *, what: str = "checkpoint") -> None:
    """``load_state_dict`` with a clear error; ``num_batches_tracked`` counters may be absent."""
    current = module.state_dict()
    expected = {name for name, _ in without_counters(current)}
    missing = sorted(expected - state.keys())
    unexpected = sorted(state.keys() - current.keys())
    if missing or unexpected:
        raise ModelLoadError(
            f"{what}: missing keys {missing[:5]}{'…' if len(missing) > 5 else ''}, unexpected keys "
            f"{unexpected[:5]}{'…' if len(unexpected) > 5 else ''}; the checkpoint does not match this architecture"
        )
    wrong = [name for name, tensor in state.items() if tensor.shape != current[name].shape]
    if wrong:
        raise ModelLoadError(f"{what}: shape mismatch for {wrong[:5]}; the checkpoint does not match this architecture")
    for name, tensor in state.items():
        _check_dtype(name, tensor, current[name], what)
    module.load_state_dict(state, strict=False)


def _check_dtype(name: str, tensor: torch.Tensor, target: torch.Tensor, what: str) -> None:
    """A floating parameter or buffer takes only floating values (an integer tensor would be cast silently)."""
    if target.is_floating_point() and not tensor.is_floating_point():
        raise ModelLoadError(f"{what}: tensor {name!r} holds {tensor.dtype} values where the model expects "
                             f"{target.dtype} weights; the checkpoint is damaged or not a weights file")


def set_batchnorm_eps(module: nn.Module, eps: float) -> None:
    """Keras BatchNormalization defaults to eps = 1e-3 where PyTorch uses 1e-5."""
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.eps = eps


def use_tf_same_max_pools(module: nn.Module) -> None:
    """Replace every ``nn.MaxPool2d`` by timm's TF-"same" version (pads right/bottom only, as Keras does)."""
    from timm.layers import create_pool2d

    for name, layer in list(module.named_modules()):
        if isinstance(layer, nn.MaxPool2d):
            parent_name, _, attribute = name.rpartition(".")
            parent = module.get_submodule(parent_name) if parent_name else module
            pool = create_pool2d("max", kernel_size=layer.kernel_size, stride=layer.stride, padding="same")
            setattr(parent, attribute, pool)


def strip_prefix(state: dict[str, torch.Tensor], prefixes: Iterable[str]) -> dict[str, torch.Tensor]:
    """Drop a wrapper prefix such as DataParallel's ``module.`` from every key that has it."""
    stripped = dict(state)
    for prefix in prefixes:
        if stripped and all(key.startswith(prefix) for key in stripped):
            stripped = {key[len(prefix):]: value for key, value in stripped.items()}
    return stripped
