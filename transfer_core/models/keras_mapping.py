"""Zoo adapters for Keras checkpoints: kitchenware Xception (Keras-3 archive) and dog-breed MobileNetV2 (legacy h5).

Both map by tensor order + shape onto timm architectures with Keras' conventions: BatchNorm eps 1e-3 and
TF-"same" padding; inputs in [−1, 1] (mean = std = 0.5).
"""

from __future__ import annotations

from torch import nn

from transfer_core.models.assemble import Network
from transfer_core.models.base import Preprocessing
from transfer_core.models.conversion import keras_layout, load_by_order, set_batchnorm_eps, use_tf_same_max_pools
from transfer_core.models.extractors import TimmPreLogits
from transfer_core.models.keras_weights import KerasTensor, read_keras3_archive, read_legacy_h5
from transfer_core.models.package_files import AssetFile
from transfer_core.models.timm_source import timm_network

KITCHENWARE_CLASSES = ["cup", "fork", "glass", "knife", "plate", "spoon"]


def _shortcuts_first(tensors: list[KerasTensor]) -> list[KerasTensor]:
    """Keras lists a block's residual 1×1 conv + BN after the block's separable convs; timm registers it first."""
    ordered: list[KerasTensor] = []
    block_start, previous = 0, None
    for name, array in tensors:
        layer = name.split("/")[0]
        if layer.endswith("_sepconv1") and layer != previous:
            block_start = len(ordered)
        if layer.startswith(("conv2d", "batch_normalization")):
            ordered.insert(block_start, (name, array))
            block_start += 1
        else:
            ordered.append((name, array))
        previous = layer
    return ordered


def build_kitchenware_xception(weights: AssetFile, preprocessing: Preprocessing, pretrained: bool) -> Network:
    """Features = Xception's 2048-d global average pool; head = the trained Dense(100, ReLU) → Dense(6) classifier."""
    import timm

    model = timm.create_model("legacy_xception", num_classes=0)
    use_tf_same_max_pools(model)
    set_batchnorm_eps(model, 1e-3)
    head = nn.Sequential(nn.Linear(2048, 100), nn.ReLU(), nn.Linear(100, 6))
    if pretrained:
        tensors = read_keras3_archive(weights.locate())
        load_by_order(model, _shortcuts_first(tensors["xception"]), layout=keras_layout, what=weights.name)
        load_by_order(head, tensors["dense"] + tensors["dense_1"], layout=keras_layout, what=weights.name)
    return Network(features=TimmPreLogits(model), preprocessing=preprocessing, head=head, layers_of=model,
                   extra={"source_classes": KITCHENWARE_CLASSES})


def build_dog_breed_mobilenet(weights: AssetFile, preprocessing: Preprocessing, pretrained: bool) -> Network:
    """Features = MobileNetV2's 1280-d global average pool; head = the 19-breed dense layer."""
    import timm

    model = timm.create_model("mobilenetv2_100", pad_type="same", bn_eps=1e-3, num_classes=19)
    if pretrained:
        tensors = read_legacy_h5(weights.locate())
        load_by_order(model, tensors["mobilenetv2_1.00_160"] + tensors["dense"], layout=keras_layout,
                      what=weights.name)
    return timm_network(model, preprocessing)
