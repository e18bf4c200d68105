"""The ``score`` command's contract (design.md, "Contracts"), exercised through ``main`` and one real subprocess."""

import json
import subprocess
import sys

import numpy as np
import pytest

from transfer_core.cli import main
from transfer_core.metrics import metric_names

ALL_TWELVE = ["logme", "leep", "nce", "nleep", "sfda", "gbc", "hscore", "hscore_shrinkage", "transrate", "parc",
              "knn", "disco"]


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


def test_all_twelve_metrics_registered_in_order():
    assert metric_names() == ALL_TWELVE


def test_json_gives_every_metric_as_a_finite_number(files, capsys):
    code, out, _ = run(["score", "--features", files["F"], "--labels", files["y"], "--source-probs", files["P"],
                        "--json"], capsys)
    assert code == 0
    scores = json.loads(out)
    assert list(scores) == ALL_TWELVE
    assert all(isinstance(v, float) and np.isfinite(v) for v in scores.values())
    assert scores["knn"] == pytest.approx(1.0)  # the classes are far apart


def test_all_means_only_metrics_whose_inputs_are_present(files, capsys):
    code, out, _ = run(["score", "--features", files["F"], "--labels", files["y"], "--json"], capsys)
    assert code == 0
    assert set(json.loads(out)) == set(ALL_TWELVE) - {"leep", "nce"}


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
    (["--option", "nleep.seed=abc"], "not a valid int"),
    (["--option", "badformat"], "metric.key=value"),
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


def test_single_class_gives_nulls_with_warnings_and_exit_0(files, tmp_path, capsys):
    np.save(tmp_path / "one.npy", np.zeros(90, dtype=int))
    code, out, err = run(["score", "--features", files["F"], "--labels", str(tmp_path / "one.npy"),
                          "--source-probs", files["P"], "--json"], capsys)
    assert code == 0
    scores = json.loads(out)
    assert set(scores) == set(ALL_TWELVE)
    assert all(v is None or np.isfinite(v) for v in scores.values())
    nulls = [name for name, value in scores.items() if value is None]
    assert nulls, "a single class must not produce a ranking-worthy score for every metric"
    for name in nulls:
        assert f"warning: {name}:" in err


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
