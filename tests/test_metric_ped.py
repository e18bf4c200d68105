"""PED: the class-pair simulation worked by hand (overlap, no overlap, the exit rule), standardisation with a general
sample, the base metrics, the NumPy reference, options and bad input."""

import math
import warnings

import numpy as np
import pytest
import torch

from bench.numpy_reference.ped import ped as ped_numpy
from bench.numpy_reference.ped import simulate
from transfer_core.metrics import get_metric, metric_names
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError, TransferabilityWarning
from transfer_core.metrics.logme import logme
from transfer_core.metrics.nleep import nleep
from transfer_core.metrics.ped import ped, separate_classes
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import parse_options
from transfer_core.metrics.sfda import sfda

# Two 1-D classes {−2, 0} and {0, 2}: means ∓1, variances 1, so R = 1 each and d = 2. The general sample {−1, 1}
# has mean 0 and std 1: standardising with it changes nothing.
LINE = np.array([[-2.0], [0.0], [0.0], [2.0]])
LINE_LABELS = np.array([0, 0, 1, 1])
UNIT = np.array([[-1.0], [1.0]])


def simulated(features, labels, nsigma, time_step):
    z, y = torch.tensor(features, dtype=torch.float64), torch.tensor(labels)
    return separate_classes(z, y, int(labels.max()) + 1, nsigma=nsigma, time_step=time_step)


def blobs(n=240, d=10, classes=4, separation=0.5, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % classes)
    return rng.normal(size=(n, d)) + separation * rng.normal(size=(classes, d))[labels], labels


def test_classes_that_do_not_overlap_stay_put():
    """ν(R_0 + R_1) = 0.6 · 2 < d = 2: no overlap, no step kept, and PED is its base metric."""
    result = simulated(LINE, LINE_LABELS, nsigma=0.6, time_step=0.1)
    assert result.steps == 0 and not result.shifts.any()
    assert ped(LINE, LINE_LABELS, general_features=UNIT) == sfda(LINE, LINE_LABELS)


def test_overlapping_pair_with_the_default_time_step_by_hand():
    """ν = 2: F = 4 − 2 = 2. Each step moves both classes apart by ½ Δt² F = 0.005 F, so d grows by 0.01 F and the
    next overlap is 0.99 F: the movement ratios 0.99^k stay above 0.5 and all 6 steps are kept. Class 1 moves by
    Σ_{k<6} 0.01 · 0.99^k = 1 − 0.99⁶, class 0 by the opposite."""
    result = simulated(LINE, LINE_LABELS, nsigma=2.0, time_step=0.1)
    shift = 1 - 0.99**6
    assert result.steps == 6
    np.testing.assert_allclose(result.shifts.numpy(), [[-shift], [shift]], rtol=1e-12)
    expected = sfda(LINE + np.array([[-shift], [-shift], [shift], [shift]]), LINE_LABELS)
    assert ped(LINE, LINE_LABELS, general_features=UNIT, nsigma=2.0) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("half_dt2, steps, shift", [
    (0.2, 2, 0.4 * (1 + 0.6)),  # overlap ratios 1, 0.6, then 0.36 ≤ 0.5: the third step is discarded
    (0.1, 4, 0.2 * (1 + 0.8 + 0.64 + 0.512)),  # ratios 1, 0.8, 0.64, 0.512, then 0.4096: four kept
    (2.0, 1, 2.0),  # ½ Δt² κ F > F: the step is capped at F; the next overlap is 0 and nothing moves again
])
def test_exit_rule_discards_the_step_that_falls_below_half_the_first(half_dt2, steps, shift):
    """With a step of c·F per class (class 1 moves by +c·F, class 0 by −c·F) the overlap falls to (1 − 2c) F each
    step, and so does the movement; F = 2 at first."""
    result = simulated(LINE, LINE_LABELS, nsigma=2.0, time_step=math.sqrt(2 * half_dt2))
    assert result.steps == steps
    np.testing.assert_allclose(result.shifts.numpy(), [[-shift], [shift]], rtol=1e-12)


def test_pairs_push_antisymmetrically_and_identical_means_are_left_alone():
    features, labels = blobs(classes=5, separation=0.3)
    result = simulated(features, labels, nsigma=0.6, time_step=0.1)
    assert result.steps == 6
    np.testing.assert_allclose(result.shifts.sum(dim=0).numpy(), 0, atol=1e-12)  # every pair moves ±step
    twins = np.concatenate([LINE, LINE]), np.array([0, 0, 1, 1, 2, 2, 3, 3])  # classes 0/2 and 1/3 coincide
    result = simulated(*twins, nsigma=2.0, time_step=0.1)
    assert torch.isfinite(result.shifts).all()
    np.testing.assert_allclose(result.shifts[0].numpy(), result.shifts[2].numpy())  # pushed as one class


