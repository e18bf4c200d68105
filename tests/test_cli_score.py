"""The ``score`` command's contract (design.md, "Contracts"), exercised through ``main`` and one real subprocess."""

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from numpy.lib import format as npy

from transfer_core.cli import main
from transfer_core.metrics import metric_names

ALL_METRICS = ["logme", "leep", "nce", "nleep", "sfda", "gbc", "hscore", "hscore_shrinkage", "transrate", "parc",
               "knn", "disco", "ncti", "etran", "ped"]
# What score --json prints for them: a pool-relative metric (NCTI, ETran) has no lone score, only its components
COMPONENTS = {"ncti": ["ncti.seli", "ncti.ncc", "ncti.vc"], "etran": ["etran.lda", "etran.energy"]}
SCORE_KEYS = [key for name in ALL_METRICS for key in COMPONENTS.get(name, [name])]


@pytest.fixture()
def files(tmp_path):
    """Three separable classes in 6-D with source probabilities over 5 source classes."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 30)
    centres = rng.normal(scale=4.0, size=(3, 6))
    features = centres[labels] + rng.normal(size=(90, 6))
    logits = rng.normal(size=(90, 5)) + 3 * np.eye(5)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    paths = {}
    for name, array in {"F": features, "y": labels, "P": probs,
                        "ystr": np.array(["cat", "dog", "emu"])[labels],
                        "T": features[:, :2] @ np.array([[1.0], [-2.0]]) + 0.1 * rng.normal(size=(90, 1))}.items():
        paths[name] = str(tmp_path / f"{name}.npy")
        np.save(paths[name], array)
    return paths


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_all_fifteen_metrics_registered_in_order():
    assert metric_names() == ALL_METRICS


def test_json_gives_every_metric_as_a_finite_number(files, capsys):
    code, out, _ = run(["score", "--features", files["F"], "--labels", files["y"], "--source-probs", files["P"],
                        "--json"], capsys)
    assert code == 0
    scores = json.loads(out)
    assert list(scores) == SCORE_KEYS
    assert all(isinstance(v, float) and np.isfinite(v) for v in scores.values())
    assert scores["knn"] == pytest.approx(1.0)  # the classes are far apart


def test_all_means_only_metrics_whose_inputs_are_present(files, capsys):
    code, out, _ = run(["score", "--features", files["F"], "--labels", files["y"], "--json"], capsys)
    assert code == 0
    assert set(json.loads(out)) == set(SCORE_KEYS) - {"leep", "nce"}


def test_string_labels_map_like_integers(files, capsys):
    _, as_int, _ = run(["score", "--features", files["F"], "--labels", files["y"], "--metrics", "logme,sfda,knn",
                        "--json"], capsys)
    _, as_str, _ = run(["score", "--features", files["F"], "--labels", files["ystr"], "--metrics", "logme,sfda,knn",
                        "--json"], capsys)
    assert json.loads(as_int) == json.loads(as_str)


def test_regression_targets_run_logme_and_disco(files, capsys):
    code, out, _ = run(["score", "--features", files["F"], "--targets", files["T"], "--json"], capsys)
    assert code == 0
    assert set(json.loads(out)) == {"logme", "disco"}


@pytest.mark.parametrize("argv_tail, fragment", [
    (["--metrics", "nosuch"], "unknown metric"),
    (["--metrics", "leep"], "source_probs"),
    (["--option", "nleep.nosuch=1"], "no option"),
    (["--option", "nleep.seed=abc"], "nleep.seed='abc' is invalid: it must be an integer"),
    (["--option", "badformat"], "metric.key=value"),
    (["--metrics", "knn", "--option", "nleep.seeds=1000000000"], "nleep.seeds=1000000000 is invalid: it must be an "
                                                                 "integer from 1 to 100"),
    (["--option", "sfda.pca_dim=2.5"], "sfda.pca_dim='2.5' is invalid"),
    (["--option", "parc.budget=100000"], "from 3 to 20000"),
    (["--option", "gbc.gaussian=full"], "one of spherical, diagonal"),
    (["--metrics", ""], "names no metric"),
    (["--metrics", " , "], "names no metric"),
])
def test_usage_errors_exit_2_with_one_line(files, capsys, argv_tail, fragment):
    code, out, err = run(["score", "--features", files["F"], "--labels", files["y"], *argv_tail, "--json"], capsys)
    assert code == 2
    assert out == ""
    assert fragment in err and err.count("\n") == 1


def test_bad_files_exit_2(files, tmp_path, capsys):
    np.save(tmp_path / "short.npy", np.zeros(5))
    np.save(tmp_path / "nan.npy", np.full((90, 6), np.nan))
    (tmp_path / "text.npy").write_text("not an array")
    cases = [
        (["--features", files["F"], "--labels", str(tmp_path / "short.npy")], "5 entries"),
        (["--features", str(tmp_path / "nan.npy"), "--labels", files["y"]], "non-finite"),
        (["--features", str(tmp_path / "text.npy"), "--labels", files["y"]], "not a readable"),
        (["--features", str(tmp_path / "missing.npy"), "--labels", files["y"]], "not found"),
        (["--features", files["F"], "--labels", files["y"], "--targets", files["T"]], "not both"),
    ]
    for argv, fragment in cases:
        code, out, err = run(["score", *argv, "--json"], capsys)
        assert (code, out) == (2, ""), argv
        assert fragment in err, (argv, err)


def _npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _header_only(shape) -> bytes:
    buffer = io.BytesIO()
    npy.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buffer.getvalue()


@pytest.mark.parametrize("content, fragment", [
    (b"", "is empty (0 bytes)"),
    (_npy_bytes(np.zeros((90, 6)))[:-8], "truncated or corrupt: its header says shape (90, 6) of float64 (4320 bytes) "
                                         "but only 4312 bytes follow"),
    (_header_only((10**6, 10**6)) + bytes(64), "header says shape (1000000, 1000000)"),  # 8 TB claimed: never allocated
    (_npy_bytes(np.zeros((90, 6)))[:40], "not a readable .npy array"),  # the header itself is cut
    (_npy_bytes(np.zeros((90, 6)))[:5], "not a readable .npy array"),  # not even the magic string
])
def test_broken_npy_files_exit_2_with_one_line(files, tmp_path, capsys, content, fragment):
    path = tmp_path / "broken.npy"
    path.write_bytes(content)
    for flag in ("--features", "--labels"):
        argv = {"--features": files["F"], "--labels": files["y"], flag: str(path)}
        code, out, err = run(["score", *[part for pair in argv.items() for part in pair], "--json"], capsys)
        assert (code, out) == (2, ""), flag
        assert fragment in err and err.count("\n") == 1, (flag, err)


def test_object_arrays_are_refused_without_unpickling(files, tmp_path, capsys):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}] * 90, dtype=object), allow_pickle=True)
    code, out, err = run(["score", "--features", files["F"], "--labels", str(tmp_path / "objects.npy"), "--json"],
                         capsys)
    assert (code, out) == (2, "")
    assert "holds Python objects (dtype object)" in err and err.count("\n") == 1


def test_one_dimensional_features_are_refused(files, tmp_path, capsys):
    """A 1-D features file is far more often a labels or targets file given by mistake than one feature per image."""
    np.save(tmp_path / "flat.npy", np.arange(90.0))
    code, out, err = run(["score", "--features", str(tmp_path / "flat.npy"), "--labels", files["y"], "--json"], capsys)
    assert (code, out) == (2, "")
    assert "features must be [N, D]; got a 1-D array of 90 values" in err and err.count("\n") == 1


def test_single_class_gives_nulls_with_warnings_and_exit_0(files, tmp_path, capsys):
    np.save(tmp_path / "one.npy", np.zeros(90, dtype=int))
    code, out, err = run(["score", "--features", files["F"], "--labels", str(tmp_path / "one.npy"),
                          "--source-probs", files["P"], "--json"], capsys)
    assert code == 0
    scores = json.loads(out)
    assert scores == dict.fromkeys(SCORE_KEYS)  # every metric compares classes: none has a number with one class
    for name in ALL_METRICS:
        assert f"warning: {name}:" in err and "at least 2 classes" in err


def test_a_class_with_one_image_is_named_where_it_skews_the_math(files, tmp_path, capsys):
    """kNN (leave-one-out finds no classmate) and GBC (zero variance, floored) are skewed by a class of one image and
    say so, naming it; the other metrics' formulas are well-defined for it and score without that warning."""
    labels = np.load(files["y"]).astype("<U6")
    labels[7] = "lonely"
    np.save(tmp_path / "lonely.npy", labels)
    code, out, err = run(["score", "--features", files["F"], "--labels", str(tmp_path / "lonely.npy"),
                          "--source-probs", files["P"], "--json"], capsys)
    assert code == 0
    scores = json.loads(out)
    assert list(scores) == SCORE_KEYS and all(np.isfinite(value) for value in scores.values())
    assert scores["knn"] <= 89 / 90 + 1e-12  # the lonely image is always a miss (classes far apart: else 1.0)
    warned = {line.split(":")[1].strip() for line in err.splitlines() if "class lonely has a single image" in line}
    assert warned == {"knn", "gbc"}


def test_table_output_lists_meanings(files, capsys):
    code, out, _ = run(["score", "--features", files["F"], "--labels", files["y"], "--metrics", "knn"], capsys)
    assert code == 0
    assert "knn" in out and "score" in out.splitlines()[0]


def test_subprocess_stdout_is_exactly_one_json_object(files):
    result = subprocess.run([sys.executable, "-m", "transfer_core", "score", "--features", files["F"], "--labels",
                             files["y"], "--metrics", "hscore,knn", "--option", "nleep.seed=3", "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)) == {"hscore", "knn"}
    assert result.stdout.count("\n") == 1
