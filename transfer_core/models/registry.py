"""One registry for every model source: a model ID string → ``LoadedModel`` (timm-style ``create_model``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from transfer_core.models.ids import SOURCES, parse, zoo_id

if TYPE_CHECKING:  # the model libraries load only with a model
    from transfer_core.models.base import LoadedModel


def load_model(model_id: str, *, layer: str | None = None) -> LoadedModel:
    """Resolve ``model_id``; ``layer`` = None for pooled penultimate features, or a named block of the model."""
    source, rest = parse(model_id)
    return source.load(rest, layer)


def default_zoo_ids(include_slow: bool = True) -> list[str]:
    """The default zoo (``--models zoo``): every offline checkpoint, then its random-init baseline;
    ``include_slow=False`` leaves out the VGG-class checkpoints (the app's one-click default on a CPU)."""
    from transfer_core.models.zoo import zoo_names

    return [zoo_id(name) for name in zoo_names(include_slow)]


def list_models() -> list[tuple[str, str]]:
    """(ID, one-line description) for the zoo, plus the forms of the other sources."""
    from transfer_core.models.zoo import describe, zoo_names

    rows = [(zoo_id(name), describe(name)) for name in zoo_names()]
    return rows + [(source.form, source.description) for source in SOURCES.values() if source.prefix != "zoo"]
