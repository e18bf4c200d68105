"""Plotly figure builders for the app and the exported report.

Pure functions: plain inputs (a :class:`~transfer_core.ranking.table.Ranking`,
:mod:`transfer_core.presentation.projections` results, arrays) in, a ``plotly.graph_objects.Figure`` out, no I/O.
Every figure has a title, axis titles in plain words and hover text naming the models or classes.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from transfer_core.models.ids import is_baseline
from transfer_core.presentation.projections import Projection, SpectralComponents
from transfer_core.ranking.ranks import CONSENSUS
from transfer_core.ranking.table import Ranking

PRETRAINED_COLOUR = "#1f77b4"
BASELINE_COLOUR = "#b0b0b0"

def _titled(fig: go.Figure, title: str, x_title: str | None = None, y_title: str | None = None) -> go.Figure:
    """The layout every builder shares: title, plain white template, axis titles for single-panel figures."""
    fig.update_layout(title={"text": title, "x": 0.0, "xanchor": "left"}, template="plotly_white",
                      margin={"l": 60, "r": 20, "t": 70, "b": 50}, hoverlabel={"namelength": -1})
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    return fig


def _finite(value) -> bool:
    return value is not None and math.isfinite(float(value))


# --- ranking ---

def _value_title(metric: str) -> str:
    if metric == CONSENSUS:
        return "Consensus rank (1 = best; mean of the per-metric ranks)"
    return f"{metric} score (higher = predicted to transfer better)"


def ranking_figure(ranking: Ranking, metric: str = CONSENSUS, intervals: dict[str, tuple[float, float]] | None = None,
                   title: str | None = None) -> go.Figure:
    """Horizontal bars of the models of ``ranking`` by their consensus rank (:data:`CONSENSUS`, lower is better) or
    by one metric's score (higher is better), best on top; random-init baselines in grey. ``intervals`` maps a model
    to the (low, high) range of the plotted value (e.g. its rank interval over subsamples) and draws it as an error
    bar. Models without a value are left out and counted in the title."""
    lower_is_better = metric == CONSENSUS
    values = ranking.ranks(CONSENSUS) if lower_is_better else ranking.scores(metric)
    shown = {model: float(value) for model, value in values.items() if _finite(value)}
    if not shown:
        raise ValueError(f"no model has a value for {metric!r}")
    order = sorted(shown, key=lambda model: shown[model] if lower_is_better else -shown[model])
    fig = go.Figure()
    for baseline, name, colour in ((False, "Pre-trained", PRETRAINED_COLOUR),
                                   (True, "Random-init baseline", BASELINE_COLOUR)):
        models = [model for model in order if is_baseline(model) == baseline]
        if models:
            fig.add_trace(_ranking_bars(models, [shown[model] for model in models], metric, intervals, name, colour))
    missing = len(values) - len(shown)
    heading = title or ("Model ranking" if metric == CONSENSUS else f"Models by {metric}")
    if missing:
        heading += f" ({missing} model{'s' if missing > 1 else ''} without a value not shown)"
    fig.update_yaxes(categoryorder="array", categoryarray=order, autorange="reversed")
    return _titled(fig, heading, _value_title(metric), "Model")


def _ranking_bars(models: list[str], values: list[float], metric: str, intervals, name: str, colour: str) -> go.Bar:
    values = np.array(values)
    label = "consensus rank" if metric == CONSENSUS else metric
    hover = [f"{model}<br>{label}: {value:.4g}" for model, value in zip(models, values)]
    error = None
    if intervals is not None:
        bounds = np.array([intervals.get(model, (value, value)) for model, value in zip(models, values)], dtype=float)
        error = {"type": "data", "symmetric": False, "array": np.maximum(bounds[:, 1] - values, 0),
                 "arrayminus": np.maximum(values - bounds[:, 0], 0), "color": "#444"}
        hover = [f"{text}<br>range {low:.4g} to {high:.4g}" for text, (low, high) in zip(hover, bounds)]
    return go.Bar(x=values, y=models, orientation="h", name=name, marker_color=colour, error_x=error,
                  hovertext=hover, hoverinfo="text")


# --- projections ---

def _class_colours(classes: list) -> dict:
    palette = qualitative.Plotly if len(classes) <= len(qualitative.Plotly) else qualitative.Dark24
    return {name: palette[i % len(palette)] for i, name in enumerate(classes)}


def _classes_of(*projections: Projection) -> list:
    """Sorted union of the classes shown (``[None]`` when unlabelled)."""
    if any(p.labels is None for p in projections):
        return [None]
    return np.unique(np.concatenate([p.labels for p in projections])).tolist()


def _class_traces(projection: Projection, colours: dict, model: str | None, show_legend: bool) -> list:
    """One marker trace per class (WebGL for 2-D), so the legend reads as the classes."""
    dims = projection.coordinates.shape[1]
    traces = []
    for name, colour in colours.items():
        mask = np.ones(len(projection.indices), bool) if name is None else projection.labels == name
        if not mask.any():
            continue
        label = "samples" if name is None else str(name)
        prefix = f"{model}<br>" if model else ""
        hover = [f"{prefix}class: {label}<br>sample {index}" for index in projection.indices[mask]]
        points = projection.coordinates[mask]
        common = {"mode": "markers", "name": label, "legendgroup": label, "showlegend": show_legend,
                  "hovertext": hover, "hoverinfo": "text"}
        if dims == 2:
            traces.append(go.Scattergl(x=points[:, 0], y=points[:, 1], marker={"color": colour, "size": 5},
                                       **common))
        else:
            traces.append(go.Scatter3d(x=points[:, 0], y=points[:, 1], z=points[:, 2],
                                       marker={"color": colour, "size": 3}, **common))
    return traces


def _projection_axes(fig: go.Figure, projection: Projection, row: int | None = None, col: int | None = None) -> None:
    titles = projection.axis_titles
    if projection.coordinates.shape[1] == 2:
        fig.update_xaxes(title_text=titles[0], row=row, col=col)
        fig.update_yaxes(title_text=titles[1], row=row, col=col)
    else:
        fig.update_scenes(xaxis_title_text=titles[0], yaxis_title_text=titles[1], zaxis_title_text=titles[2],
                          row=row, col=col)


def projection_figure(projection: Projection, title: str, *, model: str | None = None) -> go.Figure:
    """A 2-D (WebGL) or 3-D scatter of a :class:`Projection`, one trace per class."""
    fig = go.Figure(_class_traces(projection, _class_colours(_classes_of(projection)), model, True))
    _projection_axes(fig, projection)
    return _titled(fig, title).update_layout(legend_title_text="Class")


def projection_pair_figure(left: Projection, right: Projection, models: tuple[str, str], title: str) -> go.Figure:
    """Two models' projections side by side; a class has the same colour in both and one legend entry."""
    dims = left.coordinates.shape[1]
    if right.coordinates.shape[1] != dims:
        raise ValueError(f"both projections need the same dimension, got {dims} and {right.coordinates.shape[1]}")
    kind = "xy" if dims == 2 else "scene"
    fig = make_subplots(rows=1, cols=2, specs=[[{"type": kind}, {"type": kind}]], subplot_titles=list(models),
                        horizontal_spacing=0.08)
    colours = _class_colours(_classes_of(left, right))
    for col, (projection, model) in enumerate(zip((left, right), models), start=1):
        for trace in _class_traces(projection, colours, model, show_legend=col == 1):
            fig.add_trace(trace, row=1, col=col)
        _projection_axes(fig, projection, row=1, col=col)
    return _titled(fig, title).update_layout(legend_title_text="Class")


