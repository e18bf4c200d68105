"""Pool-relative metrics: the registry notion, the min-max combination worked by hand, and its invariances."""

import math

import numpy as np
import pytest

from transfer_core.metrics import get_metric, get_pool_metric, is_pool_relative, metric_names, pool_metric_names
from transfer_core.metrics.errors import MetricInputError, TransferabilityWarning
from transfer_core.metrics.etran import etran_components
from transfer_core.metrics.ncti import ncti_components
from transfer_core.metrics.pool import combine, components, minmax
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import REGISTRY


def random_pool(name, models=5, seed=0):
    rng = np.random.default_rng(seed)
    return {f"m{i}": {part: float(rng.normal()) for part in get_pool_metric(name).parts} for i in range(models)}


def test_registry_keeps_pool_metrics_apart_from_per_model_ones():
    assert pool_metric_names() == ["ncti", "etran"]
    assert is_pool_relative("ncti") and is_pool_relative("etran") and not is_pool_relative("sfda")
    assert not {"ncti", "etran"} & set(REGISTRY)  # no lone score
    assert metric_names()[-3:] == ["ncti", "etran", "ped"]  # but plain names that score and rank accept
    assert get_metric("ncti") is get_pool_metric("ncti") and get_metric("ncti").options == {}
    assert get_pool_metric("ncti").parts == ("ncti.seli", "ncti.ncc", "ncti.vc")
    assert get_pool_metric("etran").weights == {"etran.lda": 0.85, "etran.energy": 0.15}
    assert get_pool_metric("ncti").components is ncti_components
    with pytest.raises(MetricInputError, match="unknown pool-relative metric 'sfda'"):
        get_pool_metric("sfda")


def test_missing_inputs_follow_the_per_model_rule():
    spec = get_pool_metric("etran")
    features = np.random.default_rng(0).normal(size=(20, 3))
    assert spec.missing_inputs(prepare(features, np.arange(20) % 2, device="cpu")) == []
    assert spec.missing_inputs(prepare(features, targets=np.arange(20.0), device="cpu")) == ["labels"]


def test_ncti_pool_score_by_hand():
    pool = {"a": {"ncti.seli": 10.0, "ncti.ncc": 0.5, "ncti.vc": 3.0},
            "b": {"ncti.seli": 20.0, "ncti.ncc": 0.9, "ncti.vc": 4.0},
            "c": {"ncti.seli": 15.0, "ncti.ncc": 0.6, "ncti.vc": 2.0}}
    # seli → 0, 1, 0.5; ncc → 0, 1, 0.25; vc → 0.5, 1, 0
    assert combine("ncti", pool) == pytest.approx({"a": -0.5, "b": 1.0, "c": 0.75}, abs=1e-15)


def test_etran_pool_score_by_hand():
    pool = {"a": {"etran.lda": 0.6, "etran.energy": 9.0},
            "b": {"etran.lda": 0.8, "etran.energy": 3.0},
            "c": {"etran.lda": 0.7, "etran.energy": 5.0}}
    expected = {"a": 0.15, "b": 0.85, "c": 0.85 * 0.5 + 0.15 / 3}
    assert combine("etran", pool) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("name", ["ncti", "etran"])
@pytest.mark.parametrize("seed", range(5))
def test_a_copy_of_a_model_changes_no_score_of_the_others(name, seed):
    pool = random_pool(name, seed=seed)
    before = combine(name, pool)
    copied = combine(name, {**pool, "copy": dict(pool["m2"])})
    assert copied["copy"] == pytest.approx(before["m2"], abs=1e-15)
    assert {model: copied[model] for model in pool} == pytest.approx(before, abs=1e-15)
    assert sorted(pool, key=before.get) == sorted(pool, key=copied.get)


@pytest.mark.parametrize("name", ["ncti", "etran"])
def test_scores_do_not_depend_on_the_units_of_a_component(name):
    """Min-max removes any positive affine change of a component (e.g. seli's scale, energy's offset)."""
    pool = random_pool(name, seed=7)
    part = get_pool_metric(name).parts[0]
    moved = {model: {**parts, part: 3.0 * parts[part] + 11.0} for model, parts in pool.items()}
    assert combine(name, moved) == pytest.approx(combine(name, pool), abs=1e-12)


def test_a_pool_of_one_or_none_gives_null_with_a_warning():
    for pool in ({"only": {"etran.lda": 0.7, "etran.energy": 1.0}}, {}):
        with pytest.warns(TransferabilityWarning, match="at least two models"):
            assert combine("etran", pool) == dict.fromkeys(pool)


def test_a_model_with_a_missing_component_is_null_and_the_others_still_combine():
    pool = random_pool("ncti", models=4)
    incomplete = {**pool, "m3": {**pool["m3"], "ncti.vc": None}, "nan": {**pool["m1"], "ncti.ncc": math.nan},
                  "partial": {"ncti.seli": 1.0}}
    complete = {model: parts for model, parts in pool.items() if model != "m3"}
    scores = combine("ncti", incomplete)
    assert list(scores) == list(incomplete)
    assert scores["m3"] is None and scores["nan"] is None and scores["partial"] is None
    assert {model: scores[model] for model in complete} == pytest.approx(combine("ncti", complete), abs=1e-15)
    with pytest.warns(TransferabilityWarning, match="got 1"):
        assert combine("ncti", {"m0": pool["m0"], "m3": incomplete["m3"]}) == {"m0": None, "m3": None}


def test_a_constant_component_adds_nothing_and_never_nan():
    pool = {"a": {"etran.lda": 1.0, "etran.energy": 2.0},
            "b": {"etran.lda": 1.0 - 1e-16, "etran.energy": 5.0},  # saturated LDA: equal up to rounding
            "c": {"etran.lda": 1.0, "etran.energy": 3.5}}
    assert combine("etran", pool) == pytest.approx({"a": 0.0, "b": 0.15, "c": 0.075}, abs=1e-15)
    constant = {model: {"etran.lda": 0.5, "etran.energy": 0.0} for model in "ab"}
    assert combine("etran", constant) == {"a": 0.0, "b": 0.0}
    assert minmax({"a": 0.0, "b": 0.0}) == {"a": 0.0, "b": 0.0}


def test_components_from_features_or_prepared_and_an_end_to_end_pool():
    rng = np.random.default_rng(0)
    labels = np.arange(300) % 3
    signal = np.eye(6)[labels]
    features = {f"sep{s}": rng.normal(size=(300, 6)) + s * signal for s in (0.2, 1.0, 3.0)}
    by_model = {model: components("ncti", f, labels, device="cpu") for model, f in features.items()}
    assert by_model["sep1.0"] == ncti_components(prepare(features["sep1.0"], labels, device="cpu"))
    assert components("etran", prepare(features["sep3.0"], labels, device="cpu")) == etran_components(
        features["sep3.0"], labels, device="cpu")
    scores = combine("ncti", by_model)
    assert max(scores, key=scores.get) == "sep3.0" and scores["sep3.0"] == pytest.approx(1.0)  # best in all three
    etran = combine("etran", {model: components("etran", f, labels, device="cpu") for model, f in features.items()})
    assert etran["sep0.2"] == 0.0 < etran["sep1.0"] < etran["sep3.0"] == pytest.approx(1.0)
