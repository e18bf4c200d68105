"""Explore page: why the ranking came out as it did, in pictures of each model's features on the target images."""

import streamlit as st

import app_support as shared

UMAP_POINTS = 1500
TABS = ["Fisher projection", "Two models side by side", "UMAP map", "Spectrum", "Metric agreement"]


@st.cache_data(max_entries=8, show_spinner="Computing the UMAP map (the first one compiles for about 10 s)…")
def umap_map(fingerprint: str, model_id: str, _features, _labels):
    from transfer_core.presentation.projections import umap_embedding

    return umap_embedding(_features, _labels, max_points=UMAP_POINTS)


@st.cache_data(max_entries=16, show_spinner="Decomposing the spectrum…")
def spectrum(fingerprint: str, model_id: str, _features, _labels, _targets):
    from transfer_core.presentation.projections import spectral_components

    return spectral_components(_features, _labels, targets=_targets)


def pick(label: str, key: str, index: int = 0) -> str:
    return st.selectbox(label, models, index=min(index, len(models) - 1), format_func=shared.short_name, key=key)


def features_of(model_id: str):
    return shared.run_features(run, model_id)[0]


def fisher_for(model_id: str, dims: int):
    projection, raised = shared.run_fisher(run, model_id, dims)
    for message in raised:
        st.caption(f"Note: {message}")
    return projection


def show(figure, key: str) -> None:
    st.plotly_chart(figure, key=key, width="stretch")


def fisher_tab() -> None:
    from transfer_core.presentation.views import projection_figure

    left, right = st.columns([3, 1])
    with left:
        model = pick("Model", "explore_fisher_model")
    with right:
        dims = st.radio("View", [2, 3], format_func=lambda d: f"{d}-D", horizontal=True, key="explore_fisher_dims")
    show(projection_figure(fisher_for(model, dims), f"{shared.short_name(model)}: the target classes in its Fisher "
                                                    "space", model=model), "explore_fisher_chart")
    st.caption("Each point is one of your images, placed by the model's features along the directions that best "
               "separate your classes (a shrinkage LDA, as in SFDA). Compact, well-separated clouds mean a simple "
               "classifier on these features will tell your classes apart: the model is likely to transfer well.")


def pair_tab() -> None:
    from transfer_core.presentation.views import projection_pair_figure

    left, middle, right = st.columns([2, 2, 1])
    with left:
        first = pick("Left", "explore_pair_left", 0)
    with middle:
        second = pick("Right", "explore_pair_right", len(models) - 1)
    with right:
        dims = st.radio("View", [2, 3], format_func=lambda d: f"{d}-D", horizontal=True, key="explore_pair_dims")
    figure = projection_pair_figure(fisher_for(first, dims), fisher_for(second, dims),
                                    (shared.short_name(first), shared.short_name(second)),
                                    "Fisher projections side by side (same class colours)")
    show(figure, "explore_pair_chart")
    st.caption("The best-ranked model (left) against the lowest-ranked one (right) by default: a better backbone "
               "usually shows tighter, further-apart class clouds.")


def umap_tab() -> None:
    from transfer_core.presentation.views import projection_figure

    model = pick("Model", "explore_umap_model")
    embedding = umap_map(run.dataset_fingerprint, model, features_of(model), dataset.labels)
    show(projection_figure(embedding, f"{shared.short_name(model)}: UMAP map of the target features", model=model),
         "explore_umap_chart")
    st.caption("UMAP places images with similar features close together without using the labels (colours are "
               "added afterwards). Classes that form their own islands are easy to separate; mixed colours are not. "
               "Distances between islands mean little.")


def spectrum_tab() -> None:
    from transfer_core.presentation.views import spectrum_figure

    model = pick("Model", "explore_spectrum_model")
    components = spectrum(run.dataset_fingerprint, model, features_of(model), dataset.labels, dataset.targets)
    show(spectrum_figure(components, f"{shared.short_name(model)}: spectral components"), "explore_spectrum_chart")
    st.caption("Left: how much of the feature variation each direction carries (strongest first). Right: DISCO's "
               "view — how well each band of directions separates your classes, weighted by its share of the "
               "spectrum; the bars add up to the DISCO score. Good backbones separate the classes in their strong "
               "directions.")


def agreement_tab() -> None:
    from transfer_core.presentation.projections import metric_agreement
    from transfer_core.presentation.views import agreement_figure

    if len(run.ranking.models) < 3 or len(run.ranking.metrics) < 2:
        st.info("Metric agreement needs at least three ranked models and two metrics.")
        return
    names, matrix = metric_agreement({metric: list(run.ranking.scores(metric).values())
                                      for metric in run.ranking.metrics})
    show(agreement_figure(names, matrix), "explore_agreement_chart")
    st.caption("Kendall τ between the model orders of each pair of metrics: 1 = same order, 0 = unrelated, "
               "−1 = opposite. When the metrics broadly agree, the consensus ranking is trustworthy; a metric at "
               "odds with all others is worth a second look.")


st.title("Explore")
run = shared.require_run()
dataset = shared.run_dataset(run)
models = run.ranking.model_ids
if not models:
    st.error("The last ranking has no ranked model to explore; rank again with other models.")
    st.stop()
st.write(f"Why the ranking of {shared.count(len(models), 'model')} on {dataset.name} ({dataset.size} images) came out "
         "as it did. Models are listed best first; the features come from the feature store.")
needs_labels = {"Fisher projection", "Two models side by side"}
tabs = st.tabs(TABS, key="explore_tab", on_change="rerun")
views = dict(zip(TABS, (fisher_tab, pair_tab, umap_tab, spectrum_tab, agreement_tab)))
for name, tab in zip(TABS, tabs):
    if tab.open:
        with tab:
            if name in needs_labels and dataset.labels is None:
                st.info("Fisher projections need class labels; this dataset has regression targets.")
            else:
                views[name]()
