"""Plain-language verdicts built from real computed rankings (small synthetic features, fast metrics)."""

import functools

import numpy as np
import pytest
from test_uncertainty import FAST_METRICS, regression_pool, synthetic_pool, with_swapped_twin

from transfer_core.errors import UndefinedResultError
from transfer_core.evidence.uncertainty import subsample_rank_intervals
from transfer_core.evidence.verdict import verdict
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.suite import score_suite
from transfer_core.ranking.table import Ranking, rank_table


def ranking_of(features: dict, labels=None, *, targets=None, metrics=FAST_METRICS) -> Ranking:
    """A ranking as the pipeline builds it: scores, per-metric ranks, consensus rank, best first."""
    scores = {model: {name: outcome.value for name, outcome in
                      score_suite(prepare(values, labels, targets=targets, device="cpu"), metrics).items()}
              for model, values in features.items()}
    return Ranking({}, list(metrics), rank_table(scores, list(metrics)))


@functools.cache
def scenario(separations: tuple[tuple[str, float], ...], twin_of: str | None = None, with_intervals: bool = True):
    """Rows and (optionally) rank intervals for models with the given class separations (cached: read only)."""
    features, labels = synthetic_pool(dict(separations))
    if twin_of is not None:
        features = with_swapped_twin(features, labels, twin_of, twin_of + "_twin")
    intervals = (subsample_rank_intervals(features, labels, metrics=FAST_METRICS, repeats=10, seed=0, device="cpu")
                 if with_intervals else None)
    return ranking_of(features, labels), intervals


def test_clear_winner():
    rows, intervals = scenario((("zoo:good", 3.0), ("zoo:plain", 0.7)), twin_of="zoo:plain")
    result = verdict(rows, intervals)
    assert result.best == "zoo:good" and result.tied_with == []
    assert result.sentences == [
        "good is the best bet: it ranks first by consensus across 3 metrics (every one of them puts it first).",
        "No other model is statistically tied with it: its 90 % rank interval (always 1) does not overlap any "
        "other model's when the target samples are resampled.",
    ]


def test_statistical_tie():
    rows, intervals = scenario((("zoo:alpha", 1.5), ("zoo:weak", 0.2)), twin_of="zoo:alpha")
    result = verdict(rows, intervals)
    twins = {"zoo:alpha", "zoo:alpha_twin"}
    assert result.best in twins and result.tied_with == list(twins - {result.best})
    other = result.tied_with[0].removeprefix("zoo:")
    assert (f"{other} is statistically tied with it (their 90 % rank intervals overlap when the target samples "
            "are resampled).") in result.sentences
    assert "weak" not in result.text


def test_statistical_tie_on_regression_targets():
    features, targets = regression_pool()
    features = with_swapped_twin(features, targets, "informative", "informative_twin")
    intervals = subsample_rank_intervals(features, targets=targets, metrics=["logme"], repeats=10, seed=0,
                                         device="cpu")
    result = verdict(ranking_of(features, targets=targets, metrics=["logme"]), intervals)
    twins = {"informative", "informative_twin"}
    assert result.best in twins and result.tied_with == list(twins - {result.best})
    assert (f"{result.tied_with[0]} is statistically tied with it (their 90 % rank intervals overlap when the target "
            "samples are resampled).") in result.sentences
    assert "noise" not in result.text


def test_without_intervals_no_tie_is_claimed():
    rows, _ = scenario((("zoo:alpha", 1.5), ("zoo:weak", 0.2)), twin_of="zoo:alpha")
    result = verdict(rows)
    assert result.tied_with is None
    assert result.sentences[1] == ("The uncertainty of this ranking was not computed, so we cannot say which models "
                                   "are statistically tied with it.")
    assert "tied with it (" not in result.text


