"""``validate`` when things go wrong: an unwritable --out before any work, a model that no longer loads."""

import json

import pytest
import torch

from transfer_core.cli import main

TINY_TIMM = "test_efficientnet"  # timm's 0.36 M-parameter test architecture
ZOO_MODELS = ["zoo:cnn-mnist", "zoo:cnn-mnist-random", "zoo:mobilenetv2-dogbreeds"]


@pytest.fixture(scope="module")
def rankings(tmp_path_factory):
    """Two rankings on the same images that include a ``file:`` checkpoint, which is then damaged."""
    import timm

    folder = tmp_path_factory.mktemp("validate-failures")
    torch.manual_seed(0)
    weights = folder / "tiny.pth"
    torch.save(timm.create_model(TINY_TIMM, num_classes=0).state_dict(), weights)
    file_model = f"file:{weights}?arch={TINY_TIMM}"
    four, three = folder / "four", folder / "three"
    for out, models in ((four, [*ZOO_MODELS, file_model]), (three, [*ZOO_MODELS[:2], file_model])):
        assert main(["rank", "--dataset", "demo:digits", "--models", ",".join(models), "--limit", "60",
                     "--metrics", "logme,knn", "--out", str(out)]) == 0
    weights.write_bytes(b"overwritten: not a checkpoint any more")
    return file_model, four, three


def test_a_model_that_no_longer_loads_is_reported_and_the_rest_are_evaluated(rankings, tmp_path, capsys):
    file_model, four, _ = rankings
    capsys.readouterr()
    assert main(["validate", "--ranking", str(four), "--groundtruth", "probe", "--out", str(tmp_path / "v")]) == 0
    err = capsys.readouterr().err
    assert f"warning: {file_model} was left out of the evaluation: cannot read " in err
    assert "Traceback" not in err
    result = json.loads((tmp_path / "v" / "validation.json").read_text())
    assert sorted(result["accuracies"]) == sorted(ZOO_MODELS)
    assert result["models_without_groundtruth"] == [file_model]
    assert list(result["failed_models"]) == [file_model] and "cannot read" in result["failed_models"][file_model]


def test_too_few_models_left_after_a_load_failure_exits_2_naming_it(rankings, tmp_path, capsys):
    file_model, _, three = rankings
    capsys.readouterr()
    assert main(["validate", "--ranking", str(three), "--groundtruth", "probe", "--out", str(tmp_path / "v")]) == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("error: ground truth covers 2 of the ranked models; at least 3 are needed")
    assert f"; {file_model} failed: cannot read " in last
    assert not (tmp_path / "v" / "validation.json").exists()


def test_an_unwritable_out_is_refused_before_any_model_is_probed(rankings, tmp_path, capsys):
    _, four, _ = rankings
    (tmp_path / "a-file").write_text("not a folder")
    out = tmp_path / "a-file" / "check"
    capsys.readouterr()
    assert main(["validate", "--ranking", str(four), "--groundtruth", "probe", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [err.rstrip("\n")]  # one line, and no "[i/n] linear probe ..." progress before it
    assert err.startswith(f"error: --out {out} is not a folder that can be written (")
