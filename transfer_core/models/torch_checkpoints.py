"""Zoo adapters for PyTorch checkpoints in asset packages: ImageNet MobileNetV2, EfficientNet-Lite0/1/2, MNIST CNN.

Each ``build_*(weights, preprocessing, pretrained)`` returns a ``Network`` from the zoo entry's declared weights file
and preprocessing; with ``pretrained=False`` the same architecture keeps its (seeded) random initialisation.
"""

from __future__ import annotations

from torch import nn

from transfer_core.models.assemble import Network
from transfer_core.models.base import Preprocessing
from transfer_core.models.conversion import as_is, load_by_name, load_by_order, without_counters
from transfer_core.models.package_files import AssetFile
from transfer_core.models.state_files import read_state_dict
from transfer_core.models.timm_source import timm_network
from transfer_core.models.torchvision_source import classifier_network


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet-1k class names (shipped inside torchvision, no download)."""
    import torchvision

    return list(torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


def build_mobilenet_v2(weights: AssetFile, preprocessing: Preprocessing, pretrained: bool) -> Network:
    """torchvision ``mobilenet_v2``: features = the 1280-d global average pool before the classifier."""
    import torchvision

    model = torchvision.models.mobilenet_v2()
    if pretrained:
        load_by_name(model, read_state_dict(weights.locate()), what=weights.name)
    return classifier_network(model, preprocessing, {"source_classes": imagenet_classes()})


def build_efficientnet_lite(variant: int, weights: AssetFile, preprocessing: Preprocessing,
                            pretrained: bool) -> Network:
    """timm ``tf_efficientnet_lite{variant}`` (TF "same" padding); lukemelas-style keys mapped by order + shape."""
    import timm

    model = timm.create_model(f"tf_efficientnet_lite{variant}")
    if pretrained:
        load_by_order(model, without_counters(read_state_dict(weights.locate())), layout=as_is, what=weights.name)
    network = timm_network(model, preprocessing)
    network.extra = {"source_classes": imagenet_classes()}
    return network


class MnistCnn(nn.Module):
    """digit-recognizer-py's network (same layout and key names): 3 conv blocks, a 256-d hidden layer, 10 digits."""

    def __init__(self):
        super().__init__()
        self.conv_layers = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        )
        self.fc_layers = nn.Sequential(nn.Linear(128 * 3 * 3, 256), nn.ReLU(), nn.Linear(256, 10))


def build_mnist_cnn(weights: AssetFile, preprocessing: Preprocessing, pretrained: bool) -> Network:
    """Features = the 256-d hidden layer after ReLU (the network has no global pool); head = the 10-digit layer."""
    model = MnistCnn()
    if pretrained:
        load_by_name(model, read_state_dict(weights.locate()), what=weights.name)
    features = nn.Sequential(model.conv_layers, nn.Flatten(), model.fc_layers[0], model.fc_layers[1])
    return Network(features=features, preprocessing=preprocessing, head=model.fc_layers[2],
                   extra={"source_classes": [str(digit) for digit in range(10)]})
