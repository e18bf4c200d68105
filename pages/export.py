"""Export page: the ranking as CSV / JSON, figures as HTML (PNG / SVG when a browser can render them), the report."""

import streamlit as st

import app_support as shared
from transfer_core.presentation.report import (
    STATIC_FORMATS,
    figure_html,
    figure_image,
    report_figures,
    run_report,
    static_export_problem,
)
from transfer_core.ranking.output import ranking_csv, ranking_json

st.title("Export")
run = shared.require_run()
ranking = run.ranking
stem = f"transfer-scout-{ranking.dataset.get('name', 'ranking').lower().replace(' ', '-')}"


def run_figures() -> dict:
    """The report's figures of this run (the best model's projection only with class labels, from the cache)."""
    labelled = ranking.models and shared.run_dataset(run).labels is not None
    return report_figures(ranking, shared.run_fisher(run, ranking.models[0].model, 2)[0] if labelled else None)


st.write(f"The last ranking: {shared.count(len(ranking.models), 'model')} on {ranking.dataset.get('name')} "
         f"({ranking.dataset.get('size')} images).")
figures = run_figures()
st.subheader("The ranking")
columns = st.columns(3)
columns[0].download_button("Ranking as CSV", ranking_csv(ranking), file_name=f"{stem}.csv", mime="text/csv",
                           key="export_csv", icon=":material/table:")
columns[1].download_button("Ranking as JSON", ranking_json(run.result), file_name=f"{stem}.json",
                           mime="application/json", key="export_json", icon=":material/data_object:")
columns[2].download_button("One-file HTML report",
                           lambda: run_report(run.result, figures), file_name=f"{stem}-report.html", mime="text/html",
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
