"""timm / torchvision / file / onnx sources and the registry: real round trips, refusals and offline messages."""

import re

import pytest
import torch
from torch import nn

from transfer_core.models import ModelLoadError, default_zoo_ids, list_models, load_model
from transfer_core.models.zoo import ZOO

TINY_TIMM = "test_efficientnet"  # timm's 0.36 M-parameter test architecture


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Empty torch-hub and Hugging Face caches, and offline mode on."""
    import huggingface_hub.constants

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TRANSFER_SCOUT_OFFLINE", "1")
    return tmp_path


def timm_model(num_classes=1000):
    import timm

    torch.manual_seed(0)
    return timm.create_model(TINY_TIMM, num_classes=num_classes).eval()


def reference_outputs(model, images):
    with torch.inference_mode():
        pre_logits = model.forward_head(model.forward_features(images), pre_logits=True)
        return pre_logits, model(images)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_file_source_round_trips_a_timm_checkpoint(tmp_path, suffix):
    from safetensors.torch import save_file

    model = timm_model(num_classes=7)
    path = tmp_path / f"weights{suffix}"
    state = model.state_dict()
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save({"state_dict": state}, path)
    loaded = load_model(f"file:{path}?arch={TINY_TIMM}")
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    features, logits = reference_outputs(model, images)
    with torch.inference_mode():
        torch.testing.assert_close(loaded.extractor(images), features)
        torch.testing.assert_close(loaded.head(loaded.extractor(images)), logits)
    assert loaded.card.feature_dim == features.shape[1] and loaded.preprocessing.input_size == (160, 160)


def test_file_source_accepts_a_headless_checkpoint(tmp_path):
    path = tmp_path / "backbone.pth"
    torch.save(timm_model(num_classes=0).state_dict(), path)
    assert load_model(f"file:{path}?arch={TINY_TIMM}").head is None


class Payload:
    """Any class: unpickling it would import and run code."""


class CreatesFile:
    """Unpickling this calls ``open(marker, "w")``: a malicious checkpoint that leaves a trace when it runs."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_a_pickle_that_would_run_code_is_refused_and_never_run(tmp_path):
    control, marker = tmp_path / "control-ran", tmp_path / "payload-ran"
    torch.save({"weights": torch.zeros(2), "payload": CreatesFile(control)}, tmp_path / "control.pth")
    torch.load(tmp_path / "control.pth", weights_only=False)  # the payload is real: a plain load runs it
    assert control.exists()
    path = tmp_path / "model.pth"
    torch.save({"state_dict": timm_model().state_dict(), "payload": CreatesFile(marker)}, path)
    with pytest.raises(ModelLoadError) as raised:
        load_model(f"file:{path}?arch={TINY_TIMM}")
    assert not marker.exists()
    message = str(raised.value)
    assert re.match(rf"refused {re.escape(str(path))}: it is a pickle that would run code \(it references "
                    r"(io\.)?open\)", message)  # the builtin open pickles as io.open
    assert "plain tensors" in message and "state_dict()" in message and "weights_only" not in message


@pytest.mark.parametrize("payload, refused", [
    (lambda: {"extra": Payload()}, "test_models_sources.Payload"),
    (lambda: nn.Linear(2, 2), "torch.nn.modules.linear.Linear"),
])
def test_a_pickle_of_objects_names_the_refused_global(tmp_path, payload, refused):
    path = tmp_path / "model.pt"
    torch.save(payload(), path)
    with pytest.raises(ModelLoadError, match=rf"would run code \(it references \S*{re.escape(refused)}\)") as raised:
        load_model(f"file:{path}?arch={TINY_TIMM}")
    assert "weights_only" not in str(raised.value)


def test_a_damaged_pth_is_a_clear_error_without_torch_advice(tmp_path):
    path = tmp_path / "weights.pth"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelLoadError, match="cannot read .*weights.pth.*Unsupported operand") as raised:
        load_model(f"file:{path}?arch={TINY_TIMM}")
    assert "weights_only" not in str(raised.value)


def test_integer_values_for_float_weights_are_refused(tmp_path):
    state = timm_model().state_dict()
    key = next(name for name, tensor in state.items() if tensor.is_floating_point())
    state[key] = torch.ones_like(state[key], dtype=torch.int64)
    path = tmp_path / "weights.pth"
    torch.save(state, path)
    with pytest.raises(ModelLoadError, match=f"tensor '{re.escape(key)}' holds torch.int64 values where the model "
                                             "expects torch.float32 weights"):
        load_model(f"file:{path}?arch={TINY_TIMM}")


@pytest.mark.parametrize("spec, message", [
    ("file:/no/such/file.pth?arch=resnet18", "not found"),
    ("file:/tmp/x.pth", "arch="),
    ("file:/tmp/x.pth?arch=not_a_timm_model", "unknown timm model"),
])
def test_file_source_bad_specs(spec, message):
    with pytest.raises(ModelLoadError, match=message):
        load_model(spec)