def test_matches_the_numpy_reference_and_its_steps():
    features, labels = blobs()
    general = np.random.default_rng(9).normal(size=(500, 10)) * 1.5 + 0.2
    assert ped(features, labels, general_features=general) == pytest.approx(
        ped_numpy(features, labels, general), rel=1e-9)
    mean, std = general.mean(axis=0), general.std(axis=0)
    _, steps = simulate((features - mean) / std, labels)
    assert simulated((features - mean) / std, labels, 0.6, 0.1).steps == steps == 6


def test_standardisation_with_the_general_sample_is_undone():
    """Translating features and general sample alike changes nothing (SFDA is translation-invariant); scaling both
    scales the moved features, which is SFDA on the scaled simulated features."""
    features, labels = blobs()
    general = np.random.default_rng(1).normal(size=(300, 10))
    base = ped(features, labels, general_features=general)
    assert ped(features + 7.0, labels, general_features=general + 7.0) == pytest.approx(base, rel=1e-9)
    result = simulated((features - general.mean(axis=0)) / general.std(axis=0), labels, 0.6, 0.1)
    moved = features + (result.shifts.numpy() * general.std(axis=0))[labels]
    assert ped(10 * features, labels, general_features=10 * general) == pytest.approx(sfda(10 * moved, labels),
                                                                                      rel=1e-9)


def test_without_a_general_sample_the_targets_own_statistics_are_used_with_one_warning():
    features, labels = blobs()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = ped(features, labels)
    assert [str(w.message) for w in caught if issubclass(w.category, TransferabilityWarning)] == [
        "PED: no general feature sample given (the paper uses ImageNet validation features of the same model); "
        "standardising with the target features' own mean and std"]
    assert value == pytest.approx(ped(features, labels, general_features=features), rel=1e-12)
    assert value == pytest.approx(ped_numpy(features, labels), rel=1e-9)


def test_prepared_input_carries_the_general_sample_into_subsets():
    features, labels = blobs()
    general = np.random.default_rng(2).normal(size=(100, 10))
    data = prepare(features, labels, general_features=general, device="cpu")
    assert ped(data) == ped(features, labels, general_features=general, device="cpu")
    rows = np.arange(0, 240, 2)
    assert ped(data.subset(rows)) == pytest.approx(ped(features[rows], labels[rows], general_features=general),
                                                   rel=1e-9)
    assert prepare(features, labels, device="cpu").general_features is None
    with pytest.raises(MetricInputError, match="general features when preparing"):
        prepare(data, general_features=general)


@pytest.mark.parametrize("base, function", [("logme", logme), ("nleep", nleep)])
def test_other_base_metrics_score_the_same_moved_features(base, function):
    features, labels = blobs()
    general = np.random.default_rng(3).normal(size=(200, 10))
    result = simulated((features - general.mean(axis=0)) / general.std(axis=0), labels, 0.6, 0.1)
    moved = features + (result.shifts.numpy() * general.std(axis=0))[labels]
    assert ped(features, labels, general_features=general, base=base) == pytest.approx(function(moved, labels),
                                                                                       rel=1e-9)


def test_constant_column_float16_and_a_single_sample_class_stay_finite_and_inputs_are_not_mutated():
    features, labels = blobs(n=61, d=6, classes=3)
    general = np.random.default_rng(4).normal(size=(50, 6))
    general[:, 1] = 3.0  # std 0, clamped to 1e-3
    features[:, 2] = -1.0
    labels[-1] = 3
    copies = features.copy(), general.copy()
    for values in (features, features.astype(np.float16)):
        assert np.isfinite(ped(values, labels, general_features=general))
    np.testing.assert_array_equal(features, copies[0])
    np.testing.assert_array_equal(general, copies[1])


def test_registry_entry_and_options():
    assert "ped" in metric_names()
    spec = get_metric("ped")
    assert set(spec.options) == {"base", "nsigma", "time_step"} and "Li et al." in spec.citation
    options = parse_options(spec, {"base": "logme", "nsigma": "1.5", "time_step": "0.2"})
    assert options == {"base": "logme", "nsigma": 1.5, "time_step": 0.2}
    features, labels = blobs()
    with pytest.warns(TransferabilityWarning, match="no general feature sample"):
        assert spec.function(prepare(features, labels, device="cpu"), **options) == pytest.approx(
            ped(features, labels, general_features=features, **options), rel=1e-12)


@pytest.mark.parametrize("option, bad", [("base", "knn"), ("nsigma", -0.1), ("nsigma", math.nan),
                                         ("time_step", 10.5), ("time_step", True)])
def test_bad_options_are_refused_before_any_work(option, bad):
    with pytest.raises(MetricInputError, match=f"ped.{option}="):
        ped(*blobs(), **{option: bad})


def test_bad_input():
    features, labels = blobs()
    with pytest.raises(MetricInputError, match="general features have 3 columns"):
        ped(features, labels, general_features=np.ones((5, 3)))
    with pytest.raises(MetricInputError, match="general features contain non-finite"):
        ped(features, labels, general_features=np.full((5, 10), np.nan))
    with pytest.raises(DegenerateInputError, match="at least 2 classes"):
        ped(features, np.zeros(len(labels)), general_features=features)
