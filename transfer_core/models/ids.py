"""How model IDs are shown to people (light: no model library is imported).

>>> short_name("zoo:cnn-mnist"), short_name("timm:resnet18")
('cnn-mnist', 'timm:resnet18')
"""

from __future__ import annotations

ZOO_PREFIX = "zoo:"


def short_name(model_id: str) -> str:
    """``zoo:cnn-mnist`` → ``cnn-mnist`` for labels; other sources keep their prefix."""
    return model_id[len(ZOO_PREFIX):] if model_id.startswith(ZOO_PREFIX) else model_id
