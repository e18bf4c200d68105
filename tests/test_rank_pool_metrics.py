"""NCTI, ETran (pool-relative) and PED in ``rank`` on real data: the combined scores, their ranks in the consensus,
the rank intervals' per-subset min-max, pool invariance, a pool of one, and PED's general sample."""

import json

import numpy as np
import pytest

from transfer_core.cache.store import FeatureStore
from transfer_core.cli import main
from transfer_core.data import load_dataset
from transfer_core.data.general import VIEWS, general_photos, general_sample
from transfer_core.evidence.uncertainty import subsample_scores
from transfer_core.features import extract_by_id
from transfer_core.metrics import get_pool_metric
from transfer_core.metrics.ped import ped
from transfer_core.metrics.pool import combine, components
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.suite import pool_outcomes, score_model, select_metrics

MODELS = ["zoo:cnn-mnist", "zoo:cnn-mnist-random", "zoo:mobilenetv2-dogbreeds"]
METRICS = ["ncti", "etran", "ped", "knn"]
LIMIT = 60


@pytest.fixture(scope="module")
def ranked(tmp_path_factory):
    out = tmp_path_factory.mktemp("rank-pool")
    code = main(["rank", "--dataset", "demo:digits", "--models", ",".join(MODELS), "--limit", str(LIMIT),
                 "--metrics", ",".join(METRICS), "--interval-repeats", "3", "--out", str(out)])
    return code, json.loads((out / "ranking.json").read_text())


@pytest.fixture(scope="module")
def features():
    """The same features the ranking used, from the store: ``{model: (target features, general features)}``."""
    dataset, general, store = load_dataset("demo:digits", limit=LIMIT), general_sample(), FeatureStore()
    extracted = {model: (extract_by_id(model, dataset, store=store, device="cpu")[0].features,
                         extract_by_id(model, general, store=store, device="cpu")[0].features) for model in MODELS}
    return dataset.labels, extracted


def test_the_general_sample_is_the_installed_photos_in_every_view():
    photos = general_photos()
    assert {path.name for path in photos} >= {"china.jpg", "flower.jpg"} and len(photos) == 20
    sample = general_sample()
    assert sample.size == len(photos) * len(VIEWS) == 120 and sample.labels is None
    assert len(set(sample.image_keys())) == sample.size and sample.fingerprint == general_sample().fingerprint


def test_pool_metrics_get_a_combined_score_a_rank_and_a_place_in_the_consensus(ranked, features):
    code, payload = ranked
    labels, extracted = features
    assert code == 0 and payload["metrics"] == METRICS
    rows = {row["model"]: row for row in payload["models"]}
    for name in ("ncti", "etran"):
        parts = {model: components(name, target, labels, device="cpu") for model, (target, _) in extracted.items()}
        expected = combine(name, parts)
        assert {model: rows[model][name] for model in MODELS} == pytest.approx(expected, rel=1e-9, abs=1e-9)
        best = max(expected, key=expected.get)
        assert rows[best][f"{name}_rank"] == 1 and sorted(row[f"{name}_rank"] for row in rows.values()) == [1, 2, 3]
        assert not any(key.startswith(f"{name}.") for key in rows[best])  # components stay with `score`
    for row in rows.values():
        assert row["consensus_rank"] == pytest.approx(np.mean([row[f"{name}_rank"] for name in METRICS]))


def test_ped_in_the_ranking_standardises_with_the_general_sample(ranked, features):
    _, payload = ranked
    labels, extracted = features
    rows = {row["model"]: row for row in payload["models"]}
    for model, (target, general) in extracted.items():
        assert general.shape == (120, target.shape[1])
        assert rows[model]["ped"] == pytest.approx(ped(target, labels, general_features=general, device="cpu"),
                                                   rel=1e-9)
        assert not any("no general feature sample" in message for message in payload["warnings"][model])


def test_the_intervals_and_the_verdict_include_the_pool_metrics(ranked):
    _, payload = ranked
    intervals = payload["intervals"]
    assert intervals["metrics"] == METRICS and intervals["repeats"] == 3
    for row in intervals["models"]:
        assert all(row[f"{name}_median"] is not None for name in ("ncti", "etran"))
    assert payload["verdict"]["best"] in MODELS


