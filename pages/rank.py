"""Rank page: choose metrics, rank the selected models on the dataset (progress with ETA), read the verdict."""

import time

import streamlit as st

import app_support as shared
from transfer_core.config import (
    ANYTIME_FRACTIONS,
    CHEAP_METRICS,
    DEFAULT_INTERVAL_REPEATS,
    INTERVAL_FRACTION,
    INTERVAL_MODES,
)
from transfer_core.engines import ENGINES
from transfer_core.errors import TransferScoutError
from transfer_core.executors import make_executor
from transfer_core.metrics import get_metric, metric_names, pool_metric_names
from transfer_core.presentation.measured import agreement_sentence, cold_cost_sentence
from transfer_core.ranking.ranks import CONSENSUS
from transfer_core.ranking.run import ENSEMBLE_PCA_DIM, IntervalSettings, rank_run, suggest_ensemble

INTERVAL_LABELS = {
    "all": "Every metric of the ranking: ties judged on the consensus that chose the best model",
    "cheap": f"Faster, less faithful: only the quick metrics among those chosen ({', '.join(CHEAP_METRICS)})",
    "off": "Off: no statement about ties",
}
ENGINE_LABELS = {"auto": "auto", "torch": "torch", "onnxruntime": "ONNX Runtime"}


def duration(seconds: float | None) -> str:
    """``75`` → ``1 min 15 s``."""
    if seconds is None:
        return "estimating…"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ExtractionProgress:
    """The pipeline's progress callback drawn as two bars: all models, and the current model with its ETA.

    A model's extraction counts for :data:`EXTRACTION_SHARE` of its part of the overall bar, its scoring for the rest.
    """

    EXTRACTION_SHARE = 0.9

    def __init__(self, model_ids: list[str], status):
        self.model_ids = model_ids
        self.status = status
        self.shares = [0.0] * len(model_ids)  # each model's part done (models sharing decoded images finish together)
        self.stage = ""  # which slice of an anytime ranking is running ("" for a plain one)
        self.started = time.perf_counter()
        self.overall = st.progress(0.0, text=f"All {shared.count(len(model_ids), 'model')}: starting…")
        self.current = st.progress(0.0, text="Loading the first model…")

    def begin(self, stage: str) -> None:
        """A new pass over the models (the next slice of an anytime ranking), labelled ``stage``."""
        self.stage, self.started, self.shares = stage, time.perf_counter(), [0.0] * len(self.model_ids)

    def __call__(self, stage: str, index: int, count: int, done: int, total: int, eta: float | None) -> None:
        model = shared.short_name(self.model_ids[index])
        if stage == "extract":
            share = done / total if total else 1.0
            text = (f"{done} of {total} images · about {duration(eta)} left for this model" if done < total
                    else "features ready; scoring them with the metrics…")
            self.current.progress(share, text=f"{self.stage}Model {index + 1} of {count}, {model}: {text}")
            share *= self.EXTRACTION_SHARE
        else:
            share = 1.0
            self.current.progress(1.0, text=f"{self.stage}Model {index + 1} of {count}, {model}: scored")
        self.shares[index] = share
        fraction = min(sum(self.shares) / count, 1.0)
        elapsed = time.perf_counter() - self.started
        remaining = elapsed * (1 - fraction) / fraction if fraction > 0 else None
        self.overall.progress(fraction, text=f"{self.stage}all {count} models: {fraction:.0%} done · about "
                                             f"{duration(remaining)} left")
        self.status.update(label=f"Ranking: model {index + 1} of {count} ({model})…", expanded=True)


class IntervalProgress:
    """The rank intervals' progress callback: one bar, drawn when the re-scoring starts."""

    def __init__(self, repeats: int):
        self.repeats, self.bar = repeats, None

    def __call__(self, done: int, total: int, eta: float | None) -> None:
        if self.bar is None:
            self.bar = st.progress(0.0, text=f"Rank intervals: re-ranking on {self.repeats} subsets…")
        self.bar.progress(done / total, text=f"Rank intervals: {done} of {total} re-scorings · about {duration(eta)} "
                                             "left")


