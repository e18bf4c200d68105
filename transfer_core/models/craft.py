"""Zoo adapter: CRAFT text detector (EasyOCR's ``craft_mlt_25k.pth``) — its VGG16-BN backbone → torchvision.

``basenet.slice1..4`` hold ``vgg16_bn().features[0:39]`` (to conv5_2 + BN); features = ReLU + global average pool
(512-d). The detection-specific parts (slice5's dilated convs, the U-Net upsampling, the region/affinity maps) are
not used, so there is no source-class head. EasyOCR normalises with ImageNet mean/std.
"""

from __future__ import annotations

import re

from transfer_core.models.assemble import Network
from transfer_core.models.base import Preprocessing
from transfer_core.models.conversion import load_by_name
from transfer_core.models.extractors import GlobalPool
from transfer_core.models.package_files import AssetFile
from transfer_core.models.state_files import read_state_dict

_BACKBONE_KEY = re.compile(r"basenet\.slice[1-4]\.(\d+\..+)")


def build_craft(weights: AssetFile, preprocessing: Preprocessing, pretrained: bool) -> Network:
    import torchvision

    backbone = torchvision.models.vgg16_bn().features[:40]  # features[39] is the ReLU after conv5_2's BN
    if pretrained:
        state = read_state_dict(weights.locate())
        matches = (_BACKBONE_KEY.fullmatch(key) for key in state)
        backbone_state = {match.group(1): state[match.string] for match in matches if match}
        load_by_name(backbone, backbone_state, what=weights.name)
    return Network(features=GlobalPool(backbone), preprocessing=preprocessing, layers_of=backbone)
