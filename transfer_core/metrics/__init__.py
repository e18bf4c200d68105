"""Transferability metrics in torch (one module per metric) and their registries.

Per-model metrics (a score for one model) are in ``REGISTRY``; pool-relative ones (NCTI, ETran: components per
model, a score only within a pool, :mod:`transfer_core.metrics.pool`) in ``POOL_METRICS``.

Both kinds share the plain names that ``score`` and ``rank`` accept (:func:`metric_names`) and the lookup
:func:`get_metric` (meaning, citation, tasks, inputs, options).

>>> from transfer_core.metrics import get_metric, metric_names, pool_metric_names
>>> metric_names()[-3:], pool_metric_names(), get_metric("ncti").parts
(['ncti', 'etran', 'ped'], ['ncti', 'etran'], ('ncti.seli', 'ncti.ncc', 'ncti.vc'))
"""

from __future__ import annotations

import importlib

from transfer_core.metrics.errors import MetricInputError
from transfer_core.metrics.registry import POOL_METRICS, REGISTRY, MetricSpec, PoolMetricSpec

# Plain names in the order the CLI and the app list them (design.md); each module registers its metric(s).
METRIC_MODULES = ("logme", "leep", "nce", "nleep", "sfda", "gbc", "hscore", "hscore_shrinkage",
                  "transrate", "parc", "knn", "disco", "ncti", "etran", "ped")
POOL_METRIC_MODULES = ("ncti", "etran")


def _load_all() -> None:
    for module in METRIC_MODULES:
        importlib.import_module(f"transfer_core.metrics.{module}")


def metric_names() -> list[str]:
    """Every registered metric's plain name, per-model and pool-relative ones alike (``score`` / ``rank``
    ``--metrics``, the app's metric choice)."""
    _load_all()
    return [name for name in METRIC_MODULES if name in REGISTRY or name in POOL_METRICS]


def get_metric(name: str) -> MetricSpec | PoolMetricSpec:
    """The registry entry for ``name``, per-model or pool-relative (loads the metric modules on first use); an
    unknown name is a :class:`~transfer_core.metrics.errors.MetricInputError` listing the known ones."""
    from transfer_core.metrics.registry import get_metric as lookup

    _load_all()
    if name in POOL_METRICS:
        return POOL_METRICS[name]
    try:
        return lookup(name)
    except MetricInputError:
        raise MetricInputError(f"unknown metric {name!r}; known metrics: {', '.join(metric_names())}") from None


def pool_metric_names() -> list[str]:
    """Every registered pool-relative metric's plain name (also among :func:`metric_names`)."""
    _load_all()
    return [name for name in POOL_METRIC_MODULES if name in POOL_METRICS]


def is_pool_relative(name: str) -> bool:
    """Whether ``name`` is a pool-relative metric (its score exists only within a pool of models)."""
    _load_all()
    return name in POOL_METRICS


def get_pool_metric(name: str) -> PoolMetricSpec:
    """The pool-relative entry for ``name`` (loads the metric modules on first use)."""
    from transfer_core.metrics.registry import get_pool_metric as lookup

    _load_all()
    return lookup(name)
