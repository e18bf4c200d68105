"""Export page: the ranking as CSV / JSON, figures as HTML (PNG / SVG when a browser can render them), the report."""

import streamlit as st

import app_support as shared
from transfer_core.output import ranking_csv, ranking_json
from transfer_core.report import STATIC_FORMATS, figure_html, figure_image, report_html, static_export_problem

st.title("Export")
run = shared.require_run()
ranking = run.ranking
stem = f"transfer-scout-{ranking.dataset.get('name', 'ranking').lower().replace(' ', '-')}"


def run_figures() -> dict:
    """The figures of this run by title, built on request (best model's projection only with class labels)."""
    from transfer_core.projections import metric_agreement
    from transfer_core.views import agreement_figure, projection_figure, ranking_figure

    figures = {}
    if ranking.models:
        figures["Model ranking"] = ranking_figure(ranking.models, "consensus_rank")
    if len(ranking.models) >= 3 and len(ranking.metrics) >= 2:
        figures["Metric agreement"] = agreement_figure(*metric_agreement(
            {metric: [row.get(metric) for row in ranking.models] for metric in ranking.metrics}))
    dataset = shared.run_dataset(run)
    if ranking.models and dataset.labels is not None:
        best = ranking.models[0]["model"]
        figures[f"Fisher projection of {shared.short_name(best)}"] = projection_figure(
            shared.run_fisher(run, best, 2)[0], f"{shared.short_name(best)} (best bet): the target classes in its "
            "Fisher space", model=best)
    return figures


st.write(f"The last ranking: {shared.count(len(ranking.models), 'model')} on {ranking.dataset.get('name')} "
         f"({ranking.dataset.get('size')} images).")
figures = run_figures()
st.subheader("The ranking")
columns = st.columns(3)
columns[0].download_button("Ranking as CSV", ranking_csv(ranking), file_name=f"{stem}.csv", mime="text/csv",
                           key="export_csv", icon=":material/table:")
columns[1].download_button("Ranking as JSON", ranking_json(ranking), file_name=f"{stem}.json",
                           mime="application/json", key="export_json", icon=":material/data_object:")
columns[2].download_button("One-file HTML report",
                           lambda: report_html(ranking, run.verdict, list(figures.items()), intervals=run.intervals,
                                               notes=run.notes), file_name=f"{stem}-report.html", mime="text/html",
                           key="export_report", icon=":material/description:", type="primary")
st.caption("The report holds the verdict, the ranking table with rank intervals, the figures (interactive, "
           "opens offline), what each metric means, and every model that failed or warned.")

st.subheader("Figures")
if not figures:
    st.info("No figure to export: no model was ranked.")
    st.stop()
chosen = st.selectbox("Figure", list(figures), key="export_figure")
problem = static_export_problem()
formats = ["html"] if problem else ["html", *STATIC_FORMATS]
for column, fmt in zip(st.columns(len(formats)), formats):
    name = f"{stem}-{chosen.lower().replace(' ', '-')}.{fmt}"
    if fmt == "html":
        column.download_button("Interactive HTML", lambda: figure_html(figures[chosen]), file_name=name,
                               mime="text/html", key="export_figure_html")
    else:
        column.download_button(fmt.upper(), lambda fmt=fmt: figure_image(figures[chosen], fmt), file_name=name,
                               mime="image/png" if fmt == "png" else "image/svg+xml", key=f"export_figure_{fmt}")
if problem:
    st.info(problem)
else:
    st.caption("PNG and SVG are rendered on request by kaleido in a headless Chromium (a few seconds each).")
