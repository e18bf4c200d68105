"""Exporting a ranking run: the display table, the one-file HTML report, and figures as HTML, PNG or SVG.

The report is a single self-contained HTML file (plotly.js embedded once, so it opens offline): the dataset, the
plain-language verdict, the ranking table with rank intervals, the figures, each metric's meaning and citation, and
every model that failed or warned. PNG / SVG go through kaleido, which drives a Chromium-family browser; without
one, :func:`static_export_problem` says why and figures stay HTML only.
"""

from __future__ import annotations

import html
import importlib.util
import math
import os
from datetime import datetime, timezone
from typing import Sequence

STATIC_FORMATS = ("png", "svg")


def _interval_text(interval: tuple[float, float] | None) -> str:
    if interval is None:
        return ""
    low, high = (f"{value:.3g}" for value in interval)
    return low if low == high else f"{low}–{high}"


def ranking_table(ranking, intervals=None) -> list[dict]:
    """One display row per ranked model, best first: position, model, consensus rank (with its rank interval when
    ``intervals`` are given; the column names the interval's metrics when they are not all of the ranking's), each
    metric's score and rank, feature size, pre-training, extraction time, cache hit, engine."""
    interval_column = None
    if intervals is not None:
        subset = "" if set(intervals.metrics) == set(ranking.metrics) else f"; {', '.join(intervals.metrics)}"
        interval_column = f"rank interval ({intervals.level:.0%}{subset})"
    rows = []
    for position, row in enumerate(ranking.models, start=1):
        shown = {"#": position, "model": row.model, "consensus rank": row.consensus_rank}
        if interval_column is not None:
            inside = row.model in intervals.models
            shown[interval_column] = _interval_text(intervals.interval(row.model) if inside else None)
        for metric in ranking.metrics:
            shown[metric] = row.score(metric)
            shown[f"{metric} rank"] = row.rank(metric)
        shown.update({"feature dim": row.feature_dim, "pretrained on": row.card.get("pretrained_on", ""),
                      "extract s": row.extract_seconds, "from cache": row.cache_hit, "engine": row.engine})
        rows.append(shown)
    return rows


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(rows: list[dict]) -> str:
    if not rows:
        return "<p>No model could be ranked.</p>"
    head = "".join(f"<th>{html.escape(column)}</th>" for column in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{_cell(value)}</td>" for value in row.values()) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _list(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in items) + "</ul>"


def _metric_section(metrics: Sequence[str]) -> str:
    from transfer_core.metrics import get_metric

    rows = [{"metric": name, "what it tells you": get_metric(name).meaning, "paper": get_metric(name).citation}
            for name in metrics]
    return _table(rows) if rows else "<p>No metric gave a score.</p>"


def _problems(ranking) -> str:
    parts = []
    if ranking.errors:
        parts.append("<h3>Models that could not be ranked</h3>"
                     + _list([f"{model}: {message}" for model, message in ranking.errors.items()]))
    warned = {model: messages for model, messages in ranking.warnings.items() if messages}
    if warned:
        parts.append("<h3>Warnings</h3>"
                     + _list([f"{model}: {message}" for model, messages in warned.items() for message in messages]))
    return "".join(parts) or "<p>None: every model loaded and every metric gave a number.</p>"


def _figures(figures: Sequence[tuple[str, object]]) -> str:
    """Each figure as a div; plotly.js is inlined with the first one only."""
    return "".join(f"<section class='figure'><h3>{html.escape(heading)}</h3>"
                   f"{figure.to_html(full_html=False, include_plotlyjs=index == 0)}</section>"
                   for index, (heading, figure) in enumerate(figures))


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px;
       color: #1d2433; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } .muted { color: #5b6475; }
.verdict { background: #eef5fc; border-left: 4px solid #1f77b4; padding: 0.8rem 1rem; margin: 1rem 0; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #d5d9e0; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f5f8; } tbody tr:nth-child(even) { background: #fafbfc; }
.scroll { overflow-x: auto; }
"""


def report_html(ranking, verdict=None, figures: Sequence[tuple[str, object]] = (), *, intervals=None,
                notes: Sequence[str] = (), title: str = "Transfer Scout report",
                generated: datetime | None = None) -> str:
    """The whole report as one HTML document.

    ``ranking`` is a :class:`~transfer_core.ranking.table.Ranking`; ``verdict`` a
    :class:`~transfer_core.evidence.verdict.Verdict` (or None); ``figures`` are (heading, plotly figure) pairs;
    ``intervals`` the :class:`~transfer_core.evidence.uncertainty.RankIntervals` behind the verdict; ``notes`` extra
    sentences shown under the verdict (e.g. which metrics the intervals used).
    """
    dataset = ranking.dataset
    generated = generated or datetime.now(timezone.utc)
    facts = [f"{dataset.get('size', '?')} images", dataset.get("task", "")]
    if dataset.get("classes"):
        facts.append(f"{len(dataset['classes'])} classes: {', '.join(dataset['classes'])}")
    verdict_html = (f"<div class='verdict'><p><strong>{html.escape(verdict.text)}</strong></p>"
                    + "".join(f"<p class='muted'>{html.escape(note)}</p>" for note in notes) + "</div>"
                    if verdict is not None else "<p>No verdict: no model could be ranked.</p>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="muted">Dataset <strong>{html.escape(str(dataset.get('name', '')))}</strong>
(<code>{html.escape(str(dataset.get('id', '')))}</code>): {html.escape(' · '.join(fact for fact in facts if fact))}.
{len(ranking.models)} models ranked by {len(ranking.metrics)} metrics. Generated {generated:%Y-%m-%d %H:%M} UTC.</p>
<h2>Verdict</h2>
{verdict_html}
<h2>Ranking</h2>
<p class="muted">Rank 1 is best. The consensus rank is the mean of a model's ranks under the metrics; tied models share
the average rank; a metric that could not score a model leaves it out of that metric's ranking.</p>
<div class="scroll">{_table(ranking_table(ranking, intervals))}</div>
<h2>Figures</h2>
{_figures(figures) or "<p>No figures.</p>"}
<h2>The metrics</h2>
<p class="muted">Every score is higher-is-better.</p>
{_metric_section(ranking.metrics)}
<h2>Problems</h2>
{_problems(ranking)}
</body></html>
"""


def report_figures(ranking, best_projection=None) -> dict[str, object]:
    """The report's figures by heading: the ranking, the metrics' agreement (3+ models, 2+ metrics) and, when
    given, the best model's 2-D Fisher projection (a :class:`~transfer_core.presentation.projections.Projection`)."""
    from transfer_core.models.ids import short_name
    from transfer_core.presentation.projections import metric_agreement
    from transfer_core.presentation.views import agreement_figure, projection_figure, ranking_figure

    figures = {}
    if ranking.models:
        figures["Model ranking"] = ranking_figure(ranking)
    if len(ranking.models) >= 3 and len(ranking.metrics) >= 2:
        figures["Metric agreement"] = agreement_figure(*metric_agreement(
            {metric: list(ranking.scores(metric).values()) for metric in ranking.metrics}))
    if ranking.models and best_projection is not None:
        best = short_name(ranking.models[0].model)
        figures[f"Fisher projection of {best}"] = projection_figure(
            best_projection, f"{best} (best bet): the target classes in its Fisher space",
            model=ranking.models[0].model)
    return figures


def run_report(run, figures: dict[str, object]) -> str:
    """The one-file report of a :class:`~transfer_core.ranking.run.RankRun` with ``figures``
    (:func:`report_figures`)."""
    return report_html(run.ranking, run.verdict, list(figures.items()), intervals=run.intervals, notes=run.notes)


def figure_html(figure) -> str:
    """One figure as a standalone interactive HTML page (plotly.js inlined, so it opens offline)."""
    return figure.to_html(include_plotlyjs=True, full_html=True)


def static_export_problem() -> str | None:
    """None when kaleido can render PNG / SVG here; otherwise a sentence saying why not and what to do."""
    if importlib.util.find_spec("kaleido") is None:
        return "PNG and SVG export needs the kaleido package (pip install kaleido); figures are offered as HTML only."
    from choreographer.browsers.chromium import Chromium  # kaleido's browser finder
    configured = os.environ.get("BROWSER_PATH")
    if configured:
        return None if os.path.isfile(configured) else (
            f"BROWSER_PATH points to {configured}, which does not exist, so kaleido cannot render PNG or SVG; "
            "figures are offered as HTML only.")
    if Chromium.find_browser(skip_local=False) is None:
        return ("PNG and SVG export renders figures in a headless Chromium (through kaleido) and none is installed "
                "(Debian / Ubuntu: apt-get install chromium, or set BROWSER_PATH); figures are offered as HTML only.")
    return None


def figure_image(figure, fmt: str, *, width: int = 1100, height: int = 600) -> bytes:
    """The figure as PNG (at twice the pixel density) or SVG bytes, rendered by kaleido."""
    if fmt not in STATIC_FORMATS:
        raise ValueError(f"static figure formats are {', '.join(STATIC_FORMATS)}, got {fmt!r}")
    return figure.to_image(format=fmt, width=width, height=height, scale=2 if fmt == "png" else 1)
