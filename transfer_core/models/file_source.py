"""``file:PATH?arch=TIMM_NAME`` — a local weights file (safetensors, or a weights-only .pth/.pt) for a timm
architecture."""

from __future__ import annotations

from transfer_core.models.assemble import CardFacts, assemble
from transfer_core.models.base import LoadedModel
from transfer_core.models.conversion import load_by_name
from transfer_core.models.ids import parse_file_spec
from transfer_core.models.state_files import read_state_dict
from transfer_core.models.timm_source import check_timm_name, timm_network


def _num_classes(state: dict, classifier: str) -> int:
    """Classes of the checkpoint's own classifier (0 when it has none: a headless backbone)."""
    weight = state.get(f"{classifier}.weight")
    return 0 if weight is None else int(weight.shape[0])


def load_file(spec: str, layer: str | None) -> LoadedModel:
    import timm

    path, arch = parse_file_spec(spec)
    check_timm_name(arch)
    state = read_state_dict(path)
    config = timm.models.get_pretrained_cfg(arch)
    classifier = config.classifier if config is not None and isinstance(config.classifier, str) else "fc"
    model = timm.create_model(arch, pretrained=False, num_classes=_num_classes(state, classifier))
    load_by_name(model, state, what=f"{path} for timm {arch}")
    facts = CardFacts(
        architecture=f"timm {arch}",
        pretrained_on="user checkpoint",
        licence="as licensed by the checkpoint's author",
        source=str(path),
    )
    return assemble(f"file:{spec}", timm_network(model), facts, layer)
