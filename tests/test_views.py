"""Figure builders: trace types, counts, names, order, error bars, axis titles and hover text."""

import numpy as np
import plotly.graph_objects as go
import pytest

from transfer_core.metrics.disco import DiscoComponents
from transfer_core.presentation.projections import Projection, SpectralComponents, fisher_projection, metric_agreement
from transfer_core.presentation.views import (
    BASELINE_COLOUR,
    agreement_figure,
    metric_scatter_figure,
    projection_figure,
    projection_pair_figure,
    ranking_figure,
    spectrum_figure,
)
from transfer_core.ranking.ranks import CONSENSUS
from transfer_core.ranking.table import ModelRow, Ranking

ROWS = Ranking({}, ["logme", "nce"], [
    ModelRow(model, {"logme": logme, "nce": None}, {CONSENSUS: consensus})
    for model, logme, consensus in [("zoo:resnet18", 1.5, 2.0), ("zoo:resnet18-random", 0.2, 3.5),
                                    ("zoo:vit", 2.5, 1.0), ("zoo:mobilenet", None, 3.0), ("zoo:broken", None, None)]
])


def titled(fig):
    """The figure's title text (every builder must set one)."""
    assert fig.layout.title.text
    return fig.layout.title.text


def bar_order(fig):
    return list(fig.layout.yaxis.categoryarray)


def toy_projection(dims=2, labels=("b", "a", "b", "c", "a"), start=0):
    coordinates = np.arange(len(labels) * dims, dtype=float).reshape(len(labels), dims)
    return Projection(coordinates, np.array(labels), np.arange(start, start + len(labels)),
                      tuple(f"axis {i}" for i in range(dims)), None, "test")


def test_ranking_figure_orders_best_first_and_marks_baselines():
    fig = ranking_figure(ROWS)
    assert bar_order(fig) == ["zoo:vit", "zoo:resnet18", "zoo:mobilenet", "zoo:resnet18-random"]
    assert fig.layout.yaxis.autorange == "reversed"  # the first category is drawn on top
    assert [trace.type for trace in fig.data] == ["bar", "bar"]
    pretrained, baseline = fig.data
    assert pretrained.name == "Pre-trained" and list(pretrained.y) == ["zoo:vit", "zoo:resnet18", "zoo:mobilenet"]
    assert list(pretrained.x) == [1.0, 2.0, 3.0] and pretrained.orientation == "h"
    assert baseline.name == "Random-init baseline" and list(baseline.y) == ["zoo:resnet18-random"]
    assert baseline.marker.color == BASELINE_COLOUR
    assert "1 model without a value not shown" in titled(fig)
    assert fig.layout.xaxis.title.text.startswith("Consensus rank") and fig.layout.yaxis.title.text == "Model"
    assert pretrained.hovertext[0].startswith("zoo:vit")
    assert pretrained.error_x.array is None


def test_ranking_figure_by_score_puts_the_highest_on_top():
    fig = ranking_figure(ROWS, metric="logme")
    assert bar_order(fig) == ["zoo:vit", "zoo:resnet18", "zoo:resnet18-random"]
    assert "2 models without a value not shown" in titled(fig)
    assert "higher" in fig.layout.xaxis.title.text


def test_ranking_figure_draws_rank_intervals_as_error_bars():
    intervals = {"zoo:vit": (1.0, 2.0), "zoo:resnet18": (1.0, 3.0), "zoo:mobilenet": (2.5, 4.0),
                 "zoo:resnet18-random": (3.0, 4.0)}
    pretrained, baseline = ranking_figure(ROWS, intervals=intervals).data
    np.testing.assert_allclose(pretrained.error_x.array, [1.0, 1.0, 1.0])
    np.testing.assert_allclose(pretrained.error_x.arrayminus, [0.0, 1.0, 0.5])
    np.testing.assert_allclose(baseline.error_x.array, [0.5])
    np.testing.assert_allclose(baseline.error_x.arrayminus, [0.5])
    assert pretrained.error_x.symmetric is False
    assert "range 1 to 3" in pretrained.hovertext[1]


def test_ranking_figure_without_values_is_an_error():
    with pytest.raises(ValueError, match="no model has a value for 'nce'"):
        ranking_figure(ROWS, metric="nce")


def test_projection_figure_has_one_webgl_trace_per_class():
    projection = toy_projection()
    fig = projection_figure(projection, "Fisher space of zoo:vit", model="zoo:vit")
    assert [trace.type for trace in fig.data] == ["scattergl"] * 3
    assert [trace.name for trace in fig.data] == ["a", "b", "c"]
    a = fig.data[0]
    np.testing.assert_array_equal(a.x, [2.0, 8.0])  # rows 1 and 4 are class "a"
    assert a.hovertext == ("zoo:vit<br>class: a<br>sample 1", "zoo:vit<br>class: a<br>sample 4")
    assert fig.layout.xaxis.title.text == "axis 0" and fig.layout.yaxis.title.text == "axis 1"
    assert titled(fig) == "Fisher space of zoo:vit"
    assert len({trace.marker.color for trace in fig.data}) == 3


def test_projection_figure_in_three_dimensions_and_unlabelled():
    fig = projection_figure(toy_projection(dims=3), "3-D")
    assert [trace.type for trace in fig.data] == ["scatter3d"] * 3
    assert fig.layout.scene.zaxis.title.text == "axis 2"
    unlabelled = Projection(np.zeros((4, 2)), None, np.arange(4), ("UMAP 1", "UMAP 2"), None, "UMAP")
    only = projection_figure(unlabelled, "UMAP").data
    assert len(only) == 1 and only[0].name == "samples" and len(only[0].x) == 4