def run_ranking(dataset, spec, model_ids: list[str], metrics: list[str], mode: str, repeats: int,
                device: str, engine: str, anytime: bool, ray_address: str = "") -> shared.RunResult:
    from transfer_core.cache.store import FeatureStore
    from transfer_core.ranking.anytime import rank_anytime
    from transfer_core.ranking.pipeline import expand_model_ids

    ids = expand_model_ids(model_ids)
    board = st.empty()  # the provisional ranking of an anytime run, replaced by each better one
    executor = make_executor("ray", address=ray_address) if ray_address else make_executor()
    with executor, st.status(f"Ranking {shared.count(len(ids), 'model')} on {dataset.size} images…",
                             expanded=True) as status:
        st.write("Each model reads every image once (its features are then cached on disk), then every metric "
                 "scores the features; then every model is re-ranked on subsets of the images to see which are tied.")
        progress = ExtractionProgress(ids, status)
        common = {"metrics": metrics, "intervals": IntervalSettings(mode=mode, repeats=repeats), "device": device,
                  "store": FeatureStore(), "progress": progress, "interval_progress": IntervalProgress(repeats),
                  "engine": engine, "executor": executor}
        if anytime:
            st.button("Stop and keep the provisional ranking", key="rank_stop", icon=":material/stop_circle:",
                      help="The ranking shown above stays (and can be explored and exported); ranking again later "
                           "extracts only the images not read yet.")
            slices = AnytimeBoard(board, progress, spec, dataset.fingerprint)
            result = rank_anytime(dataset, ids, on_slice=slices, **common)
            board.empty()
        else:
            result = rank_run(dataset, ids, **common)
        ranking = result.ranking
        failed = f", {len(ranking.errors)} failed" if ranking.errors else ""
        status.update(label=f"Ranked {shared.count(len(ranking.models), 'model')} in {duration(result.seconds)}"
                            f"{failed}", state="complete" if ranking.models else "error", expanded=False)
    return shared.RunResult(result, spec, dataset.fingerprint)


class AnytimeBoard:
    """``on_slice`` of an anytime ranking on the page: each provisional run is kept as the session's result (so a stop
    keeps it) and drawn in ``board``, labelled with the images it rests on and how far such rankings were from the
    final one in our measurements."""

    def __init__(self, board, progress: ExtractionProgress, spec, fingerprint: str):
        self.board, self.progress, self.spec, self.fingerprint = board, progress, spec, fingerprint

    def __call__(self, provisional) -> None:
        from transfer_core.data.base import dataset_part
        from transfer_core.presentation.views import ranking_figure

        part = None if provisional.final else provisional.indices
        fingerprint = self.fingerprint if part is None else dataset_part(shared.load_spec(self.spec), part).fingerprint
        st.session_state[shared.RUN] = shared.RunResult(provisional.run, self.spec, fingerprint, part)
        share = provisional.images / provisional.total
        self.progress.begin(f"Refining beyond {share:.0%} of the images: " if part is not None else "")
        if part is None or not provisional.run.ranking.models:
            return
        with self.board.container(border=True):
            st.markdown(f"**Provisional ranking** on {provisional.images} of {provisional.total} images "
                        f"({share:.0%}), after {duration(provisional.seconds)}; it is refined as more images are read.")
            caveat = agreement_sentence(share)
            if caveat:
                st.caption(caveat)
            if provisional.run.verdict is not None:
                st.success(provisional.run.verdict.text, icon=":material/hourglass_top:")
            st.plotly_chart(ranking_figure(provisional.run.ranking, intervals=provisional.run.consensus_intervals()),
                            key=f"rank_provisional_chart_{provisional.images}", width="stretch")