# --- spectrum, agreement, validation ---

def spectrum_figure(spectral: SpectralComponents, title: str = "Spectral components") -> go.Figure:
    """Left: the singular values of the centred features (log axis). Right: each spectral group's DISCO
    contribution, its share of the spectrum × its score (summing to the DISCO score)."""
    disco = spectral.disco
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Singular value spectrum",
                                                        f"DISCO contribution per group (total {disco.total:.3g})"))
    values = spectral.singular_values
    component = np.arange(1, len(values) + 1)
    kept = values > 0  # a log axis cannot show zeros
    fig.add_trace(go.Scatter(
        x=component[kept], y=values[kept], mode="lines+markers", name="Singular values", marker={"size": 4},
        hovertext=[f"component {c}: singular value {s:.4g}<br>{v:.1%} of the variance in components 1 to {c}"
                   for c, s, v in zip(component[kept], values[kept], spectral.cumulative_variance[kept])],
        hoverinfo="text"), row=1, col=1)
    groups = [f"{start + 1}–{stop}" for start, stop in disco.ranges]
    fig.add_trace(go.Bar(
        x=groups, y=disco.ratios * disco.scores, name="DISCO contribution", marker_color=PRETRAINED_COLOUR,
        hovertext=[f"components {g}<br>share of the spectrum {r:.1%}<br>score {s:.3g}"
                   for g, r, s in zip(groups, disco.ratios, disco.scores)], hoverinfo="text"), row=1, col=2)
    fig.update_xaxes(title_text="Component (strongest first)", row=1, col=1)
    fig.update_yaxes(title_text="Singular value (log scale)", type="log", row=1, col=1)
    fig.update_xaxes(title_text="Spectral group (components)", type="category", row=1, col=2)
    fig.update_yaxes(title_text="Contribution (share × score)", row=1, col=2)
    return _titled(fig, title).update_layout(showlegend=False)


