"""Which part of a feature extractor fine-tuning trains: the whole network, its last blocks, or nothing.

"Blocks" are found the same way for every architecture, from the module tree and one dry forward pass:

1. A blank image at the model's input size runs through the extractor once, recording the order in which modules
   are first called (a module counts as run when anything inside it ran); modules that never run (e.g. a timm
   classifier behind ``pre_logits=True``, layers after a chosen ``layer``) and modules without parameters are
   ignored.
2. Starting from the extractor as a single block, the largest block that has such children is repeatedly opened
   into them (ordered by first call) while some block holds more than half of all the parameters in the list.
   Wrappers (one child) open at once; trunks such as ``torchvision mobilenet_v2().features`` (19 blocks), a timm
   EfficientNet (stem, 7 stages, 1×1 head conv, BN) or VGG's ``features`` (13 convolutions) open into their stages;
   a flat ONNX graph opens into its layers; a small CNN whose dense layer dominates opens into its layers.
3. The last ``k`` blocks of that list are trained ("last_blocks"), a normalisation layer counting with the block
   before it (so VGG16-BN's last block is conv + BN, a timm EfficientNet's is the 1×1 head conv + its BN);
   parameters held directly by an opened module (e.g. a ViT's position embedding) stay frozen, and so do weights
   stored as constants (ONNX initialisers kept as buffers). The chosen block names are recorded with every result.
"""

from __future__ import annotations

import torch
from torch import nn

from transfer_core.groundtruth.errors import GroundTruthError
from transfer_core.groundtruth.protocol import FineTuneProtocol
from transfer_core.models.base import Preprocessing


def backbone_blocks(extractor: nn.Module, preprocessing: Preprocessing) -> list[str]:
    """Dotted names (relative to ``extractor``; ``""`` is the extractor itself) of its blocks in forward order."""
    first_call = _call_order(extractor, preprocessing)
    blocks = [("", extractor)]
    while True:
        total = sum(_parameter_count(module) for _, module in blocks)
        children = {position: _run_children(name, module, first_call)
                    for position, (name, module) in enumerate(blocks)}
        openable = [position for position, inner in children.items() if inner]
        if not openable or 2 * max(_parameter_count(module) for _, module in blocks) <= total:
            return [name for name, _ in blocks]
        position = max(openable, key=lambda i: _parameter_count(blocks[i][1]))
        blocks[position:position + 1] = children[position]


def _run_children(name: str, module: nn.Module, first_call: dict[nn.Module, int]) -> list[tuple[str, nn.Module]]:
    """The children of ``module`` that have parameters and ran, by dotted name, in the order they first ran."""
    children = [(f"{name}.{child_name}" if name else child_name, child) for child_name, child in module.named_children()
                if _parameter_count(child) and _first_run(child, first_call) is not None]
    return sorted(children, key=lambda item: _first_run(item[1], first_call))


def trained_block_names(extractor: nn.Module, preprocessing: Preprocessing, protocol: FineTuneProtocol) -> list[str]:
    """The extractor blocks whose parameters fine-tuning updates (the new head is always trained)."""
    if protocol.trainable == "head":
        return []
    if _parameter_count(extractor) == 0:
        raise GroundTruthError("this model's extractor has no trainable parameters (its weights are constants); "
                               "fine-tune with trainable='head'")
    if protocol.trainable == "all":
        return [""]
    return last_blocks(extractor, backbone_blocks(extractor, preprocessing), protocol.last_blocks)


def last_blocks(extractor: nn.Module, blocks: list[str], count: int) -> list[str]:
    """The last ``count`` blocks, where a normalisation layer (BatchNorm, LayerNorm, GroupNorm, ...) is not a block
    of its own but goes with the block before it."""
    chosen: list[str] = []
    counted = 0
    for name in reversed(blocks):
        if counted == count:
            break
        chosen.insert(0, name)
        counted += not _is_norm(extractor, name)
    return chosen


def _is_norm(extractor: nn.Module, name: str) -> bool:
    return "Norm" in type(extractor.get_submodule(name)).__name__


def _call_order(extractor: nn.Module, preprocessing: Preprocessing) -> dict[nn.Module, int]:
    order: dict[nn.Module, int] = {}

    def record(module: nn.Module, _inputs) -> None:
        order.setdefault(module, len(order))

    handles = [module.register_forward_pre_hook(record) for module in extractor.modules()]
    channels = 1 if preprocessing.channels.upper() == "L" else 3
    device = next((parameter.device for parameter in extractor.parameters()), torch.device("cpu"))
    was_training = extractor.training
    try:
        extractor.eval()
        with torch.no_grad():
            extractor(torch.zeros(1, channels, *preprocessing.input_size, device=device))
    finally:
        extractor.train(was_training)
        for handle in handles:
            handle.remove()
    return order


def _first_run(module: nn.Module, first_call: dict[nn.Module, int]) -> int | None:
    """When ``module`` or any module inside it first ran (a wrapper may call its child's methods, not the child)."""
    return min((first_call[inner] for inner in module.modules() if inner in first_call), default=None)


def _parameter_count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())