@st.fragment
def show_results(run: shared.RunResult) -> None:
    from transfer_core.data.checks import dataset_warnings
    from transfer_core.presentation.report import ranking_table
    from transfer_core.presentation.views import ranking_figure

    ranking = run.ranking
    st.header("Result")
    if run.provisional:
        size = ranking.dataset.get("part_of")
        st.warning(f"Provisional: this ranking rests on {ranking.dataset['size']} of the {size} images (the run was "
                   "stopped early). Press the Rank button to finish it: the images already read are not read again. "
                   + agreement_sentence(ranking.dataset["size"] / size), icon=":material/hourglass_top:")
    for model, message in ranking.errors.items():
        st.error(f"**{model}** could not be ranked and was left out (the other models were ranked): {message}")
    if not ranking.models:
        st.error("No model could be ranked. Check the messages above, pick other models on the Models page, "
                 "and rank again.")
        return
    if run.verdict is not None:
        st.success(run.verdict.text, icon=":material/emoji_events:")
    for note in run.notes:
        st.caption(note)

    choices = [CONSENSUS, *ranking.metrics]
    shown = st.selectbox("Bar chart of", choices, key="rank_chart_metric",
                         format_func=lambda name: "consensus rank (all metrics)" if name == CONSENSUS
                         else f"{name} score")
    whiskers = run.result.consensus_intervals() if shown == CONSENSUS else None
    st.plotly_chart(ranking_figure(ranking, shown, intervals=whiskers), key="rank_chart", width="stretch")
    if shown == CONSENSUS:
        st.caption("Grey bars are random-init baselines." + (" Whiskers: the rank intervals behind the verdict."
                                                             if whiskers else ""))
    else:
        st.caption(f"{shown}: {get_metric(shown).meaning}")

    st.dataframe(ranking_table(ranking, run.intervals), hide_index=True, key="rank_table",
                 column_config={name: st.column_config.NumberColumn(format="%.4f") for name in ranking.metrics})
    hits = sum(bool(row.cache_hit) for row in ranking.models)
    st.caption(f"This run took {duration(run.seconds)}; {hits} of {len(ranking.models)} models' features came from "
               "the feature store. Ranking the same dataset and models again reads every model's features from the "
               "store and takes seconds.")
    dataset = shared.run_dataset(run)
    sizes = {row.model: row.feature_dim for row in ranking.models}
    for warning in dataset_warnings(dataset.labels, sizes):
        st.warning(warning)
    warned = {model: messages for model, messages in ranking.warnings.items() if messages}
    if warned:
        with st.expander(f"Metric warnings for {shared.count(len(warned), 'model')}"):
            for model, messages in warned.items():
                st.markdown(f"**{model}**\n" + "\n".join(f"* {message}" for message in messages))
    if dataset.labels is not None and len(ranking.models) > 1:
        ensemble_section(run)
    left, right = st.columns(2)
    left.page_link(shared.PAGE_EXPLORE, label="Explore why: projections, spectra, agreement",
                   icon=":material/scatter_plot:")
    right.page_link(shared.PAGE_EXPORT, label="Export the ranking and a report", icon=":material/download:")


ENSEMBLE = "rank_ensemble"


def ensemble_section(run) -> None:
    """SFDA's greedy forward selection of models to ensemble, computed on request from the cached features."""
    with st.expander("Which models to ensemble? (SFDA greedy selection)"):
        st.caption("Starting from the best single model by SFDA, add the model whose features, joined with the ones "
                   "already chosen, raise the SFDA score most; stop when nothing raises it (Shao et al., ECCV'22). "
                   f"Features are compared after a common {ENSEMBLE_PCA_DIM}-dimensional PCA so that joined features "
                   "do not saturate.")
        if st.button("Suggest an ensemble", key="rank_ensemble_button"):
            with st.spinner("Scoring candidate sets…"):
                st.session_state[ENSEMBLE] = suggest_ensemble(run.ranking, shared.run_dataset(run).labels,
                                                              lambda model: shared.run_features(run, model)[0])
        choice = st.session_state.get(ENSEMBLE)
        if choice is not None:
            steps = " → ".join(f"{shared.short_name(m)} (SFDA {score:.3f})" for m, score in
                               zip(choice.models, choice.scores))
            st.markdown(f"**Suggested ensemble:** {steps}")


st.title("Rank")
dataset = shared.current_dataset()
spec = shared.dataset_spec()
model_ids = shared.current_model_ids()
classes = f", {len(dataset.classes)} classes" if dataset.labels is not None else ", regression targets"
st.markdown(f"**{dataset.name}** ({dataset.size} images{classes}) against **{shared.count(len(model_ids), 'model')}**.")
links = st.columns([1, 1, 2])
links[0].page_link(shared.PAGE_DATASET, label="Change the dataset", icon=":material/photo_library:")
links[1].page_link(shared.PAGE_MODELS, label="Change the models", icon=":material/deployed_code:")

