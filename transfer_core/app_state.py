"""What the app pre-selects when nothing is chosen (the rank intervals' settings are the core's:
:mod:`transfer_core.config`).

Opening the app ranks the embedded default (``demo``: 1 000 textile photos) against the default zoo with one click;
on a CPU the VGG-class checkpoints are left out of that pre-selection (they can be added on the Models page).
Environment variables override the defaults, e.g. for a quick demo or the browser test::

    TRANSFER_SCOUT_DEMO_LIMIT=30                               # images of the default dataset
    TRANSFER_SCOUT_DEFAULT_MODELS=zoo:cnn-mnist,zoo:cnn-mnist-random
    TRANSFER_SCOUT_DEFAULT_METRICS=logme,knn

>>> app_defaults({"TRANSFER_SCOUT_DEMO_LIMIT": "30"}).limit
30
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Sequence

ENV_DEMO_LIMIT = "TRANSFER_SCOUT_DEMO_LIMIT"
ENV_DEFAULT_MODELS = "TRANSFER_SCOUT_DEFAULT_MODELS"
ENV_DEFAULT_METRICS = "TRANSFER_SCOUT_DEFAULT_METRICS"

DEFAULT_DATASET = "demo"
# Every metric that ranks feature extractors of different sizes fairly, minus the slow NLEEP (a Gaussian mixture
# per class) and the plain H-score (unstable with fewer images than feature dimensions; its shrinkage version
# stays). TransRate is left out because it is only comparable between models with the same feature size.
DEFAULT_METRICS = ("logme", "sfda", "gbc", "hscore_shrinkage", "knn", "disco", "leep", "nce")


@dataclass(frozen=True)
class AppDefaults:
    """The pre-selected dataset (``limit`` None = the dataset's own default size), models and metrics."""

    dataset_id: str
    limit: int | None
    model_ids: tuple[str, ...]
    metrics: tuple[str, ...]


def app_defaults(environ: Mapping[str, str] | None = None) -> AppDefaults:
    """The defaults, with the ``TRANSFER_SCOUT_*`` overrides of ``environ`` (default ``os.environ``) applied.

    A malformed override is a ValueError naming the variable; model ids are not checked here (a model that does
    not load is reported by the ranking like any other).
    """
    from transfer_core.models import default_zoo_ids

    environ = os.environ if environ is None else environ
    models = _listed(environ, ENV_DEFAULT_MODELS) or tuple(default_zoo_ids(include_slow=_has_gpu()))
    metrics = _listed(environ, ENV_DEFAULT_METRICS) or DEFAULT_METRICS
    _check_metrics(metrics)
    return AppDefaults(DEFAULT_DATASET, _limit(environ), models, metrics)


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def _listed(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in environ.get(name, "").split(",") if item.strip())


def _limit(environ: Mapping[str, str]) -> int | None:
    text = environ.get(ENV_DEMO_LIMIT, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{ENV_DEMO_LIMIT} must be a positive whole number of images, got {text!r}")
    return int(text)


def _check_metrics(metrics: Sequence[str]) -> None:
    from transfer_core.metrics import metric_names

    unknown = [name for name in metrics if name not in metric_names()]
    if unknown:
        raise ValueError(f"{ENV_DEFAULT_METRICS} names unknown metric(s) {', '.join(unknown)}; known metrics: "
                         f"{', '.join(metric_names())}")