def test_random_baseline_ranked_first():
    rows, _ = scenario((("zoo:resnet18-random", 3.0), ("zoo:a", 0.4), ("zoo:b", 0.8)), with_intervals=False)
    result = verdict(rows)
    assert result.best == "zoo:resnet18-random"
    assert result.sentences[-1] == ("resnet18-random has random weights (no pre-training) yet ranks above every "
                                    "pretrained model, which suggests pre-training does not help much on this data.")


def test_random_baseline_in_the_middle_and_last():
    rows, _ = scenario((("zoo:a", 3.0), ("zoo:net-random", 1.0), ("zoo:b", 0.2)), with_intervals=False)
    assert rows.model_ids == ["zoo:a", "zoo:net-random", "zoo:b"]
    assert verdict(rows).sentences[-1] == ("net-random has random weights (no pre-training) yet ranks above 1 of 2 "
                                           "pretrained models (b), which suggests pre-training does not help much "
                                           "on this data.")
    rows, _ = scenario((("zoo:a", 3.0), ("zoo:b", 1.0), ("zoo:net-random", 0.2)), with_intervals=False)
    assert "pre-training" not in verdict(rows).text


def test_strong_disagreement_between_metrics():
    # Two-class XOR: neighbours share labels but the class means coincide, so kNN loves it and the linear
    # metrics (H-score, LogME) do not; a plain blob pair is the reverse.
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 2
    side = np.where(rng.integers(0, 2, 60) == 0, 1.0, -1.0)
    xor_centres = np.stack([2 * side, 2 * side * np.where(labels == 0, 1.0, -1.0)], axis=1)
    features = {"xor_clean": xor_centres + 0.3 * rng.normal(size=(60, 2)),
                "xor_noisy": xor_centres + rng.normal(size=(60, 2)),
                "blob": np.stack([np.where(labels == 0, 0.8, -0.8), np.zeros(60)], axis=1) + rng.normal(size=(60, 2))}
    rows = ranking_of(features, labels)
    assert {row.model: [row.rank(m) for m in FAST_METRICS] for row in rows.models} == {
        "xor_clean": [1, 2, 2], "blob": [3, 1, 1], "xor_noisy": [2, 3, 3]}
    result = verdict(rows)
    # Consensus (1 + 2 + 2)/3 = (3 + 1 + 1)/3: a shared first place.
    assert result.sentences[0].endswith("It shares that consensus rank with blob.")
    # Kendall τ: hscore–logme 1; knn against either: 1 concordant, 2 discordant pairs, −1/3. Mean 1/9.
    assert result.sentences[-1] == ("The metrics disagree strongly (average agreement between their rankings: "
                                    "Kendall τ = 0.11, where 1 is full agreement): knn picks xor_clean, hscore "
                                    "picks blob and logme picks blob. Treat this ranking as tentative.")
    # Agreeing metrics say nothing of the kind.
    agreeing, _ = scenario((("zoo:a", 3.0), ("zoo:b", 1.0), ("zoo:c", 0.2)), with_intervals=False)
    assert "disagree" not in verdict(agreeing).text


def test_level_is_reported_and_used():
    rows, intervals = scenario((("zoo:good", 3.0), ("zoo:plain", 0.7)), twin_of="zoo:plain")
    assert "its 50 % rank interval (always 1)" in verdict(rows, intervals, level=0.5).text


def test_names_keep_their_source_when_short_names_collide():
    features, labels = synthetic_pool({"timm:resnet18": 3.0, "torchvision:resnet18": 0.5, "zoo:vgg11": 0.2})
    result = verdict(ranking_of(features, labels))
    assert result.sentences[0].startswith("timm:resnet18 is the best bet")


def test_single_model_and_empty_rankings():
    features, labels = synthetic_pool({"zoo:only": 1.0})
    result = verdict(ranking_of(features, labels))
    assert (result.best, result.tied_with) == ("zoo:only", [])
    assert result.sentences == ["Only only was ranked, so there is nothing to compare it with."]
    with pytest.raises(UndefinedResultError, match="no model has a consensus rank"):
        verdict(Ranking({}, ["knn"], rank_table({"x": {"knn": None}}, ["knn"])))
