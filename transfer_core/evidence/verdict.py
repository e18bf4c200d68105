"""A plain-language verdict on a ranking, for readers who are not metric experts.

The best bet is the model with the best (lowest) consensus rank. Another model is *statistically tied*
with it when their consensus-rank intervals from target subsampling overlap
(:func:`transfer_core.evidence.uncertainty.subsample_rank_intervals`); without intervals the verdict says that the
uncertainty was not computed instead of claiming or denying ties. Extra sentences flag a random-init
baseline (a model id ending in ``-random``) ranked above pretrained models, and metrics that disagree.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from transfer_core.errors import UndefinedResultError
from transfer_core.evidence.evaluation import kendall_tau_b
from transfer_core.evidence.uncertainty import RankIntervals
from transfer_core.models.ids import display_names, is_baseline
from transfer_core.ranking.table import ModelRow, Ranking

DISAGREEMENT_TAU = 0.3  # mean pairwise Kendall τ between metrics below this = "metrics disagree strongly"


@dataclass(frozen=True)
class Verdict:
    """``best`` model id; ``tied_with`` the ids tied with it (None when the uncertainty was not computed)."""

    best: str
    tied_with: list[str] | None
    sentences: list[str]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def verdict(ranking: Ranking, intervals: RankIntervals | None = None, level: float = 0.9) -> Verdict:
    """Explain a :class:`~transfer_core.ranking.table.Ranking` in plain words.

    ``intervals`` come from :func:`~transfer_core.evidence.uncertainty.subsample_rank_intervals` on the same models;
    their draws are summarised at ``level`` for the tie rule, whatever level they were computed with.
    """
    rows = sorted((row for row in ranking.models if row.consensus_rank is not None),
                  key=lambda row: row.consensus_rank)
    if not rows:
        raise UndefinedResultError("no model has a consensus rank: nothing to give a verdict on")
    metrics = ranking.metrics
    names = display_names([row.model for row in rows])
    best = rows[0]
    if len(rows) == 1:
        return Verdict(best.model, [], [f"Only {names[best.model]} was ranked, so there is nothing to compare it "
                                        "with."])
    tied = _tied_models(best, rows, intervals, level)
    sentences = [_best_sentence(best, rows, metrics, names), _tie_sentence(best, tied, intervals, level, names)]
    sentences += _baseline_sentences(rows, names)
    sentences += _disagreement_sentences(rows, metrics, names)
    return Verdict(best.model, tied, sentences)


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _best_sentence(best: ModelRow, rows: list[ModelRow], metrics: list[str], names: dict[str, str]) -> str:
    ranked_by = [m for m in metrics if best.rank(m) is not None]
    first_by = [m for m in ranked_by if best.rank(m) == 1]
    count = f"{len(ranked_by)} metric{'s' if len(ranked_by) != 1 else ''}"
    if len(ranked_by) > 1:
        detail = ("every one of them puts it first" if len(first_by) == len(ranked_by)
                  else f"{len(first_by)} of them put it first")
        count += f" ({detail})"
    sentence = f"{names[best.model]} is the best bet: it ranks first by consensus across {count}."
    sharing = [names[row.model] for row in rows[1:] if row.consensus_rank == best.consensus_rank]
    if sharing:
        sentence += f" It shares that consensus rank with {_listing(sharing)}."
    return sentence


def _tied_models(best: ModelRow, rows: list[ModelRow], intervals: RankIntervals | None,
                 level: float) -> list[str] | None:
    if intervals is None:
        return None
    return [row.model for row in rows[1:]
            if row.model in intervals.models and intervals.overlaps(best.model, row.model, level=level)]


def _tie_sentence(best: ModelRow, tied: list[str] | None, intervals: RankIntervals | None, level: float,
                  names: dict[str, str]) -> str:
    percent = f"{level * 100:g} %"
    if intervals is None:
        return ("The uncertainty of this ranking was not computed, so we cannot say which models are "
                "statistically tied with it.")
    if tied:
        verb = "is" if len(tied) == 1 else "are"
        return (f"{_listing([names[m] for m in tied])} {verb} statistically tied with it (their {percent} "
                f"rank intervals overlap when the target samples are resampled).")
    own = intervals.interval(best.model, level=level)
    if own is None:
        return "Its rank could not be resampled, so we cannot say which models are statistically tied with it."
    return (f"No other model is statistically tied with it: its {percent} rank interval ({_span(own)}) does not "
            f"overlap any other model's when the target samples are resampled.")


def _span(interval: tuple[float, float]) -> str:
    low, high = (f"{value:g}" for value in interval)
    return f"always {low}" if low == high else f"{low} to {high}"


def _baseline_sentences(rows: list[ModelRow], names: dict[str, str]) -> list[str]:
    """A random-init baseline above pretrained models says their pre-training buys little on this data."""
    pretrained = [row for row in rows if not is_baseline(row.model)]
    sentences = []
    for baseline in (row for row in rows if is_baseline(row.model)):
        beaten = [names[row.model] for row in pretrained if row.consensus_rank > baseline.consensus_rank]
        if not beaten:
            continue
        whom = ("every pretrained model" if len(beaten) == len(pretrained)
                else f"{len(beaten)} of {len(pretrained)} pretrained models ({_listing(beaten)})")
        sentences.append(f"{names[baseline.model]} has random weights (no pre-training) yet ranks above {whom}, "
                         "which suggests pre-training does not help much on this data.")
    return sentences


def _disagreement_sentences(rows: list[ModelRow], metrics: list[str], names: dict[str, str]) -> list[str]:
    """Mean Kendall τ between every pair of metrics' rankings; below :data:`DISAGREEMENT_TAU` we say so."""
    taus = []
    for first, second in itertools.combinations(metrics, 2):
        pairs = [(row.rank(first), row.rank(second)) for row in rows
                 if row.rank(first) is not None and row.rank(second) is not None]
        if len(pairs) >= 3:
            try:
                taus.append(kendall_tau_b(*zip(*pairs)))
            except UndefinedResultError:
                continue
    if not taus or float(np.mean(taus)) >= DISAGREEMENT_TAU:
        return []
    choices = _listing([f"{metric} picks {names[_first_by(rows, metric)]}" for metric in metrics
                        if _first_by(rows, metric) is not None])
    return [f"The metrics disagree strongly (average agreement between their rankings: Kendall τ = "
            f"{np.mean(taus):.2f}, where 1 is full agreement): {choices}. Treat this ranking as tentative."]


def _first_by(rows: list[ModelRow], metric: str) -> str | None:
    """The model a single metric ranks best (the first listed among equals); None if it ranked none."""
    ranked = [row for row in rows if row.rank(metric) is not None]
    return min(ranked, key=lambda row: row.rank(metric)).model if ranked else None
