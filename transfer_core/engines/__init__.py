"""Inference engines for feature extraction: which one computes a model's features on which device.

``"torch"`` runs the extractor eagerly (on CUDA with autocast, see :mod:`transfer_core.features`); ``"onnxruntime"``
runs the model exported to one ONNX graph (:mod:`.export`) in ONNX Runtime on the CPU (:mod:`.session`), after
checking it against torch (:mod:`.verify`, :mod:`.prepare`); ``"auto"`` is ONNX Runtime on a CPU and torch on CUDA.
"""

from __future__ import annotations

import torch

from transfer_core.device import resolve_device
from transfer_core.errors import TransferScoutError

ENGINES = ("auto", "torch", "onnxruntime")


class EngineError(TransferScoutError, ValueError):
    """An unknown engine, or an engine asked to run where it cannot."""


def resolve_engine(engine: str, device: str | torch.device | None = "auto") -> tuple[str, torch.device]:
    """The concrete engine ("torch" or "onnxruntime") and the device it computes on, for ``engine`` and ``device``.

    ONNX Runtime runs on the CPU: with ``device="auto"`` it takes the CPU even where CUDA is present; an explicit
    CUDA device with ``engine="onnxruntime"`` is an :class:`EngineError`.
    """
    check_engine(engine)
    resolved = resolve_device(device)
    if engine == "auto":
        return ("onnxruntime" if resolved.type == "cpu" else "torch"), resolved
    if engine == "onnxruntime" and resolved.type != "cpu":
        if device is None or device == "auto":
            return engine, torch.device("cpu")
        raise EngineError(f"engine 'onnxruntime' runs on the CPU, but device {str(resolved)!r} was requested; use "
                          "device='cpu', or engine='torch' or 'auto' on CUDA")
    return engine, resolved


def check_engine(engine: str) -> str:
    """``engine`` when it is one of :data:`ENGINES`, else an :class:`EngineError` naming them."""
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)} (auto: ONNX Runtime on a CPU, "
                          "torch on CUDA)")
    return engine
