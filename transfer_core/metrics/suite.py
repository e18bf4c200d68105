"""Score one model's inputs with many metrics, sharing the prepared inputs and collecting warnings per metric."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

from transfer_core.metrics import get_metric, metric_names
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError
from transfer_core.metrics.prepared import Prepared
from transfer_core.metrics.registry import parse_options


@dataclass
class MetricOutcome:
    """One metric's result: a number, or None with the reason in ``warnings``."""

    name: str
    value: float | None
    seconds: float
    warnings: list[str] = field(default_factory=list)


def select_metrics(requested: str | list[str] | None, prepared: Prepared) -> list[str]:
    """Resolve ``"all"`` / None (every metric whose inputs are present) or an explicit list.

    A metric named explicitly whose inputs are missing is an error (the caller asked for something impossible).
    """
    if requested in (None, "all", ["all"]):
        return [name for name in metric_names() if not get_metric(name).missing_inputs(prepared)]
    names = [requested] if isinstance(requested, str) else list(requested)
    for name in names:
        missing = get_metric(name).missing_inputs(prepared)
        if missing:
            raise MetricInputError(f"metric {name!r} needs {' and '.join(missing)}, which were not given")
    return names


def score_suite(prepared: Prepared, metrics: str | list[str] | None = "all",
                options: dict[str, dict[str, object]] | None = None) -> dict[str, MetricOutcome]:
    """Run each selected metric on ``prepared``; degenerate input gives ``None`` plus a warning, never an exception.

    ``options`` maps a metric name to its keyword options (see :func:`checked_options`), all checked before any
    metric runs.
    """
    checked = checked_options(options)
    names = select_metrics(metrics, prepared)
    return {name: _score_one(name, prepared, checked.get(name, {})) for name in names}


def score_model(prepared: Prepared, metrics: str | list[str] | None = "all",
                options: dict[str, dict[str, object]] | None = None) -> dict[str, MetricOutcome]:
    """One model's scores in a pool (the ranking and its rank intervals): like :func:`score_suite`, except that an
    explicitly named metric whose inputs this model lacks (LEEP without a source head) is left out for this model
    instead of failing it."""
    if metrics not in (None, "all", ["all"]):
        names = [metrics] if isinstance(metrics, str) else list(metrics)
        metrics = [name for name in names if not get_metric(name).missing_inputs(prepared)]
    return score_suite(prepared, metrics, options)


def checked_options(options: dict[str, dict[str, object]] | None) -> dict[str, dict[str, object]]:
    """``{metric: {key: value}}`` with strings (from ``--option``) converted and every value checked against its
    declared range, whether or not its metric will run: a bad value is a :class:`MetricInputError` up front."""
    options = options or {}
    unknown = set(options) - set(metric_names())
    if unknown:
        raise MetricInputError(f"options given for unknown metric(s): {', '.join(sorted(unknown))}")
    return {name: parse_options(get_metric(name), raw) for name, raw in options.items()}


def _score_one(name: str, prepared: Prepared, kwargs: dict[str, object]) -> MetricOutcome:
    spec = get_metric(name)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = float(spec.function(prepared, **kwargs))
        except DegenerateInputError as exc:
            caught.append(warnings.WarningMessage(str(exc), UserWarning, __file__, 0))
            value = None
    messages = list(dict.fromkeys(str(w.message) for w in caught))
    if value is not None and value != value:  # NaN must never escape silently
        messages.append(f"{name} produced NaN; reported as null")
        value = None
    return MetricOutcome(name, value, time.perf_counter() - started, messages)