def agreement_figure(metrics: list[str], matrix: np.ndarray,
                     title: str = "How much the metrics agree on the model order") -> go.Figure:
    """Heatmap of Kendall τ-b between metrics (−1 opposite order … 1 same order); empty cells ("n/a") had
    fewer than three models scored by both metrics."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape != (len(metrics), len(metrics)):
        raise ValueError(f"the matrix must be {len(metrics)}×{len(metrics)}, got {matrix.shape}")
    text = [["n/a" if np.isnan(v) else f"{v:.2f}" for v in row] for row in matrix]
    fig = go.Figure(go.Heatmap(
        z=matrix, x=metrics, y=metrics, zmin=-1, zmax=1, zmid=0, colorscale="RdBu", text=text,
        texttemplate="%{text}", colorbar={"title": {"text": "Kendall τ-b"}},
        hovertemplate="%{y} vs %{x}<br>Kendall τ-b: %{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return _titled(fig, title, "Metric", "Metric")


def metric_scatter_figure(scores: list[float | None], accuracies: list[float | None], model_ids: list[str],
                          metric: str, title: str | None = None) -> go.Figure:
    """A metric's score against the ground-truth accuracy, one point per model (models missing either
    number are left out); baselines in grey."""
    if not len(scores) == len(accuracies) == len(model_ids):
        raise ValueError(f"scores, accuracies and model ids differ in length: "
                         f"{len(scores)}, {len(accuracies)}, {len(model_ids)}")
    points = [(s, a, m) for s, a, m in zip(scores, accuracies, model_ids) if _finite(s) and _finite(a)]
    if not points:
        raise ValueError(f"no model has both a {metric} score and an accuracy")
    x, y, models = (list(column) for column in zip(*points))
    fig = go.Figure(go.Scatter(
        x=x, y=y, mode="markers+text", text=models, textposition="top center", name=metric,
        marker={"size": 10, "color": [BASELINE_COLOUR if is_baseline(m) else PRETRAINED_COLOUR for m in models]},
        hovertext=[f"{m}<br>{metric}: {s:.4g}<br>accuracy: {a:.3f}" for s, a, m in points], hoverinfo="text"))
    return _titled(fig, title or f"{metric} score vs ground-truth accuracy",
                   f"{metric} score (higher = predicted to transfer better)", "Ground-truth accuracy")


def stability_figure(tau_draws: dict[str, list[float]], win_share: dict[str, float],
                     title: str = "How firm is each metric's weighted τ?") -> go.Figure:
    """Left: each metric's weighted τ over resampled setups, one point per setup over a box (median and
    quartiles), best median on top. Right: the share of setups each metric won. Inputs are
    :class:`transfer_core.evidence.uncertainty.MetricStability`'s ``tau_draws`` (NaN = no τ in that setup) and
    ``win_share``; metrics without any τ are left out and counted in the title (Agostinelli et al., ECCV'22)."""
    draws = {metric: np.asarray(values, dtype=float) for metric, values in tau_draws.items()}
    draws = {metric: values[np.isfinite(values)] for metric, values in draws.items()}
    order = sorted((metric for metric, values in draws.items() if values.size),
                   key=lambda metric: -float(np.median(draws[metric])))
    if not order:
        raise ValueError("no metric has a weighted τ over the resampled setups")
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.72, 0.28], horizontal_spacing=0.04,
                        subplot_titles=("Weighted τ in each resampled setup", "Share of setups won"))
    taus = np.concatenate([draws[metric] for metric in order])
    names = [metric for metric in order for _ in draws[metric]]
    fig.add_trace(go.Box(
        x=taus, y=names, orientation="h", name="weighted τ", boxpoints="all", jitter=0.5, pointpos=0,
        marker={"size": 4, "color": PRETRAINED_COLOUR, "opacity": 0.6}, line={"color": "#444"},
        fillcolor="rgba(0,0,0,0)", hovertext=[f"{m}: τ {t:.3f}" for m, t in zip(names, taus)], hoverinfo="text"),
        row=1, col=1)
    shares = [win_share.get(metric, 0.0) for metric in order]
    fig.add_trace(go.Bar(
        x=shares, y=order, orientation="h", name="win share", marker_color=PRETRAINED_COLOUR,
        hovertext=[f"{m}: best metric in {s:.0%} of the setups" for m, s in zip(order, shares)], hoverinfo="text"),
        row=1, col=2)
    fig.add_vline(x=0, line={"dash": "dot", "color": BASELINE_COLOUR}, row=1, col=1)
    fig.update_xaxes(title_text="Weighted Kendall τ (1 = perfect order, 0 = chance)", range=[-1.05, 1.05],
                     row=1, col=1)
    fig.update_xaxes(title_text="Share of setups won", range=[0, 1], tickformat=".0%", row=1, col=2)
    fig.update_yaxes(categoryorder="array", categoryarray=order, autorange="reversed", title_text="Metric",
                     row=1, col=1)
    left_out = len(draws) - len(order)
    if left_out:
        title += f" ({left_out} metric{'s' if left_out > 1 else ''} without a τ in any setup not shown)"
    return _titled(fig, title).update_layout(showlegend=False)
