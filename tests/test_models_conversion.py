"""Shared weight-conversion helpers, Keras readers, preprocessing transform, pooling/layer extractors, fingerprint."""

import io
import json
import zipfile

import h5py
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from transfer_core.features import preprocess
from transfer_core.models import ModelLoadError
from transfer_core.models.base import Preprocessing
from transfer_core.models.conversion import (
    keras_layout,
    load_by_name,
    load_by_order,
    set_batchnorm_eps,
    target_tensors,
    use_tf_same_max_pools,
)
from transfer_core.models.extractors import LayerFeatures, pool_to_vectors
from transfer_core.models.fingerprint import model_fingerprint
from transfer_core.models.keras_weights import read_keras3_archive, read_legacy_h5


def test_keras_conv_kernels_become_oihw():
    kernel = np.arange(3 * 3 * 2 * 4, dtype=np.float32).reshape(3, 3, 2, 4)  # H, W, I, O
    converted = keras_layout(kernel, torch.Size([4, 2, 3, 3]))
    assert converted[3, 1, 2, 0] == kernel[2, 0, 1, 3]


def test_keras_depthwise_kernels_become_c1hw():
    kernel = np.arange(3 * 3 * 5, dtype=np.float32).reshape(3, 3, 5, 1)  # H, W, C, multiplier
    converted = keras_layout(kernel, torch.Size([5, 1, 3, 3]))
    assert converted[4, 0, 1, 2] == kernel[1, 2, 4, 0]


def test_keras_dense_kernels_transpose_and_vectors_stay():
    dense = np.arange(6, dtype=np.float32).reshape(2, 3)  # in, out
    assert torch.equal(keras_layout(dense, torch.Size([3, 2])), torch.from_numpy(dense.T.copy()))
    assert torch.equal(keras_layout(np.arange(3.0), torch.Size([3])), torch.arange(3.0, dtype=torch.float64))


def small_network():
    return nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))


def test_load_by_order_pairs_tensors_in_order():
    network = small_network()
    source = [(f"t{i}", torch.full(t.shape, float(i))) for i, (_, t) in enumerate(target_tensors(network))]
    load_by_order(network, source)
    assert [float(t.flatten()[0]) for _, t in target_tensors(network)] == [0, 1, 2, 3, 4, 5]
    assert [name for name, _ in target_tensors(network)] == [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"]


def test_load_by_order_rejects_a_missing_tensor_or_a_wrong_shape():
    network = small_network()
    source = [(name, torch.zeros(t.shape)) for name, t in target_tensors(network)]
    with pytest.raises(ModelLoadError, match="5 weight tensors for an architecture with 6"):
        load_by_order(network, source[:-1])
    source[2] = ("odd", torch.zeros(4))
    with pytest.raises(ModelLoadError, match="'odd' \\(4,\\) does not fit '1.weight' \\(3,\\)"):
        load_by_order(network, source)


def test_load_by_name_reports_missing_and_unexpected_keys():
    network = small_network()
    state = {name: t.clone() for name, t in target_tensors(network)}
    with pytest.raises(ModelLoadError, match="missing keys \\['0.bias'\\]"):
        load_by_name(network, {k: v for k, v in state.items() if k != "0.bias"})
    with pytest.raises(ModelLoadError, match="unexpected keys \\['head.weight'\\]"):
        load_by_name(network, {**state, "head.weight": torch.zeros(1)})


def test_tf_same_max_pool_pads_right_and_bottom_only():
    network = nn.Sequential(nn.MaxPool2d(3, 2, padding=1))
    use_tf_same_max_pools(network)
    image = torch.arange(16.0).reshape(1, 1, 4, 4)
    # TF "same" for 4 px, kernel 3, stride 2: no left/top padding, windows start at 0 and 2.
    assert torch.equal(network(image)[0, 0], torch.tensor([[10.0, 11.0], [14.0, 15.0]]))


def test_batchnorm_eps_is_set_everywhere():
    network = nn.Sequential(nn.BatchNorm2d(2), nn.Sequential(nn.BatchNorm1d(2)))
    set_batchnorm_eps(network, 1e-3)
    assert [m.eps for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] == [1e-3, 1e-3]


def layer_config(class_name, name):
    return {"class_name": class_name, "name": name, "config": {}}


def test_keras3_archive_is_read_in_layer_order(tmp_path):
    layers = [layer_config("InputLayer", "in"), layer_config("Conv2D", "stem"),
              layer_config("BatchNormalization", "stem_bn"), layer_config("SeparableConv2D", "sep"),
              layer_config("Conv2D", "shortcut")]
    weights = io.BytesIO()
    with h5py.File(weights, "w") as h5:
        for group, count, value in [("conv2d", 1, 1), ("batch_normalization", 4, 2), ("separable_conv2d", 2, 3),
                                    ("conv2d_1", 1, 4), ("input_layer", 0, 0)]:
            variables = h5.create_group(f"layers/{group}/vars")
            for index in range(count):
                variables[str(index)] = np.full(2, value * 10 + index)
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps({"config": {"layers": layers}}))
        archive.writestr("model.weights.h5", weights.getvalue())
    read = read_keras3_archive(path)
    assert list(read) == ["in", "stem", "stem_bn", "sep", "shortcut"]
    assert [int(a[0]) for tensors in read.values() for _, a in tensors] == [10, 20, 21, 22, 23, 30, 31, 40]


