"""Read Keras weights without TensorFlow: Keras-3 ``.keras`` archives and legacy ``.h5`` model files, via h5py.

Both readers return the weights in the model's layer order (the order of the saved model config), each layer's
tensors in Keras order (kernel / depthwise, pointwise, bias, gamma, beta, moving mean, moving variance), which is the
order of the equivalent PyTorch modules' state, so ``conversion.load_by_order`` can pair them.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import h5py
import numpy as np

from transfer_core.models.errors import ModelLoadError

KerasTensor = tuple[str, np.ndarray]
_NESTED_MODELS = {"Functional", "Sequential", "Model"}
_LEGACY_VARIABLE_ORDER = (
    "kernel", "depthwise_kernel", "pointwise_kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance",
)


def _snake_case(class_name: str) -> str:
    """Keras-3's name for a layer's group in ``.weights.h5`` (``SeparableConv2D`` → ``separable_conv2d``)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", class_name))
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _keras3_layer_groups(layers: list[dict], root: h5py.Group) -> list[tuple[dict, h5py.Group]]:
    """Pair each layer config with its h5 group: Keras-3 names groups by class, numbered in layer order."""
    used: dict[str, int] = {}
    pairs = []
    for layer in layers:
        base = _snake_case(layer["class_name"])
        used[base] = used.get(base, -1) + 1
        name = base if used[base] == 0 else f"{base}_{used[base]}"
        pairs.append((layer, root["layers"][name]))
    return pairs


def _keras3_tensors(layers: list[dict], root: h5py.Group) -> dict[str, list[KerasTensor]]:
    """Weights per top-level layer name; a nested model's weights are flattened in its own layer order."""
    weights: dict[str, list[KerasTensor]] = {}
    for layer, group in _keras3_layer_groups(layers, root):
        if layer["class_name"] in _NESTED_MODELS:
            nested = _keras3_tensors(layer["config"]["layers"], group)
            weights[layer["name"]] = [tensor for tensors in nested.values() for tensor in tensors]
        else:
            variables = group["vars"]
            weights[layer["name"]] = [
                (f"{layer['name']}/{index}", np.asarray(variables[str(index)])) for index in range(len(variables))
            ]
    return weights


def read_keras3_archive(path: str | Path) -> dict[str, list[KerasTensor]]:
    """Weights of a Keras-3 ``.keras`` archive (config.json + model.weights.h5), keyed by top-level layer name."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            weights_file = io.BytesIO(archive.read("model.weights.h5"))
        with h5py.File(weights_file, "r") as h5:
            return _keras3_tensors(config["config"]["layers"], h5)
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise ModelLoadError(f"cannot read the Keras-3 archive {path}: {error}; is it a complete .keras file?") \
            from error


def _legacy_layer_tensors(group: h5py.Group, layer_name: str) -> list[KerasTensor]:
    if layer_name not in group:
        return []
    variables = group[layer_name]
    return [
        (f"{layer_name}/{name}", np.asarray(variables[name])) for name in _LEGACY_VARIABLE_ORDER if name in variables
    ]


def read_legacy_h5(path: str | Path) -> dict[str, list[KerasTensor]]:
    """Weights of a legacy whole-model ``.h5`` file, keyed by top-level layer name (nested models flattened)."""
    try:
        with h5py.File(path, "r") as h5:
            config = json.loads(h5.attrs["model_config"])
            root = h5["model_weights"]
            weights: dict[str, list[KerasTensor]] = {}
            for layer in config["config"]["layers"]:
                group = root[layer["name"]]
                if layer["class_name"] in _NESTED_MODELS:
                    sublayers = layer["config"]["layers"]
                    weights[layer["name"]] = [t for sub in sublayers for t in _legacy_layer_tensors(group, sub["name"])]
                else:
                    weights[layer["name"]] = _legacy_layer_tensors(group, layer["name"])
            return weights
    except (OSError, KeyError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"cannot read the Keras .h5 model {path}: {error}; is it a complete Keras model "
                             "file?") from error
