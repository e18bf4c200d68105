"""Rank intervals from stratified (labels) or random (regression targets) subsampling, and metric stability over
resampled setups."""

import numpy as np
import pytest

from transfer_core.errors import InvalidInputError
from transfer_core.evidence.evaluation import weighted_tau
from transfer_core.evidence.uncertainty import (
    RankIntervals,
    ScoreDraws,
    _metric_names,
    metric_stability,
    random_subsets,
    rank_intervals,
    stability_from_scores,
    stratified_subsets,
    subsample_rank_intervals,
    subsample_scores,
)
from transfer_core.metrics.errors import MetricInputError
from transfer_core.metrics.knn import knn
from transfer_core.metrics.leep import leep
from transfer_core.metrics.logme import logme
from transfer_core.metrics.prepared import prepare
from transfer_core.ranking.ranks import ranks_for_metric

FAST_METRICS = ["knn", "hscore", "logme"]
CLASSES, DIM = 3, 6


def synthetic_pool(separations: dict[str, float], n: int = 48, seed: int = 0):
    """Features per model: shared class centres scaled by the model's separation, plus the model's own noise.

    Equal separations mean models of identical quality that differ only by their noise draw.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % CLASSES
    centres = rng.normal(size=(CLASSES, DIM))
    features = {model: separation * centres[labels] + rng.normal(size=(n, DIM))
                for model, separation in separations.items()}
    return features, labels


def regression_pool(n: int = 48, outputs: int = 1, seed: int = 0):
    """'informative' features predict the targets linearly (up to a little noise); 'noise' features are unrelated.

    Targets are [N] for one output, [N, outputs] otherwise. Samples i and i + N/2 share their targets, so a swapped
    twin (:func:`with_swapped_twin`) holds the same (feature, target) pairs.
    """
    rng = np.random.default_rng(seed)
    half = rng.normal(size=(n // 2, DIM))
    signal = np.concatenate([half, half])
    targets = signal @ rng.normal(size=(DIM, outputs))
    features = {"informative": signal + 0.1 * rng.normal(size=(n, DIM)), "noise": rng.normal(size=(n, DIM))}
    return features, targets[:, 0] if outputs == 1 else targets


def with_swapped_twin(features: dict, labels, model: str, twin: str) -> dict:
    """Add ``twin``: ``model``'s features with the first and second half of the samples exchanged.

    Sample i and sample i + N/2 share a label (N/2 is a multiple of the class count) or their targets
    (:func:`regression_pool`), so the twin holds the very same (feature, label) pairs: identical quality on the
    full set, yet every subset shows the two models different samples.
    """
    half = len(labels) // 2
    assert half % CLASSES == 0 and np.array_equal(labels[:half], labels[half:])
    return {**features, twin: np.roll(features[model], half, axis=0)}


def intervals_for(separations, repeats=10, seed=0, twin_of=None, metrics=FAST_METRICS, **kwargs) -> RankIntervals:
    features, labels = synthetic_pool(separations)
    if twin_of is not None:
        features = with_swapped_twin(features, labels, twin_of, twin_of + "_twin")
    return subsample_rank_intervals(features, labels, metrics=metrics, repeats=repeats, seed=seed, device="cpu",
                                    **kwargs)


def test_subsets_are_stratified_without_replacement_and_seeded():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 1 + [3] * 4)
    subsets = stratified_subsets(labels, fraction=0.8, repeats=15, seed=4)
    for subset in subsets:
        assert len(np.unique(subset)) == len(subset)  # no duplicates
        assert np.array_equal(np.bincount(labels[subset]), [8, 4, 1, 3])  # round(0.8 n_c), at least 1
    assert len({tuple(subset) for subset in subsets}) > 1  # the draws differ
    again = stratified_subsets(labels, fraction=0.8, repeats=15, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(subsets, again))
    other = stratified_subsets(labels, fraction=0.8, repeats=15, seed=5)
    assert not all(np.array_equal(a, b) for a, b in zip(subsets, other))
    assert all(np.array_equal(s, np.arange(20)) for s in stratified_subsets(labels, fraction=1.0, repeats=2))


def test_subsets_work_with_string_labels():
    labels = np.array(["cat", "dog", "cat", "dog", "emu", "cat"])
    (subset,) = stratified_subsets(labels, fraction=0.5, repeats=1)
    assert sorted(labels[subset]) == ["cat", "cat", "dog", "emu"]  # 3 → 2, 2 → 1, 1 → 1


def test_random_subsets_are_sized_without_duplicates_and_seeded():
    subsets = random_subsets(20, fraction=0.8, repeats=15, seed=4)
    for subset in subsets:
        assert len(subset) == 16 and len(np.unique(subset)) == 16  # round(0.8 · 20), no duplicates
        assert np.array_equal(subset, np.sort(subset)) and 0 <= subset.min() and subset.max() < 20
    assert len({tuple(subset) for subset in subsets}) > 1  # the draws differ
    again = random_subsets(20, fraction=0.8, repeats=15, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(subsets, again))
    other = random_subsets(20, fraction=0.8, repeats=15, seed=5)
    assert not all(np.array_equal(a, b) for a, b in zip(subsets, other))
    assert all(np.array_equal(s, np.arange(20)) for s in random_subsets(20, fraction=1.0, repeats=2))
    assert [len(s) for s in random_subsets(5, fraction=0.1, repeats=3)] == [2, 2, 2]  # at least 2
    assert [len(s) for s in random_subsets(10, fraction=0.33, repeats=1)] == [3]


@pytest.mark.parametrize("draw", [lambda **kwargs: stratified_subsets([0, 1, 0, 1], **kwargs),
                                  lambda **kwargs: random_subsets(4, **kwargs)], ids=["stratified", "random"])
@pytest.mark.parametrize("kwargs, message", [({"fraction": 0.0}, "fraction"), ({"fraction": 1.5}, "fraction"),
                                             ({"repeats": 0}, "repeats")])
def test_subset_arguments_are_checked(draw, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        draw(**kwargs)


def test_random_subsets_need_two_samples():
    with pytest.raises(InvalidInputError, match="at least 2 samples, got 1"):
        random_subsets(1)


def test_intervals_are_deterministic_under_a_seed():
    separations, metrics = {"good": 3.0, "a": 0.7, "b": 0.7}, ["knn", "hscore"]
    first = intervals_for(separations, repeats=4, seed=1, metrics=metrics)
    second = intervals_for(separations, repeats=4, seed=1, metrics=metrics)
    for name in [*metrics, "consensus"]:
        assert np.array_equal(first.rank_draws[name], second.rank_draws[name])
    for name in metrics:
        assert np.array_equal(first.scores.scores[name], second.scores.scores[name])
    other = intervals_for(separations, repeats=4, seed=2, metrics=metrics)
    assert not np.array_equal(first.scores.scores["knn"], other.scores.scores["knn"])


def test_clear_winner_is_always_first_and_equal_models_overlap():
    intervals = intervals_for({"good": 3.0, "plain": 0.7}, twin_of="plain")
    for name in [*FAST_METRICS, "consensus"]:
        assert intervals.interval("good", name) == (1.0, 1.0)
        assert intervals.median("good", name) == 1.0
    assert intervals.overlaps("plain", "plain_twin")
    assert not intervals.overlaps("good", "plain") and not intervals.overlaps("good", "plain_twin")
    # The overlap is real, not a tie: each twin is ranked ahead of the other on some subsets.
    consensus = intervals.rank_draws["consensus"]
    assert (consensus[:, 1] < consensus[:, 2]).any() and (consensus[:, 2] < consensus[:, 1]).any()


def test_draws_are_the_metrics_on_the_subsets_and_ranked_as_the_table_ranks():
    features, labels = synthetic_pool({"m0": 1.0, "m1": 0.5, "m2": 2.0})
    intervals = subsample_rank_intervals(features, labels, metrics=FAST_METRICS, repeats=3, seed=7, device="cpu")
    draws = intervals.scores
    for draw, subset in enumerate(draws.subsets):
        for column, model in enumerate(draws.models):
            assert draws.scores["knn"][draw, column] == knn(features[model][subset], labels[subset], device="cpu")
        for name in FAST_METRICS:
            assert intervals.rank_draws[name][draw].tolist() == ranks_for_metric(draws.scores[name][draw].tolist())
        per_metric = np.stack([intervals.rank_draws[name][draw] for name in FAST_METRICS])
        assert np.allclose(intervals.rank_draws["consensus"][draw], per_metric.mean(axis=0))


def _hand_intervals(draws: dict[str, np.ndarray], models: list[str]) -> RankIntervals:
    empty = ScoreDraws(models, list(draws), [], {})
    return RankIntervals(models, list(draws), 0.9, draws, empty)


def test_interval_is_the_central_range_of_observed_ranks():
    rng = np.random.default_rng(0)
    ranks = rng.permutation(np.arange(1.0, 21.0))  # 20 draws: 1 … 20
    intervals = _hand_intervals({"consensus": np.stack([ranks, 21 - ranks], axis=1)}, ["x", "y"])
    # 90 % of 20 draws: drop ⌊20 · 0.05⌋ = 1 at each end; 50 %: drop 5 at each end.
    assert intervals.interval("x") == (2.0, 19.0)
    assert intervals.interval("x", level=0.5) == (6.0, 15.0)
    assert intervals.median("x") == 10.5
    assert intervals.summary()[1] == {"model": "y", "consensus_median": 10.5, "consensus_interval": (2.0, 19.0)}
    # 10 draws at 90 %: ⌊0.5⌋ = 0 dropped, the full range.
    short = _hand_intervals({"consensus": np.arange(1.0, 11.0)[:, None]}, ["x"])
    assert short.interval("x") == (1.0, 10.0) and short.interval("x", level=0.6) == (3.0, 8.0)


def test_missing_draws_give_no_interval_and_unknown_names_fail():
    intervals = _hand_intervals({"consensus": np.array([[1.0, np.nan], [2.0, np.nan]])}, ["x", "y"])
    assert intervals.interval("y") is None and intervals.median("y") is None
    assert intervals.overlaps("x", "y") is None
    with pytest.raises(InvalidInputError, match="unknown model"):
        intervals.interval("z")
    with pytest.raises(InvalidInputError, match="no ranks for"):
        intervals.interval("x", "logme")
    with pytest.raises(InvalidInputError, match="level"):
        intervals.interval("x", level=1.0)


def test_progress_counts_every_model_on_every_subset():
    calls = []
    intervals_for({"a": 1.0, "b": 2.0}, repeats=3, progress=lambda done, total, eta: calls.append((done, total, eta)))
    assert [done for done, _, _ in calls] == list(range(1, 7)) and {total for _, total, _ in calls} == {6}
    assert calls[-1][2] == 0.0 and all(eta >= 0 for _, _, eta in calls)


def test_a_metric_a_model_cannot_run_is_left_out_for_that_model_only():
    features, labels = synthetic_pool({"with_head": 1.0, "without_head": 1.0, "other": 2.0})
    probs = np.random.default_rng(1).dirichlet(np.ones(5), size=len(labels))
    intervals = subsample_rank_intervals(features, labels, metrics=["leep", "knn"], repeats=2, device="cpu",
                                         source_probs_by_model={"with_head": probs})
    leep_scores = intervals.scores.scores["leep"]
    assert np.isnan(leep_scores[:, 1:]).all()
    subset = intervals.scores.subsets[0]
    assert leep_scores[0, 0] == pytest.approx(leep(probs[subset], labels[subset], device="cpu"), abs=1e-12)
    assert intervals.interval("without_head", "leep") is None
    assert intervals.interval("with_head", "leep") == (1.0, 1.0)  # alone in that metric's ranking


def prepared_pool(features: dict, probs: dict, **supervision) -> dict:
    return {model: prepare(values, source_probs=probs.get(model), device="cpu", **supervision)
            for model, values in features.items()}


def test_all_means_every_metric_some_model_can_run():
    features, labels = synthetic_pool({"a": 1.0, "b": 2.0})
    probs = np.random.default_rng(1).dirichlet(np.ones(4), size=len(labels))
    # The name resolution alone: scoring every metric would make this test slow.
    names = _metric_names("all", prepared_pool(features, {"b": probs}, labels=labels), "labels")
    assert {"leep", "nce", "knn", "logme"} <= set(names)
    assert "leep" not in _metric_names("all", prepared_pool(features, {}, labels=labels), "labels")


def test_warnings_are_collected_once_per_model():
    rng = np.random.default_rng(0)
    labels = np.arange(12) % 2
    draws = subsample_scores({"wide": rng.normal(size=(12, 30)), "narrow": rng.normal(size=(12, 2))}, labels,
                             metrics=["hscore"], repeats=3, device="cpu")
    assert len(draws.warnings["wide"]) == 1 and draws.warnings["wide"][0].startswith("hscore: H-score saturates")
    assert draws.warnings["narrow"] == []


def test_bad_inputs_fail_clearly():
    features, labels = synthetic_pool({"a": 1.0, "b": 2.0})
    with pytest.raises(InvalidInputError, match="differ in length"):
        subsample_rank_intervals(features, labels[:-1], metrics=["knn"], repeats=1)
    with pytest.raises(InvalidInputError, match="no models"):
        subsample_rank_intervals({}, labels, metrics=["knn"], repeats=1)
    with pytest.raises(MetricInputError, match="unknown metric"):
        subsample_rank_intervals(features, labels, metrics=["no_such_metric"], repeats=1)
    with pytest.raises(MetricInputError, match="no metrics were requested"):
        subsample_rank_intervals(features, labels, metrics=[], repeats=1)
    with pytest.raises(MetricInputError, match="no model can be scored with 'leep': it needs source_probs"):
        subsample_rank_intervals(features, labels, metrics=["leep", "knn"], repeats=1)


# --- regression targets ---

@pytest.mark.parametrize("outputs", [1, 3])
def test_regression_informative_features_rank_first_on_every_subset(outputs):
    features, targets = regression_pool(outputs=outputs)
    intervals = subsample_rank_intervals(features, targets=targets, metrics=["logme"], repeats=10, seed=3,
                                         device="cpu")
    for name in ["logme", "consensus"]:
        assert intervals.interval("informative", name) == (1.0, 1.0) and intervals.median("informative", name) == 1.0
        assert intervals.interval("noise", name) == (2.0, 2.0)
    assert not intervals.overlaps("informative", "noise")
    draws = intervals.scores
    assert all(np.array_equal(a, b) for a, b in zip(draws.subsets, random_subsets(48, 0.8, 10, 3)))
    subset = draws.subsets[0]
    for column, model in enumerate(draws.models):
        expected = logme(features[model][subset], targets=targets[subset], device="cpu")
        assert draws.scores["logme"][0, column] == pytest.approx(expected, abs=1e-12)


def test_regression_runs_only_the_metrics_that_support_it():
    features, targets = regression_pool()
    assert set(_metric_names("all", prepared_pool(features, {}, targets=targets), "targets")) == {"logme", "disco"}
    draws = subsample_scores(features, targets=targets, metrics=["knn", "logme", "sfda"], repeats=2, device="cpu")
    assert draws.metrics == ["logme"] and set(draws.scores) == {"logme"}
    assert np.isfinite(draws.scores["logme"]).all()
    with pytest.raises(MetricInputError, match="none of knn, sfda supports regression"):
        subsample_scores(features, targets=targets, metrics=["knn", "sfda"], repeats=1, device="cpu")


def test_regression_bad_inputs_fail_clearly():
    features, targets = regression_pool()
    labels = np.arange(len(targets)) % CLASSES
    for supervision in ({"labels": labels, "targets": targets}, {}):
        with pytest.raises(InvalidInputError, match="either labels .* or targets .*, exactly one"):
            subsample_rank_intervals(features, **supervision, metrics=["logme"], repeats=1)
    with pytest.raises(InvalidInputError, match="informative: the features / source probabilities and the targets "
                                               "differ in length"):
        subsample_rank_intervals(features, targets=targets[:-1], metrics=["logme"], repeats=1)


# --- metric stability over resampled setups ---

def _hand_draws(accuracies: dict[str, float], repeats: int = 4) -> ScoreDraws:
    """Scores that need no metric: 'oracle' reproduces the accuracies, 'reversed' inverts them, 'flat' is constant."""
    truth = np.array(list(accuracies.values()))
    scores = {"oracle": np.tile(truth, (repeats, 1)), "reversed": np.tile(-truth, (repeats, 1)),
              "flat": np.ones((repeats, len(truth)))}
    return ScoreDraws(list(accuracies), list(scores), [np.arange(3)] * repeats, scores)


def test_stability_by_hand_oracle_always_wins():
    accuracies = {f"m{i}": 0.5 + 0.05 * i for i in range(6)}
    stability = stability_from_scores(_hand_draws(accuracies), accuracies, pools_per_subset=5, seed=3)
    assert len(stability.pools) == 20 and stability.subset_of_setup.tolist() == sorted([0, 1, 2, 3] * 5)
    assert np.allclose(stability.tau_draws["oracle"], 1.0) and np.allclose(stability.tau_draws["reversed"], -1.0)
    assert np.isnan(stability.tau_draws["flat"]).all()
    assert stability.win_share == {"oracle": 1.0, "reversed": 0.0, "flat": 0.0}
    rows = {row["metric"]: row for row in stability.summary()}
    assert rows["oracle"]["median_tau"] == pytest.approx(1.0) and rows["oracle"]["undefined"] == 0
    assert rows["flat"] == {"metric": "flat", "median_tau": None, "tau_interval": None, "win_share": 0.0,
                            "setups": 20, "undefined": 20}


def test_stability_pools_are_random_subsets_of_the_allowed_sizes_and_seeded():
    accuracies = {f"m{i}": 0.5 + 0.05 * i for i in range(10)}
    stability = stability_from_scores(_hand_draws(accuracies), accuracies, pools_per_subset=25, seed=0,
                                      pool_fraction=(0.6, 0.9))
    again = stability_from_scores(_hand_draws(accuracies), accuracies, pools_per_subset=25, seed=0,
                                  pool_fraction=(0.6, 0.9))
    assert again.pools == stability.pools
    sizes = {len(pool) for pool in stability.pools}
    assert sizes <= set(range(6, 10)) and len(sizes) > 1
    assert all(len(set(pool)) == len(pool) for pool in stability.pools)
    assert len({tuple(pool) for pool in stability.pools}) > 10


def test_ties_at_the_top_share_the_win():
    accuracies = {f"m{i}": float(i + 1) for i in range(4)}
    draws = _hand_draws(accuracies, repeats=2)
    draws.scores["oracle_copy"] = draws.scores["oracle"] * 2
    draws.metrics.append("oracle_copy")
    stability = stability_from_scores(draws, accuracies, pools_per_subset=3)
    assert stability.win_share["oracle"] == stability.win_share["oracle_copy"] == 0.5


def test_stability_end_to_end_matches_tau_on_each_setup():
    separations = {"best": 3.0, "mid": 1.2, "low": 0.6, "worst": 0.2}
    features, labels = synthetic_pool(separations)
    accuracies = {"best": 0.95, "mid": 0.8, "low": 0.6, "worst": 0.4}
    stability = metric_stability(features, labels, accuracies, metrics=FAST_METRICS, repeats=3, pools_per_subset=4,
                                 pool_fraction=(0.75, 1.0), seed=2, device="cpu")
    assert all(len(stability.tau_draws[name]) == 12 for name in FAST_METRICS)
    assert sum(stability.win_share.values()) == pytest.approx(1.0)
    # Re-derive one setup's τ from the subset and pool it records.
    setup = 5
    subset = stratified_subsets(labels, repeats=3, seed=2)[stability.subset_of_setup[setup]]
    pool = stability.pools[setup]
    scores = [knn(features[model][subset], labels[subset], device="cpu") for model in pool]
    assert stability.tau_draws["knn"][setup] == pytest.approx(weighted_tau(scores, [accuracies[m] for m in pool]))


def test_stability_arguments_are_checked():
    accuracies = {"m0": 0.1, "m1": 0.2, "m2": 0.3}
    with pytest.raises(InvalidInputError, match="min_pool"):
        stability_from_scores(_hand_draws(accuracies), accuracies, min_pool=2)
    with pytest.raises(InvalidInputError, match="at least 3 scored models, got 2"):
        stability_from_scores(_hand_draws(accuracies), {"m0": 0.1, "m1": 0.2})
    with pytest.raises(InvalidInputError, match="pools_per_subset"):
        stability_from_scores(_hand_draws(accuracies), accuracies, pools_per_subset=0)
    with pytest.raises(InvalidInputError, match="pool_fraction"):
        stability_from_scores(_hand_draws(accuracies), accuracies, pool_fraction=(0.9, 0.5))
    with pytest.raises(InvalidInputError, match="NaN or inf"):
        stability_from_scores(_hand_draws(accuracies), {**accuracies, "m1": float("nan")})
    with pytest.raises(InvalidInputError, match="level"):
        rank_intervals(_hand_draws(accuracies), level=0.0)
