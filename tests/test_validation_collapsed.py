"""Collapsed fine-tuning in validation: shown apart, left out of τ by default (included on request), and fine-tuning
put beside each model's linear probe with the models the recipe failed on flagged."""

import json

import pytest
import torch

from transfer_core.cli import main
from transfer_core.evidence.validation import load_ranking, validate
from transfer_core.groundtruth import FineTuneProtocol
from transfer_core.groundtruth.comparison import COLLAPSED, OK, RECIPE_FAILED, side_by_side

MODELS = ["zoo:cnn-mnist", "zoo:cnn-mnist-random", "zoo:mobilenetv2-dogbreeds"]
PROTOCOL = FineTuneProtocol(trainable="head", epochs=2, min_steps=0, learning_rates=(0.01,))


@pytest.fixture(scope="module")
def ranked(tmp_path_factory):
    """A ranking of three zoo models and a checkpoint whose weights are set to zero after the ranking: its features
    are then constant, so no head can tell the classes apart and its fine-tuning predicts one class (a collapse)."""
    import timm

    out = tmp_path_factory.mktemp("collapsed-ranking")
    torch.manual_seed(0)
    network = timm.create_model("test_efficientnet", num_classes=0)
    weights = out / "dead.pth"
    torch.save(network.state_dict(), weights)
    dead = f"file:{weights}?arch=test_efficientnet"
    assert main(["rank", "--dataset", "demo:digits", "--models", ",".join([*MODELS, dead]), "--limit", "60",
                 "--metrics", "knn,logme", "--out", str(out / "ranking")]) == 0
    torch.save({name: torch.zeros_like(value) for name, value in network.state_dict().items()}, weights)
    return out / "ranking", dead


def test_a_collapsed_model_is_left_out_of_tau_and_shown_beside_its_probe(ranked):
    folder, dead = ranked
    ranking = load_ranking(folder)
    assert dead in ranking.model_ids
    validation = validate(ranking, "finetune", protocol=PROTOCOL, device="cpu")
    assert list(validation.collapsed) == [dead] and "for every validation image" in validation.collapsed[dead]
    assert sorted(validation.accuracies) == sorted(MODELS) and validation.missing == []
    assert all(row["models"] == 3 for row in validation.evaluation)
    assert "left out of τ" in validation.collapse_note and dead in validation.collapse_note
    rows = {row["model"]: row for row in validation.comparison()}
    assert set(rows) == {*MODELS, dead} and set(validation.probes) == {*MODELS, dead}
    assert rows[dead]["status"] == COLLAPSED and rows[dead]["note"].startswith("this training recipe failed")
    assert rows[dead]["finetune"] == validation.finetuned[dead] is not None  # the collapsed run's own score
    for model in MODELS:
        assert rows[model]["finetune"] == validation.accuracies[model]
        assert rows[model]["probe"] == validation.probes[model]
    included = validate(ranking, "finetune", protocol=PROTOCOL, device="cpu", include_collapsed=True)
    assert included.accuracies[dead] == validation.finetuned[dead] and len(included.accuracies) == 4
    assert all(row["models"] == 4 for row in included.evaluation) and "included in τ" in included.collapse_note


def test_validate_prints_collapsed_models_apart_and_counts_them_only_when_asked(ranked, tmp_path, capsys):
    folder, dead = ranked  # the default protocol: the last 2 blocks + head, 10 epochs, 3 learning rates
    capsys.readouterr()
    assert main(["validate", "--ranking", str(folder), "--groundtruth", "finetune", "--out", str(tmp_path / "a")]) == 0
    out, err = capsys.readouterr()
    assert f"{dead}: fine-tuned " in out and "[COLLAPSED: this training recipe failed on this model: " in out
    assert "left out of τ" in err and dead in err and "ground truth: fine-tune, 3 models" in out
    written = json.loads((tmp_path / "a" / "validation.json").read_text())
    assert list(written["collapsed_models"]) == [dead] and not written["collapsed_included"]
    assert {row["model"] for row in written["finetune_vs_probe"]} == {*MODELS, dead}
    assert main(["validate", "--ranking", str(folder), "--groundtruth", "finetune", "--include-collapsed", "--out",
                 str(tmp_path / "b")]) == 0
    out, err = capsys.readouterr()
    assert "ground truth: fine-tune, 4 models" in out and "included in τ" in err
    assert json.loads((tmp_path / "b" / "validation.json").read_text())["collapsed_included"]


def test_side_by_side_flags_a_fine_tune_far_below_its_probe():
    rows = side_by_side({"a": 0.80, "b": 0.55, "c": 0.50, "d": 0.70}, {"c": "it predicts class '1' for every "
                                                                       "validation image"},
                        {"a": 0.75, "b": 0.74, "c": 0.75})
    assert [row["status"] for row in rows] == [OK, RECIPE_FAILED, COLLAPSED, "no probe"]
    assert rows[1]["note"] == ("this training recipe failed on this model: fine-tuned 0.550, 0.190 below its own "
                               "linear probe (0.740)")
    assert rows[2]["note"].endswith("for every validation image") and rows[0]["note"] == ""
