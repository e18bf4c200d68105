"""Transferability metrics in torch (one module per metric) and their registry.

>>> from transfer_core.metrics import get_metric, metric_names
>>> "logme" in metric_names()
True
"""

from __future__ import annotations

import importlib

from transfer_core.metrics.registry import REGISTRY, MetricSpec

# Plain names in the order the CLI and the app list them; each module registers its metric(s).
METRIC_MODULES = ("logme", "leep", "nce", "nleep", "sfda", "gbc", "hscore", "hscore_shrinkage",
                  "transrate", "parc", "knn", "disco")


def _load_all() -> None:
    for module in METRIC_MODULES:
        importlib.import_module(f"transfer_core.metrics.{module}")


def metric_names() -> list[str]:
    """Every registered metric's plain name."""
    _load_all()
    return [name for name in METRIC_MODULES if name in REGISTRY]


def get_metric(name: str) -> MetricSpec:
    """The registry entry for ``name`` (loads the metric modules on first use)."""
    from transfer_core.metrics.registry import get_metric as lookup

    _load_all()
    return lookup(name)