def test_the_intervals_recompute_the_min_max_on_each_subset(features):
    labels, extracted = features
    targets = {model: target for model, (target, _) in extracted.items()}
    draws = subsample_scores(targets, labels, metrics=["ncti", "etran"], repeats=2, seed=3, device="cpu")
    rows = draws.subsets[1]
    parts = {model: components("etran", prepare(target, labels, device="cpu").subset(rows))
             for model, target in targets.items()}
    lda = {model: value["etran.lda"] for model, value in parts.items()}
    energy = {model: value["etran.energy"] for model, value in parts.items()}
    for column, model in enumerate(MODELS):  # 0.85 minmax(lda) + 0.15 minmax(energy), on this subset's pool
        by_hand = (0.85 * (lda[model] - min(lda.values())) / (max(lda.values()) - min(lda.values()))
                   + 0.15 * (energy[model] - min(energy.values())) / (max(energy.values()) - min(energy.values())))
        assert draws.scores["etran"][1, column] == pytest.approx(by_hand, rel=1e-9, abs=1e-12)
    whole = combine("ncti", {model: components("ncti", target, labels, device="cpu")
                             for model, target in targets.items()})
    assert not np.allclose(draws.scores["ncti"][1], [whole[model] for model in MODELS], rtol=1e-6)


def test_a_copy_of_a_model_changes_no_ranking_order_of_the_others(features):
    labels, extracted = features
    prepared = {model: prepare(target, labels, device="cpu") for model, (target, _) in extracted.items()}
    alone = pool_outcomes({model: score_model(data, ["ncti", "etran"]) for model, data in prepared.items()})
    copied = pool_outcomes({**{model: score_model(data, ["ncti", "etran"]) for model, data in prepared.items()},
                            "copy": score_model(prepared[MODELS[0]], ["ncti", "etran"])})
    for name in ("ncti", "etran"):
        before = {model: alone[model][name].value for model in MODELS}
        after = {model: copied[model][name].value for model in MODELS}
        assert after == pytest.approx(before, rel=1e-12, abs=1e-12)
        assert sorted(MODELS, key=before.get) == sorted(MODELS, key=after.get)
        assert copied["copy"][name].value == pytest.approx(before[MODELS[0]], rel=1e-12, abs=1e-12)


def test_a_pool_of_one_gives_null_and_a_warning_and_exit_0(tmp_path, capsys):
    code = main(["rank", "--dataset", "demo:digits", "--models", MODELS[0], "--limit", str(LIMIT),
                 "--metrics", "ncti,etran,knn", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 0
    (row,) = json.loads((tmp_path / "ranking.json").read_text())["models"]
    assert row["ncti"] is None and row["ncti_rank"] is None and row["etran"] is None and row["knn"] is not None
    assert row["consensus_rank"] == row["knn_rank"] == 1
    assert f"warning: {MODELS[0]}: ncti: ncti compares models within a pool: it needs at least two models" in err


@pytest.mark.parametrize("option, fragment", [("ncti.pca_dim=8", "metric 'ncti' has no option 'pca_dim'"),
                                              ("ped.base=knn", "ped.base='knn' is invalid")])
def test_bad_options_are_refused_before_any_model_loads(tmp_path, capsys, option, fragment):
    code = main(["rank", "--dataset", "demo:digits", "--models", "zoo:no-such-model", "--limit", "30",
                 "--metrics", "ncti,ped", "--option", option, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and "no-such-model" not in err


def test_all_includes_the_pool_metrics_and_ped(features):
    labels, extracted = features
    names = select_metrics("all", prepare(extracted[MODELS[0]][0], labels, device="cpu"))
    assert names[-3:] == ["ncti", "etran", "ped"]
    assert get_pool_metric("ncti").parts == ("ncti.seli", "ncti.ncc", "ncti.vc")


def test_a_sub_pool_of_the_stability_study_is_combined_among_itself(features):
    labels, extracted = features
    targets = {model: target for model, (target, _) in extracted.items()}
    draws = subsample_scores(targets, labels, metrics=["ncti", "knn"], repeats=1, device="cpu")
    rows, pair = draws.subsets[0], np.array([0, 2])
    parts = {model: components("ncti", prepare(targets[model], labels, device="cpu").subset(rows))
             for model in (MODELS[0], MODELS[2])}
    assert draws.pool_scores("ncti", 0, pair) == pytest.approx(list(combine("ncti", parts).values()), rel=1e-9)
    assert np.array_equal(draws.pool_scores("knn", 0, pair), draws.scores["knn"][0, pair])
