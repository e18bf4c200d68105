"""A model's extractor and source head as one ONNX graph: input ``images`` [B, C, H, W] → outputs ``features``
[B, D] (and ``logits`` [B, C_s] when the model has a head), the batch axis dynamic.

The graph is traced by torch's TorchScript-based exporter (``dynamo=False``): in torch 2.14 it exports the same zoo
models as the dynamo exporter (docs/bench-extraction.md) in about a tenth of the time and without the extra
``onnxscript`` / ``onnx_ir`` packages. A trace records the operations one sample batch ran, so Python control flow
is frozen: :mod:`.verify` compares the graph with torch on real images (two batch sizes) before it is trusted.

timm's TF-"same" layers (EfficientNet-Lite, and the Keras-converted MobileNetV2 and Xception of the zoo) pad by the
size of their input. Traced as they are, each pad becomes a chain of shape operations evaluated at run time. ONNX
Runtime then cannot fold the pad into the convolution, and it converts every padded activation out of its blocked
layout and back. That cost about a third of the run time on the EfficientNets. The graph's height and width are
fixed by the preprocessing, so the export reads them as constants instead (:func:`constant_same_padding`). A
TF-"same" max-pool pads with −∞, which ONNX Runtime does not fold either; where its windows allow, it is exported as
one max-pool with its own padding (:func:`_max_pool_same`).
"""

from __future__ import annotations

import importlib
import io
import threading
import warnings
from contextlib import ExitStack, contextmanager

import torch
import torch.nn.functional as F
from torch import nn

# timm's modules whose layers call ``pad_same`` (Conv2dSame, Avg/MaxPool2dSame, StdConv2dSame, ScaledStdConv2dSame)
SAME_PADDING_MODULES = ("timm.layers.conv2d_same", "timm.layers.pool2d_same", "timm.layers.std_conv")
_PATCHING = threading.Lock()  # one export at a time replaces timm's pad_same (app sessions export in threads)
OPSET = 17
INPUT = "images"
FEATURES = "features"
LOGITS = "logits"


class SourceGraph(nn.Module):
    """``extractor`` then ``head``: ``(features, logits)``, or ``(features,)`` for a model without a head."""

    def __init__(self, extractor: nn.Module, head: nn.Module | None):
        super().__init__()
        self.extractor = extractor
        self.head = head

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.extractor(images)
        return (features,) if self.head is None else (features, self.head(features))


def export_graph(graph: SourceGraph, sample: torch.Tensor) -> bytes:
    """The ONNX bytes of ``graph`` traced on ``sample`` (a preprocessed batch) in float32; raises whatever the
    exporter raises for a model it cannot export."""
    outputs = [FEATURES] if graph.head is None else [FEATURES, LOGITS]
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad(), constant_same_padding():
        # the legacy exporter announces its deprecation, and tracing warns about frozen Python values: the
        # verification that follows judges the graph, so neither is news to the user
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", category=DeprecationWarning, message="The feature will be removed")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        # constant pads are reordered by a reversing Slice that torch cannot fold; ONNX Runtime folds it on loading
        warnings.filterwarnings("ignore", category=UserWarning, message="Constant folding - Only steps=1")
        torch.onnx.export(graph.eval(), (sample.clone().float().contiguous(),), buffer, dynamo=False,
                          opset_version=OPSET, input_names=[INPUT], output_names=outputs,
                          dynamic_axes={name: {0: "batch"} for name in [INPUT, *outputs]})
    return buffer.getvalue()


def _constant_pad_same(x: torch.Tensor, kernel_size, stride, dilation=(1, 1), value: float = 0.0) -> torch.Tensor:
    """timm's ``pad_same`` with the input's height and width read as Python numbers: traced, the pads are constants."""
    from timm.layers.padding import pad_same_arg

    return F.pad(x, pad_same_arg([int(size) for size in x.shape[-2:]], kernel_size, stride, dilation), value=value)


def _max_pool_same(original):
    """timm's ``MaxPool2dSame.forward`` as one max-pool with its own padding where that gives the same windows, so no
    ``Pad`` of −∞ stands in front: TF-"same" pads ⌊total/2⌋ before and the rest after, so padding = the pad before,
    and ``ceil_mode`` adds the one extra window after (a window running past the end is a max over what is there).
    Any other case runs ``original``."""

    def forward(pool, x: torch.Tensor) -> torch.Tensor:
        from timm.layers.padding import pad_same_arg

        sizes = [int(size) for size in x.shape[-2:]]
        left, right, top, bottom = pad_same_arg(sizes, pool.kernel_size, pool.stride, pool.dilation)
        before, after = (top, left), (bottom, right)
        if tuple(pool.dilation) == (1, 1) and not pool.ceil_mode and all(
                0 <= extra - pad <= 1 and 2 * pad <= kernel
                for pad, extra, kernel in zip(before, after, pool.kernel_size)):
            wanted = [-(-size // stride) for size, stride in zip(sizes, pool.stride)]  # TF "same": ⌈size / stride⌉
            for ceil_mode in (False, True):
                if wanted == [_pooled_size(*axis, ceil_mode) for axis in zip(sizes, pool.kernel_size, pool.stride,
                                                                               before)]:
                    return F.max_pool2d(x, pool.kernel_size, pool.stride, before, 1, ceil_mode)
        return original(pool, x)

    return forward


def _pooled_size(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool) -> int:
    """torch's output size of a max-pool along one axis (a last window that would start in the padding is dropped)."""
    span = size + 2 * pad - kernel
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    return out - 1 if ceil_mode and (out - 1) * stride >= size + pad else out


@contextmanager
def constant_same_padding():
    """While active, timm's TF-"same" layers pad by constants computed from the size they are called with (the same
    pads: timm's own ``pad_same_arg``; outside a trace nothing changes), so that a trace records constant pads, and
    its TF-"same" max-pools pad inside the pooling where they can (:func:`_max_pool_same`); timm is restored after."""
    from timm.layers.pool2d_same import MaxPool2dSame

    with _PATCHING, ExitStack() as restore:
        for name in SAME_PADDING_MODULES:
            module = importlib.import_module(name)
            restore.callback(setattr, module, "pad_same", module.pad_same)
            module.pad_same = _constant_pad_same
        restore.callback(setattr, MaxPool2dSame, "forward", MaxPool2dSame.forward)
        MaxPool2dSame.forward = _max_pool_same(MaxPool2dSame.forward)
        yield
