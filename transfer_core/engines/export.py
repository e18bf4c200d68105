"""A model's extractor and source head as one ONNX graph: input ``images`` [B, C, H, W] → outputs ``features``
[B, D] (and ``logits`` [B, C_s] when the model has a head), the batch axis dynamic.

The graph is traced by torch's TorchScript-based exporter (``dynamo=False``): in torch 2.14 it exports the same zoo
models as the dynamo exporter (docs/bench-extraction.md) in about a tenth of the time and without the extra
``onnxscript`` / ``onnx_ir`` packages. A trace records the operations one sample batch ran, so Python control flow
is frozen: :mod:`.verify` compares the graph with torch on real images (two batch sizes) before it is trusted.
"""

from __future__ import annotations

import io
import warnings

import torch
from torch import nn

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
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # the legacy exporter announces its deprecation, and tracing warns about frozen Python values: the
        # verification that follows judges the graph, so neither is news to the user
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", category=DeprecationWarning, message="The feature will be removed")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(graph.eval(), (sample.clone().float().contiguous(),), buffer, dynamo=False,
                          opset_version=OPSET, input_names=[INPUT], output_names=outputs,
                          dynamic_axes={name: {0: "batch"} for name in [INPUT, *outputs]})
    return buffer.getvalue()