def test_legacy_h5_follows_the_model_config_not_the_weight_names(tmp_path):
    nested = {"class_name": "Functional", "name": "base",
              "config": {"layers": [layer_config("Conv2D", "b_conv"), layer_config("BatchNormalization", "a_bn")]}}
    config = {"config": {"layers": [nested, layer_config("Dense", "dense")]}}
    path = tmp_path / "model.h5"
    with h5py.File(path, "w") as h5:
        h5.attrs["model_config"] = json.dumps(config)
        root = h5.create_group("model_weights")
        for var, value in [("moving_variance", 4), ("beta", 2), ("gamma", 1), ("moving_mean", 3)]:
            root[f"base/a_bn/{var}"] = np.full(2, value)
        root["base/b_conv/kernel"] = np.zeros((1, 1, 2, 2))
        root["dense/dense/bias"] = np.full(3, 6)
        root["dense/dense/kernel"] = np.full((2, 3), 5)
    read = read_legacy_h5(path)
    assert [name for tensors in read.values() for name, _ in tensors] == [
        "b_conv/kernel", "a_bn/gamma", "a_bn/beta", "a_bn/moving_mean", "a_bn/moving_variance",
        "dense/kernel", "dense/bias"]


def test_unreadable_keras_files_are_clear_errors(tmp_path):
    path = tmp_path / "bad.keras"
    path.write_bytes(b"nope")
    with pytest.raises(ModelLoadError, match="cannot read the Keras-3 archive"):
        read_keras3_archive(path)
    with pytest.raises(ModelLoadError, match="cannot read the Keras .h5"):
        read_legacy_h5(path)


def test_transform_scales_reorders_and_normalises():
    pixels = np.array([[[10, 20, 30], [40, 50, 60], [0, 0, 0]],
                       [[70, 80, 90], [100, 110, 120], [0, 0, 0]]], dtype=np.uint8)  # 2 × 3, RGB
    preprocessing = Preprocessing(input_size=(2, 2), resize=2, interpolation="nearest", channels="BGR",
                                  value_scale=255.0, mean=(1.0, 2.0, 3.0), std=(2.0, 2.0, 2.0))
    tensor = preprocess(Image.fromarray(pixels), preprocessing)
    # The shorter side is already 2; the 2-of-3-columns centre crop starts at round(0.5) = 0, keeping columns 0-1.
    expected_blue = (np.array([[30, 60], [90, 120]]) - 1.0) / 2.0
    np.testing.assert_allclose(tensor[0].numpy(), expected_blue)
    np.testing.assert_allclose(tensor[2].numpy(), (np.array([[10, 40], [70, 100]]) - 3.0) / 2.0)


def test_transform_greyscale_has_one_channel():
    image = Image.new("RGB", (40, 30), (255, 255, 255))
    tensor = preprocess(image, Preprocessing(input_size=(28, 28), resize=28, mean=(0.5,), std=(0.25,),
                                                  channels="L"))
    assert tensor.shape == (1, 28, 28)
    torch.testing.assert_close(tensor, torch.full((1, 28, 28), 2.0))


def test_pooling_to_vectors():
    assert torch.equal(pool_to_vectors(torch.ones(2, 3, 4, 5) * torch.arange(3.0).view(1, 3, 1, 1)),
                       torch.arange(3.0).repeat(2, 1))
    assert pool_to_vectors(torch.ones(2, 7, 3)).shape == (2, 3)
    with pytest.raises(ModelLoadError):
        pool_to_vectors(torch.ones(2))


def test_named_layer_output_is_pooled_and_stops_the_forward_pass():
    calls = []
    tail = nn.Linear(4, 2)
    tail.register_forward_hook(lambda *args: calls.append("tail"))
    network = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Flatten(), tail)
    images = torch.randn(2, 3, 5, 5)
    expected = network[0](images).mean(dim=(2, 3))
    torch.testing.assert_close(LayerFeatures(network, "0")(images), expected)
    assert calls == []
    with pytest.raises(ModelLoadError, match="unknown layer"):
        LayerFeatures(network, "9")


def test_fingerprint_tracks_weights_preprocessing_and_layer():
    torch.manual_seed(0)
    network = small_network()
    base = model_fingerprint([network, None], Preprocessing(), "penultimate", "arch")
    assert base == model_fingerprint([network, None], Preprocessing(), "penultimate", "arch")
    assert base != model_fingerprint([network, None], Preprocessing(resize=300), "penultimate", "arch")
    assert base != model_fingerprint([network, None], Preprocessing(), "0", "arch")
    with torch.no_grad():
        network[0].bias[0] += 1e-6
    assert base != model_fingerprint([network, None], Preprocessing(), "penultimate", "arch")
