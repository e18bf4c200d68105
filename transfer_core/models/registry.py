"""One registry for every model source: a model ID string → ``LoadedModel`` (timm-style ``create_model``)."""

from __future__ import annotations

from transfer_core.models.base import LoadedModel
from transfer_core.models.errors import ModelLoadError

ID_FORMS = (
    "zoo:NAME, zoo:NAME-random, timm:NAME, torchvision:NAME, file:PATH?arch=TIMM_NAME, onnx:PATH"
)


def load_model(model_id: str, *, layer: str | None = None) -> LoadedModel:
    """Resolve ``model_id``; ``layer`` = None for pooled penultimate features, or a named block of the model."""
    kind, separator, rest = model_id.partition(":")
    if not separator or not rest:
        raise ModelLoadError(f"model IDs look like {ID_FORMS}; got {model_id!r}")
    if kind == "zoo":
        from transfer_core.models.zoo import load_zoo

        return load_zoo(rest, layer)
    if kind == "timm":
        from transfer_core.models.timm_source import load_timm

        return load_timm(rest, layer)
    if kind == "torchvision":
        from transfer_core.models.torchvision_source import load_torchvision

        return load_torchvision(rest, layer)
    if kind == "file":
        from transfer_core.models.file_source import load_file

        return load_file(rest, layer)
    if kind == "onnx":
        from transfer_core.models.onnx_source import load_onnx

        return load_onnx(rest, layer)
    raise ModelLoadError(f"unknown model source {kind!r}; model IDs look like {ID_FORMS}")


def default_zoo_ids(include_slow: bool = True) -> list[str]:
    """The default zoo (``--models zoo``): every offline checkpoint, then its random-init baseline;
    ``include_slow=False`` leaves out the VGG-class checkpoints (the app's one-click default on a CPU)."""
    from transfer_core.models.zoo import zoo_names

    return [f"zoo:{name}" for name in zoo_names(include_slow)]


def list_models() -> list[tuple[str, str]]:
    """(ID, one-line description) for the zoo, plus the forms of the other sources."""
    from transfer_core.models.zoo import describe, zoo_names

    rows = [(f"zoo:{name}", describe(name)) for name in zoo_names()]
    return rows + [
        ("timm:NAME", "any timm model with pretrained weights (downloaded, or from the local hub cache)"),
        ("torchvision:NAME", "a torchvision classification model with its DEFAULT weights"),
        ("file:PATH?arch=TIMM_NAME", "a local .safetensors or weights-only .pth for a timm architecture"),
        ("onnx:PATH", "an ONNX image model, converted with onnx2torch"),
    ]
