"""Score one model's inputs with many metrics, sharing the prepared inputs and collecting warnings per metric; and a
pool's scores from its models' outcomes (pool-relative metrics: NCTI, ETran)."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field, replace

from transfer_core.metrics import get_metric, is_pool_relative, metric_names
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError
from transfer_core.metrics.prepared import Prepared
from transfer_core.metrics.registry import parse_options


@dataclass
class MetricOutcome:
    """One metric's result: a number, or None with the reason in ``warnings``.

    A pool-relative metric (:mod:`transfer_core.metrics.pool`) has one model's ``components``
    ``{"<name>.<part>": number or None}`` and no value until :func:`pool_outcomes` combines a pool of them.
    """

    name: str
    value: float | None
    seconds: float
    warnings: list[str] = field(default_factory=list)
    components: dict[str, float | None] | None = None

    def reported(self) -> dict[str, float | None]:
        """What ``score`` reports for one model: ``{name: value}``, or a pool-relative metric's components."""
        return {self.name: self.value} if self.components is None else dict(self.components)


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
    metric runs. A pool-relative metric's outcome holds this model's components (:attr:`MetricOutcome.components`).
    """
    checked = checked_options(options)
    names = select_metrics(metrics, prepared)
    return {name: _score_one(name, prepared, checked.get(name, {})) for name in names}


def score_model(prepared: Prepared, metrics: str | list[str] | None = "all",
                options: dict[str, dict[str, object]] | None = None) -> dict[str, MetricOutcome]:
    """One model's scores in a pool (the ranking and its rank intervals): like :func:`score_suite`, except that an
    explicitly named metric whose inputs this model lacks (LEEP without a source head) is left out for this model
    instead of failing it. Pool-relative metrics get their values from :func:`pool_outcomes`."""
    if metrics not in (None, "all", ["all"]):
        names = [metrics] if isinstance(metrics, str) else list(metrics)
        metrics = [name for name in names if not get_metric(name).missing_inputs(prepared)]
    return score_suite(prepared, metrics, options)


def pool_outcomes(outcomes: dict[str, dict[str, MetricOutcome]]) -> dict[str, dict[str, MetricOutcome]]:
    """``{model: {metric: outcome}}`` of a pool (each model's :func:`score_model`) with every pool-relative metric's
    value filled in: :func:`~transfer_core.metrics.pool.combine` of the components of the models that have that
    metric (min-max across them; a pool of one gives None, and each model's outcome carries the warning)."""
    from transfer_core.metrics.pool import combine

    pooled = {model: dict(by_metric) for model, by_metric in outcomes.items()}
    names = dict.fromkeys(name for by_metric in outcomes.values() for name in by_metric if is_pool_relative(name))
    for name in names:
        members = {model: by_metric[name] for model, by_metric in outcomes.items() if name in by_metric}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scores = combine(name, {model: outcome.components for model, outcome in members.items()})
        messages = [str(item.message) for item in caught]
        for model, outcome in members.items():
            pooled[model][name] = replace(outcome, value=scores[model],
                                          warnings=list(dict.fromkeys(outcome.warnings + messages)))
    return pooled


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
    pool_relative = is_pool_relative(name)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = spec.components(prepared) if pool_relative else {name: float(spec.function(prepared, **kwargs))}
        except DegenerateInputError as exc:
            caught.append(warnings.WarningMessage(str(exc), UserWarning, __file__, 0))
            result = dict.fromkeys(spec.parts if pool_relative else [name])
    messages = list(dict.fromkeys(str(w.message) for w in caught))
    for key, value in result.items():
        if value is not None and math.isnan(value):  # NaN must never escape silently
            messages.append(f"{key} produced NaN; reported as null")
            result[key] = None
    seconds = time.perf_counter() - started
    if pool_relative:
        return MetricOutcome(name, None, seconds, messages, result)
    return MetricOutcome(name, result[name], seconds, messages)
