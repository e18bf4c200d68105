"""The metric registry: one entry per transferability metric (timm-style lookup by plain name)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from transfer_core.metrics.errors import MetricInputError
from transfer_core.metrics.options import Option

CLASSIFICATION = "classification"
REGRESSION = "regression"  # also multi-label, given as multi-hot targets


@dataclass(frozen=True)
class MetricSpec:
    """What a metric needs, what it means and where it comes from.

    ``function(prepared, **options) -> float`` computes the score (higher is better) from a
    :class:`~transfer_core.metrics.prepared.Prepared`; ``options`` maps each option name to its
    :class:`~transfer_core.metrics.options.Option` (type and allowed values).
    """

    name: str
    function: Callable[..., float]
    primary_input: str  # "features" or "source_probs"
    tasks: frozenset[str]
    meaning: str
    citation: str
    options: dict[str, Option] = field(default_factory=dict)
    higher_is_better: bool = True

    def missing_inputs(self, prepared) -> list[str]:
        """The inputs this metric needs that ``prepared`` lacks (empty when it can run)."""
        missing = [] if getattr(prepared, self.primary_input) is not None else [self.primary_input]
        has_labels = prepared.labels is not None and CLASSIFICATION in self.tasks
        has_targets = prepared.targets is not None and REGRESSION in self.tasks
        if not (has_labels or has_targets):
            missing.append(" or ".join(
                name for name, task in (("labels", CLASSIFICATION), ("targets", REGRESSION)) if task in self.tasks
            ))
        return missing


REGISTRY: dict[str, MetricSpec] = {}


def register(name: str, *, primary_input: str = "features", tasks=(CLASSIFICATION,), meaning: str,
             citation: str, options: dict[str, Option] | None = None):
    """Decorator adding ``function`` to :data:`REGISTRY` under ``name``.

    ``function`` checks its own options with :func:`check_options` before computing anything, so that direct
    Python calls are held to the declared ranges as the command line is.
    """

    def decorate(function: Callable[..., float]) -> Callable[..., float]:
        if name in REGISTRY:
            raise RuntimeError(f"metric {name!r} registered twice")
        REGISTRY[name] = MetricSpec(name, function, primary_input, frozenset(tasks), meaning, citation,
                                    dict(options or {}))
        return function

    return decorate


def get_metric(name: str) -> MetricSpec:
    """The registry entry for ``name``; a clear error listing the known names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise MetricInputError(f"unknown metric {name!r}; known metrics: {', '.join(REGISTRY)}") from None


def check_options(metric: str, **values: object) -> dict[str, object]:
    """``values`` checked against ``metric``'s declared options (plain Python types); an unknown option or a
    value outside its declared range is a :class:`MetricInputError` naming the option, the value and the range."""
    spec = get_metric(metric)
    return {key: _declared(spec, key).check(f"{metric}.{key}", value) for key, value in values.items()}


def parse_options(spec: MetricSpec, raw: dict[str, object]) -> dict[str, object]:
    """Checked option values from ``{"seed": "1"}`` strings (from ``--option``) or Python values."""
    parsed = {}
    for key, value in raw.items():
        option, name = _declared(spec, key), f"{spec.name}.{key}"
        parsed[key] = option.parse(name, value) if isinstance(value, str) else option.check(name, value)
    return parsed


def _declared(spec: MetricSpec, key: str) -> Option:
    if key not in spec.options:
        known = ", ".join(spec.options) or "none"
        raise MetricInputError(f"metric {spec.name!r} has no option {key!r} (its options: {known})")
    return spec.options[key]


@dataclass(frozen=True)
class PoolMetricSpec:
    """A pool-relative metric (NCTI, ETran): each model gets **components**, only a pool gets scores.

    ``components(prepared) -> {"<name>.<part>": float}`` computes one model's components; its pool score is
    Σ_part ``weights[part]`` · minmax(part) across the models of the pool
    (:func:`transfer_core.metrics.pool.combine`). Not in :data:`REGISTRY`: a lone model has no such score.
    """

    name: str
    components: Callable[..., dict[str, float]]
    weights: dict[str, float]  # part name -> weight of its min-max across the pool
    tasks: frozenset[str]
    meaning: str
    citation: str
    primary_input: str = "features"
    higher_is_better: bool = True

    @property
    def parts(self) -> tuple[str, ...]:
        """The component names, ``"<name>.<part>"``, in the order of the pool formula."""
        return tuple(self.weights)

    @property
    def options(self) -> dict[str, Option]:
        """None: the published pool formulas have no parameters (declared so options are checked as for any metric)."""
        return {}

    missing_inputs = MetricSpec.missing_inputs  # the same rule: it reads only primary_input and tasks


POOL_METRICS: dict[str, PoolMetricSpec] = {}


def register_pool(name: str, *, weights: dict[str, float], tasks=(CLASSIFICATION,), meaning: str, citation: str):
    """Decorator adding a components function to :data:`POOL_METRICS` under ``name``; ``weights`` names every
    component it returns."""

    def decorate(function: Callable[..., dict[str, float]]) -> Callable[..., dict[str, float]]:
        if name in POOL_METRICS or name in REGISTRY:
            raise RuntimeError(f"metric {name!r} registered twice")
        POOL_METRICS[name] = PoolMetricSpec(name, function, dict(weights), frozenset(tasks), meaning, citation)
        return function

    return decorate


def is_pool_relative(name: str) -> bool:
    """Whether ``name`` is a registered pool-relative metric (modules already imported)."""
    return name in POOL_METRICS


def get_pool_metric(name: str) -> PoolMetricSpec:
    """The pool-relative entry for ``name``; a clear error listing the known names otherwise."""
    try:
        return POOL_METRICS[name]
    except KeyError:
        known = ", ".join(POOL_METRICS) or "none"
        raise MetricInputError(f"unknown pool-relative metric {name!r}; known: {known}") from None
