"""The one table of model sources and the ID rules every other module uses."""

import pytest

from transfer_core.models import ModelLoadError, list_models
from transfer_core.models.ids import (
    ID_FORMS,
    SOURCES,
    _function,
    display_names,
    file_id,
    is_baseline,
    onnx_id,
    parse,
    parse_file_spec,
    short_name,
    source_files,
)


@pytest.mark.parametrize("source", list(SOURCES.values()), ids=list(SOURCES))
def test_every_source_names_a_loader_and_identity_that_exist(source):
    assert callable(_function(source.loader))
    assert source.identity is None or callable(_function(source.identity))
    assert source.form.startswith(source.prefix + ":") and source.form in ID_FORMS


@pytest.mark.parametrize("model_id, message", [
    ("resnet50", "model IDs look like zoo:NAME, zoo:NAME-random, timm:NAME"),
    ("zoo:", "model IDs look like"),
    ("hub:resnet50", "unknown model source 'hub'"),
])
def test_malformed_ids_are_clear_errors(model_id, message):
    with pytest.raises(ModelLoadError, match=message):
        parse(model_id)


def test_ids_built_here_parse_back(tmp_path):
    weights = tmp_path / "w.safetensors"
    source, rest = parse(file_id(weights, "resnet50"))
    assert source.prefix == "file" and parse_file_spec(rest) == (weights, "resnet50")
    assert source_files(file_id(weights, "resnet50")) == [weights]
    assert parse(onnx_id(weights))[0].prefix == "onnx" and source_files(onnx_id(weights)) == [weights]
    assert source_files("timm:resnet18") is None and source_files("nonsense") is None
    with pytest.raises(ModelLoadError, match="arch=resnet50"):
        parse_file_spec(str(weights))


def test_display_rules():
    assert short_name("zoo:cnn-mnist") == "cnn-mnist" and short_name("timm:resnet18") == "timm:resnet18"
    assert is_baseline("zoo:cnn-mnist-random") and not is_baseline("zoo:cnn-mnist")
    assert display_names(["zoo:a", "timm:b"]) == {"zoo:a": "a", "timm:b": "b"}
    assert display_names(["zoo:a", "timm:a"]) == {"zoo:a": "zoo:a", "timm:a": "timm:a"}  # ambiguous: keep prefixes


def test_the_model_listing_comes_from_the_table():
    forms = [model_id for model_id, _ in list_models() if not model_id.startswith("zoo:")]
    assert forms == [source.form for source in SOURCES.values() if source.prefix != "zoo"]