with st.form("rank_form"):
    metrics = st.multiselect("Metrics", metric_names(), default=list(shared.current_metrics()), key=shared.METRICS,
                             persist_state="session", help="The consensus rank is the mean of the per-metric ranks.")
    left, right = st.columns([3, 1])
    mode = left.radio("Rank intervals (which models are statistically tied?)", INTERVAL_MODES,
                      format_func=INTERVAL_LABELS.get, key="rank_interval_mode", persist_state="session")
    repeats = right.number_input("Subsets", min_value=5, max_value=100, value=DEFAULT_INTERVAL_REPEATS, step=5,
                                 key="rank_interval_repeats", persist_state="session",
                                 help=f"Random {INTERVAL_FRACTION:.0%} subsets of the images to re-rank on.")
    device = right.selectbox("Device", ["auto", "cpu", "cuda"], key="rank_device", persist_state="session",
                             help="auto = the GPU when there is one.")
    anytime = left.toggle("Show a provisional ranking early", value=True, key="rank_anytime", persist_state="session",
                          help=f"Rank on a first {ANYTIME_FRACTIONS[0]:.0%} of the images, then refine on more until "
                               "all are ranked; stop at any point and keep what is there.")
    engine = right.selectbox("Engine", ENGINES, format_func=ENGINE_LABELS.get, key="rank_engine",
                             persist_state="session",
                             help="What computes the features. auto = ONNX Runtime on a CPU (several times faster than "
                                  "torch there; each model is exported once and checked against torch on your "
                                  "images first, falling back to torch if they disagree) and torch on a GPU.")
    ray_address = st.text_input("Ray cluster (optional)", key="rank_ray_address", persist_state="session",
                                placeholder="empty: this machine; or HOST:PORT, or auto",
                                help="Send the feature extraction to a running Ray cluster: one task per model on its "
                                     "workers, the features come back into this machine's store. Its nodes must see "
                                     "the dataset's files at the same path (README, 'On a cluster').").strip()
    submitted = st.form_submit_button(f"Rank {shared.count(len(model_ids), 'model')}", type="primary",
                                      key="rank_button", disabled=not model_ids)
st.caption("On a CPU the first run is the slow one: every model reads every image once (the slower VGG-class "
           "checkpoints are opt-in on the Models page). " + cold_cost_sentence() + " The progress bars show an ETA "
           "from this machine's measured speed. Features are cached on disk, so running the same choices again, or on "
           "more images, reads only what is new.")
with st.expander("What each metric measures", expanded=not submitted and shared.current_run() is None):
    pooled = pool_metric_names()
    st.dataframe([{"metric": name, "what it tells you (higher is better)": get_metric(name).meaning,
                   "scored": "against the other models" if name in pooled else "on its own",
                   "paper": get_metric(name).citation} for name in metric_names()], hide_index=True,
                 key="rank_metric_table")
    st.caption(f"{' and '.join(name.upper() for name in pooled)} compare each model with the others you picked: add or "
               "remove a model and the scores move (with a single model they give no score).")

if submitted:
    if not metrics:
        st.error("Choose at least one metric.")
    else:
        st.session_state.pop(ENSEMBLE, None)
        try:
            st.session_state[shared.RUN] = run_ranking(dataset, spec, model_ids, metrics, mode, int(repeats), device,
                                                          engine, anytime, ray_address)
            st.rerun()  # so the sidebar and the links show the new result
        except TransferScoutError as error:  # e.g. no Ray cluster at the address
            st.error(f"The ranking could not run: {error}")

run = shared.current_run()
if run is not None:
    show_results(run)
elif not model_ids:
    st.warning("No model is selected: choose some on the Models page.")
else:
    st.info(f"Press **Rank {shared.count(len(model_ids), 'model')}** to rank them. Nothing else needs choosing: the "
            "defaults are the embedded dataset, the offline zoo and a sensible metric set.")
