"""The one-file HTML report, the display table and figure export (transfer_core/presentation/report.py)."""

from html.parser import HTMLParser

import numpy as np
import plotly.graph_objects as go
import pytest

from transfer_core.evidence.uncertainty import subsample_rank_intervals
from transfer_core.evidence.verdict import verdict
from transfer_core.presentation.report import (
    figure_html,
    figure_image,
    ranking_table,
    report_html,
    static_export_problem,
)
from transfer_core.presentation.views import agreement_figure, ranking_figure
from transfer_core.ranking.table import Ranking, rank_table

METRICS = ["knn", "logme"]
ODD_MODEL = "file:/tmp/a&b<c>.pth?arch=resnet18"  # characters that must be escaped in HTML


LABELS = np.repeat([0, 1, 2], 20)


def _toy_features() -> dict[str, np.ndarray]:
    """Three models' features: classes pulled apart by 4, 1 and 0 standard deviations along their own axis."""
    rng = np.random.default_rng(0)
    return {model: rng.normal(size=(len(LABELS), 6)) + separation * np.eye(6)[LABELS]
            for model, separation in (("zoo:strong", 4.0), (ODD_MODEL, 1.0), ("zoo:weak-random", 0.0))}


@pytest.fixture(scope="module")
def run():
    """A ranking of three models whose class separation differs (the scores are computed, not invented), its rank
    intervals over 10 subsets, and the verdict."""
    from transfer_core.metrics.prepared import prepare
    from transfer_core.metrics.suite import score_suite

    labels, features = LABELS, _toy_features()
    scores = {model: {name: outcome.value for name, outcome in
                      score_suite(prepare(values, labels, device="cpu"), METRICS).items()}
              for model, values in features.items()}
    facts = {model: {"feature_dim": 6, "extract_seconds": 0.5, "cache_hit": model == "zoo:strong",
                     "card": {"pretrained_on": "ImageNet-1k" if model == "zoo:strong" else "nothing"}}
             for model in features}
    ranking = Ranking({"id": "demo", "name": "Toy blobs", "size": 60, "task": "classification",
                       "classes": ["a", "b", "c"]}, METRICS, rank_table(scores, METRICS, facts),
                      errors={"zoo:broken": "ModelLoadError: no weights"},
                      warnings={"zoo:weak-random": ["logme: did not converge"]})
    intervals = subsample_rank_intervals(features, labels, metrics=METRICS, repeats=10, device="cpu")
    return ranking, intervals, verdict(ranking, intervals)


class _Tables(HTMLParser):
    """Counts rows per table and collects the text of every cell."""

    def __init__(self):
        super().__init__()
        self.rows: list[int] = []
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.rows.append(0)
        elif tag == "tr":
            self.rows[-1] += 1
        elif tag in ("td", "th"):
            self._in_cell = True
            self.cells.append("")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells[-1] += data


def test_ranking_table_lists_models_best_first_with_scores_ranks_and_intervals(run):
    ranking, intervals, _ = run
    table = ranking_table(ranking, intervals)
    assert [row["model"] for row in table] == ranking.model_ids
    assert [row["#"] for row in table] == [1, 2, 3]
    assert table[0]["model"] == "zoo:strong" and table[0]["knn rank"] == 1
    for shown, row in zip(table, ranking.models):
        assert shown["logme"] == row.score("logme") and shown["consensus rank"] == row.consensus_rank
        text = shown["rank interval (90%)"].split("–")
        low, high = (float(text[0]), float(text[-1]))
        assert (low, high) == pytest.approx(intervals.interval(row.model), rel=5e-3)  # 3 significant digits
    assert "rank interval (90%)" not in ranking_table(ranking)[0]
    knn_only = subsample_rank_intervals(_toy_features(), LABELS, metrics=["knn"], repeats=5, device="cpu")
    assert "rank interval (90%; knn)" in ranking_table(ranking, knn_only)[0]  # says the intervals use a subset


def test_report_is_one_html_file_with_plotly_js_inlined_once(run):
    ranking, intervals, explained = run
    figures = [("Ranking", ranking_figure(ranking)),
               ("Agreement", agreement_figure(METRICS, np.array([[1.0, 0.5], [0.5, 1.0]])))]
    report = report_html(ranking, explained, figures, intervals=intervals, notes=["Intervals from 10 subsets."])
    one_figure = figure_html(figures[0][1])
    bundle_marker = "plotly.js v"  # the header comment of the inlined library
    assert report.count(bundle_marker) == one_figure.count(bundle_marker) >= 1
    assert report.count('class="plotly-graph-div"') == 2
    assert report.startswith("<!DOCTYPE html>") and "<script src=" not in report  # nothing fetched: opens offline
    no_figures = report_html(ranking, explained)
    assert bundle_marker not in no_figures and "No figures." in no_figures


def test_report_holds_verdict_table_metrics_and_problems(run):
    ranking, intervals, explained = run
    report = report_html(ranking, explained, intervals=intervals, notes=["Intervals from 10 subsets."])
    parser = _Tables()
    parser.feed(report)
    ranking_rows, metric_rows = parser.rows
    assert ranking_rows == 1 + len(ranking.models) and metric_rows == 1 + len(METRICS)
    assert ODD_MODEL in parser.cells  # escaped in the file, read back intact
    assert "a&amp;b&lt;c&gt;" in report and ODD_MODEL not in report
    from transfer_core.metrics import get_metric

    for metric in METRICS:
        assert get_metric(metric).meaning in parser.cells
    assert "zoo:broken: ModelLoadError: no weights" in report
    assert "zoo:weak-random: logme: did not converge" in report
    assert "Intervals from 10 subsets." in report
    assert "Toy blobs" in report and "3 classes: a, b, c" in report
    assert explained.sentences[0].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in report


def test_report_without_ranked_models_says_so():
    empty = Ranking({"id": "demo", "name": "Empty"}, [], [], errors={"zoo:x": "failed"})
    report = report_html(empty)
    assert "No model could be ranked." in report and "No verdict" in report and "zoo:x: failed" in report


def test_static_export_problem_names_a_missing_browser_path(monkeypatch, tmp_path):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-browser"))
    problem = static_export_problem()
    assert "BROWSER_PATH" in problem and "HTML only" in problem


def test_figure_image_rejects_unknown_formats():
    with pytest.raises(ValueError, match="png, svg"):
        figure_image(go.Figure(), "gif")


@pytest.mark.skipif(static_export_problem() is not None, reason=f"no PNG / SVG export here: {static_export_problem()}")
def test_figure_image_renders_png_and_svg_offline():
    figure = go.Figure(go.Bar(x=[1, 2, 3], y=["a", "b", "c"], orientation="h"))
    png = figure_image(figure, "png", width=400, height=300)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (800, 600)  # scale 2
    svg = figure_image(figure, "svg", width=400, height=300).decode()
    assert svg.startswith("<svg") and 'width="400"' in svg