def test_file_source_wrong_architecture_is_a_clear_error(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save(timm_model().state_dict(), path)
    with pytest.raises(ModelLoadError, match="does not match this architecture"):
        load_model(f"file:{path}?arch=test_resnet")


def test_a_corrupt_weights_file_is_a_clear_error(tmp_path):
    path = tmp_path / "weights.safetensors"
    path.write_bytes(b"not safetensors")
    with pytest.raises(ModelLoadError, match="cannot read"):
        load_model(f"file:{path}?arch={TINY_TIMM}")


def test_timm_pretrained_offline_says_how_to_use_a_local_file(offline):
    with pytest.raises(ModelLoadError, match=r"offline.*file:/path/to/weights\.safetensors\?arch=resnet18\.a1_in1k"):
        load_model("timm:resnet18.a1_in1k")


def test_timm_pretrained_with_an_unreachable_hub_fails_fast(offline, monkeypatch):
    monkeypatch.delenv("TRANSFER_SCOUT_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(ModelLoadError, match="127.0.0.1 is unreachable.*file:"):
        load_model("timm:resnet18.a1_in1k")


def test_unknown_timm_name():
    with pytest.raises(ModelLoadError, match="unknown timm model"):
        load_model("timm:no_such_net")


def test_torchvision_pretrained_offline_says_where_to_put_the_file(offline):
    with pytest.raises(ModelLoadError, match=r"offline.*mobilenet_v2-7ebf99e0\.pth.*checkpoints.*file:"):
        load_model("torchvision:mobilenet_v2")


def test_torchvision_loads_weights_already_in_its_cache_offline(offline):
    import torchvision

    reference = torchvision.models.mobilenet_v2().eval()
    cache = offline / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(reference.state_dict(), cache / "mobilenet_v2-7ebf99e0.pth")
    loaded = load_model("torchvision:mobilenet_v2")
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        torch.testing.assert_close(loaded.head(loaded.extractor(images)), reference(images))
    assert loaded.card.feature_dim == 1280 and len(loaded.extra["source_classes"]) == 1000
    assert loaded.preprocessing.input_size == (224, 224) and loaded.preprocessing.resize == 232


def test_unknown_torchvision_name():
    with pytest.raises(ModelLoadError, match="unknown torchvision"):
        load_model("torchvision:no_such_net")


def export_onnx(network, path, size=16):
    torch.onnx.export(network.eval(), torch.zeros(1, 3, size, size), str(path), dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "batch"}})


def test_onnx_source_splits_features_and_head(tmp_path):
    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(3, 5, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    classifier = nn.Linear(5, 3)
    export_onnx(nn.Sequential(body, classifier, nn.Softmax(dim=1)), tmp_path / "tiny.onnx")
    loaded = load_model(f"onnx:{tmp_path / 'tiny.onnx'}")
    images = torch.randn(4, 3, 16, 16)
    with torch.inference_mode():
        torch.testing.assert_close(loaded.extractor(images), body(images))
        torch.testing.assert_close(loaded.head(loaded.extractor(images)), classifier(body(images)))
    assert loaded.preprocessing.input_size == (16, 16) and loaded.card.feature_dim == 5


def test_onnx_graph_without_a_linear_classifier_is_pooled_whole(tmp_path):
    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU())
    export_onnx(network, tmp_path / "conv.onnx")
    loaded = load_model(f"onnx:{tmp_path / 'conv.onnx'}")
    images = torch.randn(2, 3, 16, 16)
    with torch.inference_mode():
        torch.testing.assert_close(loaded.extractor(images), network(images).mean(dim=(2, 3)))
    assert loaded.head is None


def test_an_unconvertible_onnx_file_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07garbage")
    with pytest.raises(ModelLoadError, match="onnx2torch cannot convert"):
        load_model(f"onnx:{path}")


@pytest.mark.parametrize("model_id, message", [
    ("resnet50", "model IDs look like"),
    ("hub:resnet50", "unknown model source"),
    ("zoo:nope", "unknown zoo model"),
    ("zoo:nope-random", "unknown zoo model"),
])
def test_registry_rejects_bad_ids(model_id, message):
    with pytest.raises(RuntimeError, match=message) as raised:
        load_model(model_id)
    assert isinstance(raised.value, ModelLoadError)


def test_default_zoo_is_every_checkpoint_plus_its_random_baseline():
    ids = default_zoo_ids()
    assert ids == [f"zoo:{n}" for n in ZOO] + [f"zoo:{n}-random" for n in ZOO]
    listed = dict(list_models())
    assert set(ids) <= set(listed) and all(listed[i] for i in ids)
    assert {"timm:NAME", "torchvision:NAME", "file:PATH?arch=TIMM_NAME", "onnx:PATH"} <= set(listed)
    assert not any("nsfw" in i.lower() or "nude" in i.lower() for i in ids)

