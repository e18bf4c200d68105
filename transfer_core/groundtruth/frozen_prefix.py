"""Compute the frozen front of a network once, so that fine-tuning its last blocks only runs what it trains.

With the last blocks (or only the head) trained, no augmentation and the frozen modules in eval mode, everything
computed before the first trained block is the same in every epoch and at every grid point. The extractor is traced
with ``torch.fx`` (trained blocks and modules without a trained block inside kept as opaque calls), its graph is cut
before the first trained block: the *prefix* returns the values the rest still uses (the "frontier"), the *suffix*
takes them and runs the trained blocks and whatever follows. The prefix runs once over the images and its outputs
are kept in memory; training and evaluation run the suffix on them. A split is used only when it is exact: every
frontier value is a per-image tensor, the kept activations fit ``MAX_FRONTIER_BYTES``, and suffix(prefix(x))
reproduces the extractor on real inputs; otherwise fine-tuning runs the whole network as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import fx, nn

MAX_FRONTIER_BYTES = 2 * 2**30  # activations kept for all images
# largest difference allowed between the split and the whole extractor, relative to its scale: float32, and
# under CUDA autocast (bfloat16 / float16 keep 2–3 significant digits)
CHECK_TOLERANCE = {None: 1e-4, torch.bfloat16: 2e-2, torch.float16: 2e-2}


@dataclass
class FrozenSplit:
    """``suffix(*prefix(x)) == extractor(x)``; the trained blocks live in ``suffix`` under their original names."""

    prefix: fx.GraphModule
    suffix: fx.GraphModule


class _Tracer(fx.Tracer):
    """Keeps the trained blocks, and every module that holds no trained block, as single calls."""

    def __init__(self, trained: set[str]):
        super().__init__()
        self.trained = trained

    def is_leaf_module(self, module: nn.Module, name: str) -> bool:
        return name in self.trained or not any(block.startswith(f"{name}.") for block in self.trained)


def split_frozen_prefix(extractor: nn.Module, trained: list[str]) -> FrozenSplit | None:
    """Cut ``extractor`` before the first of its ``trained`` blocks (dotted names; [] = only a new head trains).

    None when there is nothing frozen in front (the whole network trains) or the forward pass cannot be traced.
    """
    if "" in trained:
        return None
    try:
        graph = _Tracer(set(trained)).trace(extractor)
    except Exception:  # data-dependent control flow, untraceable custom code: fine-tune the whole network instead
        return None
    nodes = list(graph.nodes)
    cut = next(index for index, node in enumerate(nodes)
               if node.op == "output" or (node.op == "call_module" and node.target in trained))
    later = set(nodes[cut:])
    used_later = [node for node in nodes[:cut] if any(user in later for user in node.users)]
    frontier = [node for node in used_later if node.op != "get_attr"]
    constants = [node for node in used_later if node.op == "get_attr"]
    if not frontier:
        return None
    prefix_graph, copied = fx.Graph(), {}
    for node in nodes[:cut]:
        copied[node] = prefix_graph.node_copy(node, copied.__getitem__)
    prefix_graph.output(tuple(copied[node] for node in frontier))
    suffix_graph, moved = fx.Graph(), {}
    for node in frontier:
        moved[node] = suffix_graph.placeholder(node.name)
    for node in constants + nodes[cut:]:
        moved[node] = suffix_graph.node_copy(node, moved.__getitem__)
    return FrozenSplit(fx.GraphModule(extractor, prefix_graph), fx.GraphModule(extractor, suffix_graph))


def frontier_of(split: FrozenSplit, batches, device: torch.device, precision: torch.dtype | None,
                reference: nn.Module) -> list[torch.Tensor] | None:
    """The prefix's outputs for every image of ``batches`` (an iterable of input batches), concatenated along the
    batch dimension on the CPU; None when the split is not exact (see the module docstring)."""
    kept: list[list[torch.Tensor]] = []
    size = 0
    split.prefix.eval()
    with torch.no_grad(), torch.autocast(device.type, dtype=precision, enabled=precision is not None):
        for batch in batches:
            batch = batch.to(device)
            outputs = split.prefix(batch)
            if not all(isinstance(value, torch.Tensor) and value.ndim and value.shape[0] == len(batch)
                       for value in outputs):
                return None
            if not kept and not _reproduces(split, outputs, reference(batch), CHECK_TOLERANCE[precision]):
                return None
            size += sum(value.numel() * value.element_size() for value in outputs)
            if size > MAX_FRONTIER_BYTES:
                return None
            kept.append([value.cpu() for value in outputs])
    return [torch.cat(parts) for parts in zip(*kept)]


def _reproduces(split: FrozenSplit, outputs: tuple[torch.Tensor, ...], expected: torch.Tensor,
                tolerance: float) -> bool:
    """Whether the suffix on the prefix's outputs gives the extractor's own features (eval mode)."""
    split.suffix.eval()
    actual = split.suffix(*outputs)
    if not isinstance(actual, torch.Tensor) or actual.shape != expected.shape:
        return False
    scale = expected.float().abs().max().clamp_min(1e-12)
    return bool(((actual.float() - expected.float()).abs().max() / scale) <= tolerance)
