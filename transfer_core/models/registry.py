"""One registry for every model source: a model ID string → ``LoadedModel`` (timm-style ``create_model``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from transfer_core.models.errors import ModelLoadError
from transfer_core.models.ids import SOURCES, parse, zoo_id

if TYPE_CHECKING:  # the model libraries load only with a model
    from transfer_core.models.base import LoadedModel, Preprocessing


def load_model(model_id: str, *, layer: str | None = None) -> LoadedModel:
    """Resolve ``model_id``; ``layer`` = None for pooled penultimate features, or a named block of the model."""
    source, rest = parse(model_id)
    return source.load(rest, layer)


def default_zoo_ids(include_slow: bool = True) -> list[str]:
    """The default zoo (``--models zoo``): every offline checkpoint, then its random-init baseline;
    ``include_slow=False`` leaves out the VGG-class checkpoints (the app's one-click default on a CPU)."""
    from transfer_core.models.zoo import zoo_names

    return [zoo_id(name) for name in zoo_names(include_slow)]


def declared_preprocessing(model_id: str, root) -> Preprocessing | None:
    """The preprocessing of ``model_id`` known without loading it: from its manifest remembered under store ``root``,
    or as the zoo declares it; None otherwise."""
    from transfer_core.models.manifest import read_manifest

    manifest = read_manifest(model_id, None, root)
    if manifest is not None:
        return manifest.preprocessing
    try:
        source, rest = parse(model_id)
    except ModelLoadError:
        return None
    if source.prefix != "zoo":
        return None
    from transfer_core.models.zoo import declared_preprocessing as declared_by_zoo

    return declared_by_zoo(rest)


def list_models() -> list[tuple[str, str]]:
    """(ID, one-line description) for the zoo, plus the forms of the other sources."""
    from transfer_core.models.zoo import describe, zoo_names

    rows = [(zoo_id(name), describe(name)) for name in zoo_names()]
    return rows + [(source.form, source.description) for source in SOURCES.values() if source.prefix != "zoo"]