def test_projection_figure_from_a_real_fisher_projection():
    rng = np.random.default_rng(0)
    labels = np.repeat(["cat", "dog"], 30)
    features = rng.normal(size=(60, 5)) + 3.0 * (labels == "dog")[:, None]
    fig = projection_figure(fisher_projection(features, labels, device="cpu"), "two classes")
    assert [trace.name for trace in fig.data] == ["cat", "dog"]
    assert "discriminant axis" in fig.layout.yaxis.title.text


@pytest.mark.parametrize("dims, kind", [(2, "scattergl"), (3, "scatter3d")])
def test_projection_pair_figure_shares_class_colours_and_legend(dims, kind):
    left = toy_projection(dims)
    right = toy_projection(dims, labels=("c", "c", "a", "d"), start=10)
    fig = projection_pair_figure(left, right, ("zoo:vit", "zoo:resnet18"), "Two models")
    assert [trace.type for trace in fig.data] == [kind] * 6
    assert [trace.name for trace in fig.data] == ["a", "b", "c", "a", "c", "d"]
    assert [trace.showlegend for trace in fig.data] == [True] * 3 + [False] * 3
    colours = {(trace.name, trace.marker.color) for trace in fig.data}
    assert len(colours) == 4  # one colour per class across both panels
    assert [annotation.text for annotation in fig.layout.annotations] == ["zoo:vit", "zoo:resnet18"]
    assert fig.data[3].hovertext[0] == "zoo:resnet18<br>class: a<br>sample 12"
    if dims == 3:
        assert fig.layout.scene.zaxis.title.text == fig.layout.scene2.zaxis.title.text == "axis 2"
    else:
        assert fig.layout.xaxis2.title.text == "axis 0"
    with pytest.raises(ValueError, match="same dimension"):
        projection_pair_figure(toy_projection(2), toy_projection(3), ("a", "b"), "mismatch")


def test_spectrum_figure_has_a_log_spectrum_and_group_contributions():
    disco = DiscoComponents(total=0.5, ratios=np.array([0.75, 0.25]), scores=np.array([0.6, 0.2]),
                            ranges=((0, 2), (2, 4)), task="classification")
    spectral = SpectralComponents(np.array([4.0, 2.0, 1.0, 0.0]), np.array([16, 20, 21, 21]) / 21, disco)
    fig = spectrum_figure(spectral, "Spectrum of zoo:vit")
    line, bars = fig.data
    assert (line.type, bars.type) == ("scatter", "bar")
    np.testing.assert_array_equal(line.y, [4.0, 2.0, 1.0])  # the zero singular value cannot sit on a log axis
    assert fig.layout.yaxis.type == "log"
    assert list(bars.x) == ["1–2", "3–4"]
    np.testing.assert_allclose(bars.y, [0.45, 0.05])
    assert "total 0.5" in fig.layout.annotations[1].text
    assert fig.layout.xaxis2.title.text and fig.layout.yaxis2.title.text
    assert "share of the spectrum 75.0%" in bars.hovertext[0]


def test_agreement_figure_is_an_annotated_diverging_heatmap():
    metrics, matrix = metric_agreement({"logme": [1, 2, 3, 4], "sfda": [1, 3, 2, 4], "knn": [4, 3, 2, None],
                                        "gbc": [1, None, None, 2]})
    fig = agreement_figure(metrics, matrix)
    (heatmap,) = fig.data
    assert heatmap.type == "heatmap" and (heatmap.zmin, heatmap.zmax, heatmap.zmid) == (-1, 1, 0)
    assert list(heatmap.x) == list(heatmap.y) == metrics
    assert heatmap.text[0][1] == "0.67" and heatmap.text[0][2] == "-1.00" and heatmap.text[0][3] == "n/a"
    assert heatmap.colorscale[0][1] != heatmap.colorscale[-1][1]
    assert titled(fig) and fig.layout.xaxis.title.text == "Metric"
    with pytest.raises(ValueError, match="3×3"):
        agreement_figure(metrics[:3], matrix)


def test_metric_scatter_figure_pairs_scores_with_accuracies():
    fig = metric_scatter_figure([1.0, 2.0, None, 0.5], [0.7, 0.9, 0.8, 0.3],
                                ["zoo:a", "zoo:b", "zoo:c", "zoo:a-random"], "logme")
    (points,) = fig.data
    assert list(points.x) == [1.0, 2.0, 0.5] and list(points.y) == [0.7, 0.9, 0.3]
    assert list(points.text) == ["zoo:a", "zoo:b", "zoo:a-random"]
    assert points.marker.color[2] == BASELINE_COLOUR != points.marker.color[0]
    assert fig.layout.yaxis.title.text == "Ground-truth accuracy" and "logme" in titled(fig)
    assert points.hovertext[1] == "zoo:b<br>logme: 2<br>accuracy: 0.900"
    with pytest.raises(ValueError, match="differ in length"):
        metric_scatter_figure([1.0], [0.5, 0.6], ["a"], "logme")


def test_figures_serialise_to_json():
    fig = projection_pair_figure(toy_projection(), toy_projection(), ("a", "b"), "pair")
    assert isinstance(go.Figure(fig.to_dict()), go.Figure) and fig.to_json()
