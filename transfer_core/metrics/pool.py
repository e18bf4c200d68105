"""Pool-relative metrics (NCTI, ETran): one model's components, and a pool's scores from its models' components.

Such a metric is registered with :func:`~transfer_core.metrics.registry.register_pool` as a components function and
the weight of each component; a pool's score for model m is Σ_part weight · minmax(part)[m], each component
min-max scaled over the pool's models, (v − min) / (max − min). Conventions, for every pool-relative metric:

* a model with a missing (None) or non-finite component gets None; the others are combined among themselves;
* fewer than two such complete models: every score is None and a :class:`TransferabilityWarning` says so (one
  model has no pool to be relative to);
* a component on which every complete model is equal (max − min ≤ 1e-12 · max |v|, i.e. rounding noise) is 0
  for all of them: it tells no model apart, so it neither moves a score nor turns into NaN.

>>> combine("etran", {"a": {"etran.lda": 0.9, "etran.energy": 2.0},
...                   "b": {"etran.lda": 0.7, "etran.energy": 4.0},
...                   "c": {"etran.lda": 0.8, "etran.energy": None}})
{'a': 0.85, 'b': 0.15, 'c': None}
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

from transfer_core.metrics import get_pool_metric
from transfer_core.metrics.errors import TransferabilityWarning
from transfer_core.metrics.prepared import prepare

CONSTANT_SPREAD = 1e-12  # relative spread of a component below which the pool counts it as constant


def components(name: str, features, labels=None, *, device="auto") -> dict[str, float]:
    """One model's components ``{"<name>.<part>": value}`` from its features and labels or a ``Prepared``.

    Raises what the metric raises (:class:`~transfer_core.metrics.errors.DegenerateInputError` when it cannot
    give numbers on these inputs: report every component as None then).
    """
    return get_pool_metric(name).components(prepare(features, labels, device=device))


def minmax(values: Mapping[str, float]) -> dict[str, float]:
    """Each value scaled to (v − min) / (max − min) across the mapping; all 0 when the values are equal.

    >>> minmax({"a": 1.0, "b": 3.0, "c": 2.0})
    {'a': 0.0, 'b': 1.0, 'c': 0.5}
    >>> minmax({"a": 0.5, "b": 0.5})
    {'a': 0.0, 'b': 0.0}
    """
    low, high = min(values.values()), max(values.values())
    spread = high - low
    if spread <= CONSTANT_SPREAD * max(abs(low), abs(high)):
        return dict.fromkeys(values, 0.0)
    return {model: (value - low) / spread for model, value in values.items()}


def combine(name: str, pool: Mapping[str, Mapping[str, float | None]]) -> dict[str, float | None]:
    """``{model: score or None}`` of pool-relative metric ``name`` from ``{model: {part: value or None}}``.

    Every model of ``pool`` appears in the result, in its order (the conventions are in the module docstring).
    """
    spec = get_pool_metric(name)
    complete = [model for model, parts in pool.items()
                if all(_finite(parts.get(part)) for part in spec.parts)]
    if len(complete) < 2:
        warnings.warn(f"{name} compares models within a pool: it needs at least two models with all of "
                      f"{', '.join(spec.parts)}, got {len(complete)}; reported as null", TransferabilityWarning,
                      stacklevel=2)
        return dict.fromkeys(pool)
    scaled = {part: minmax({model: float(pool[model][part]) for model in complete}) for part in spec.parts}
    scores = {model: sum(weight * scaled[part][model] for part, weight in spec.weights.items())
              for model in complete}
    return {model: scores.get(model) for model in pool}


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)
