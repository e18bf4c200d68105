"""The ranking table: one typed row per ranked model, and the :class:`Ranking` that ``rank`` returns and
``ranking.json`` holds.

A row keeps its scores and ranks by metric name (its consensus rank under
:data:`~transfer_core.ranking.ranks.CONSENSUS`); only :meth:`ModelRow.to_dict` / :meth:`ModelRow.from_dict` know the
flat ``ranking.json`` / ``ranking.csv`` columns (``<metric>``, ``<metric>_rank``, ``consensus_rank``), so no consumer
parses column names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transfer_core.ranking.ranks import CONSENSUS, rank_models

FACTS = ("feature_dim", "extract_seconds", "cache_hit", "engine", "card")  # the extraction facts after the scores


def rank_column(metric: str) -> str:
    """The ``ranking.json`` key of a metric's rank (``consensus_rank`` for :data:`CONSENSUS`)."""
    return f"{metric}_rank"


@dataclass(frozen=True)
class ModelRow:
    """One ranked model: its score and rank per metric, its consensus rank, and the facts of its extraction
    (feature size, seconds, whether the features came from the cache, the engine that computed them, the card)."""

    model: str
    scores: dict[str, float | None]
    ranks: dict[str, int | float | None]
    feature_dim: int | None = None
    extract_seconds: float | None = None
    cache_hit: bool | None = None
    engine: str | None = None
    card: dict = field(default_factory=dict)

    @property
    def consensus_rank(self) -> float | None:
        return self.ranks.get(CONSENSUS)

    def score(self, metric: str) -> float | None:
        return self.scores.get(metric)

    def rank(self, metric: str = CONSENSUS) -> int | float | None:
        return self.ranks.get(metric)

    def to_dict(self, metrics: list[str]) -> dict:
        """The row as in ``ranking.json``: model, each metric's score and rank, consensus rank, the facts."""
        row: dict = {"model": self.model}
        for metric in metrics:
            row[metric], row[rank_column(metric)] = self.score(metric), self.rank(metric)
        row[rank_column(CONSENSUS)] = self.consensus_rank
        return row | {name: getattr(self, name) for name in FACTS}

    @classmethod
    def from_dict(cls, row: dict, metrics: list[str]) -> ModelRow:
        """The row of :meth:`to_dict` (a ``ranking.json`` row); columns it does not know are ignored."""
        ranks = {metric: row.get(rank_column(metric)) for metric in [*metrics, CONSENSUS]}
        return cls(row["model"], {metric: row.get(metric) for metric in metrics}, ranks,
                   **{name: row.get(name) for name in FACTS if name != "card"}, card=dict(row.get("card") or {}))


def rank_table(scores: dict[str, dict[str, float | None]], metrics: list[str],
               facts: dict[str, dict] | None = None) -> list[ModelRow]:
    """Rows for ``{model: {metric: score}}`` ranked on ``metrics``, best consensus first (unranked models last);
    ``facts`` gives each model's extraction facts (:data:`FACTS`)."""
    models = list(scores)
    ranked = rank_models([scores[model] for model in models], metrics)
    rows = [ModelRow(model, {metric: scores[model].get(metric) for metric in metrics}, ranks,
                     **(facts or {}).get(model, {}))
            for model, ranks in zip(models, ranked)]
    return sorted(rows, key=lambda row: (row.consensus_rank is None, row.consensus_rank or 0.0))


@dataclass
class Ranking:
    """What ``rank`` returns and ``ranking.json`` holds: the dataset block (with its limit and seed), the metrics, the
    rows best first, and per model the error that kept it out or the warnings its metrics gave."""

    dataset: dict
    metrics: list[str]
    models: list[ModelRow]
    errors: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)

    @property
    def model_ids(self) -> list[str]:
        return [row.model for row in self.models]

    def row(self, model: str) -> ModelRow:
        for row in self.models:
            if row.model == model:
                return row
        raise KeyError(f"model {model!r} is not in this ranking; ranked: {', '.join(self.model_ids)}")

    def scores(self, metric: str) -> dict[str, float | None]:
        """``{model: score}`` of one metric, best consensus first."""
        return {row.model: row.score(metric) for row in self.models}

    def ranks(self, metric: str = CONSENSUS) -> dict[str, int | float | None]:
        """``{model: rank}`` by one metric (or the consensus), best consensus first."""
        return {row.model: row.rank(metric) for row in self.models}

    def to_dict(self) -> dict:
        return {"dataset": self.dataset, "metrics": self.metrics,
                "models": [row.to_dict(self.metrics) for row in self.models],
                "errors": self.errors, "warnings": self.warnings}

    @classmethod
    def from_dict(cls, payload: dict) -> Ranking:
        """The ranking of ``to_dict()`` (or of ``ranking.json``; keys it does not know are ignored)."""
        metrics = list(payload["metrics"])
        return cls(payload["dataset"], metrics, [ModelRow.from_dict(row, metrics) for row in payload["models"]],
                   dict(payload.get("errors", {})), dict(payload.get("warnings", {})))
