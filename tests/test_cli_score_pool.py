"""``score`` for the ICCV'23 metrics (design.md, "Extensions"): NCTI / ETran components instead of a lone score,
PED as one number with ``--general-features`` and its options."""

import json

import numpy as np
import pytest

from transfer_core.cli import main
from transfer_core.metrics.etran import etran_components
from transfer_core.metrics.ncti import ncti_components
from transfer_core.metrics.ped import ped

COMPONENT_KEYS = ["ncti.seli", "ncti.ncc", "ncti.vc", "etran.lda", "etran.energy"]


@pytest.fixture()
def files(tmp_path):
    """Three overlapping classes in 6-D (PED's simulation moves them), a general sample and bad general samples."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 40)
    features = rng.normal(size=(120, 6)) + 0.8 * np.eye(6)[labels]
    general = 2.0 * rng.normal(size=(70, 6)) + 1.0
    with_nan = general.copy()
    with_nan[3, 2] = np.nan
    arrays = {"F": features, "y": labels, "G": general, "G5": general[:, :5], "G1": general[:, 0], "Gnan": with_nan}
    paths = {}
    for name, array in arrays.items():
        paths[name] = str(tmp_path / f"{name}.npy")
        np.save(paths[name], array)
    paths["Gbad"] = str(tmp_path / "bad.npy")
    with open(paths["Gbad"], "wb") as handle:
        handle.write(b"not an npy file")
    return paths, arrays


def score(argv, capsys):
    code = main(["score", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_prints_exactly_the_components_of_pool_relative_metrics(files, capsys):
    paths, arrays = files
    code, out, _ = score(["--features", paths["F"], "--labels", paths["y"], "--metrics", "ncti,etran", "--json"],
                         capsys)
    assert code == 0
    scores = json.loads(out)
    assert list(scores) == COMPONENT_KEYS
    expected = {**ncti_components(arrays["F"], arrays["y"], device="cpu"),
                **etran_components(arrays["F"], arrays["y"], device="cpu")}
    assert scores == pytest.approx(expected, rel=1e-9)


def test_one_class_gives_null_components_with_a_warning(files, tmp_path, capsys):
    paths, _ = files
    np.save(tmp_path / "one.npy", np.zeros(120, dtype=int))
    code, out, err = score(["--features", paths["F"], "--labels", str(tmp_path / "one.npy"), "--metrics",
                            "ncti,etran", "--json"], capsys)
    assert code == 0 and json.loads(out) == dict.fromkeys(COMPONENT_KEYS)
    assert "warning: ncti: NCTI needs at least 2 classes" in err and "warning: etran: ETran needs" in err


def test_the_text_table_lists_the_components(files, capsys):
    paths, _ = files
    code, out, _ = score(["--features", paths["F"], "--labels", paths["y"], "--metrics", "knn,ncti,etran"], capsys)
    assert code == 0
    listed = [line.split()[0] for line in out.splitlines()[1:]]
    assert listed == ["knn", *COMPONENT_KEYS] and "a component of ncti, whose score exists only within a pool" in out


def test_ped_uses_the_general_features_and_warns_once_without_them(files, capsys):
    paths, arrays = files
    argv = ["--features", paths["F"], "--labels", paths["y"], "--metrics", "ped", "--json"]
    code, out, err = score(argv + ["--general-features", paths["G"]], capsys)
    assert code == 0 and "general feature sample" not in err
    with_general = json.loads(out)["ped"]
    assert with_general == pytest.approx(ped(arrays["F"], arrays["y"], general_features=arrays["G"], device="cpu"),
                                         rel=1e-9)
    code, out, err = score(argv, capsys)
    assert code == 0 and err.count("no general feature sample given") == 1
    assert json.loads(out)["ped"] == pytest.approx(ped(arrays["F"], arrays["y"], device="cpu"), rel=1e-9)
    assert abs(json.loads(out)["ped"] - with_general) > 1e-6  # the standardisation matters on overlapping classes


def test_ped_options(files, capsys):
    paths, arrays = files
    code, out, _ = score(["--features", paths["F"], "--labels", paths["y"], "--metrics", "ped", "--json",
                          "--general-features", paths["G"], "--option", "ped.base=logme", "--option",
                          "ped.nsigma=1.5", "--option", "ped.time_step=0.5"], capsys)
    assert code == 0
    expected = ped(arrays["F"], arrays["y"], general_features=arrays["G"], base="logme", nsigma=1.5, time_step=0.5,
                   device="cpu")
    assert json.loads(out) == {"ped": pytest.approx(expected, rel=1e-9)}
    code, _, err = score(["--features", paths["F"], "--labels", paths["y"], "--option", "ped.base=knn"], capsys)
    assert code == 2 and "ped.base='knn' is invalid" in err


@pytest.mark.parametrize("name, fragment", [("G5", "the general features have 5 columns but the features have 6"),
                                            ("G1", "general features must be [M, D]"),
                                            ("Gnan", "general features contain non-finite values"),
                                            ("Gbad", "is not a readable .npy array"),
                                            ("missing", "general features file not found")])
def test_bad_general_features_are_one_line_errors(files, capsys, name, fragment):
    paths, _ = files
    path = paths.get(name, paths["G"] + ".missing.npy")
    code, out, err = score(["--features", paths["F"], "--labels", paths["y"], "--metrics", "ped", "--json",
                            "--general-features", path], capsys)
    assert code == 2 and out == "" and fragment in err and len(err.strip().splitlines()) == 1
