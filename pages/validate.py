"""Validate page: check the last ranking against ground truth on the user's own data (transfer_core.validation)."""

import streamlit as st

import app_support as shared

VALIDATION = "validation_result"
KINDS = {"probe": "Linear probe (minutes on a CPU)", "finetune": "Fine-tuning (slow on a CPU: hours for the zoo)",
         "csv": "My own results (CSV with columns model,accuracy)"}

st.title("Validate")
run = shared.require_run()
rows = run.ranking.models
st.markdown(f"Did the metrics predict what training on **{run.spec.label}** actually gives? Train each of the "
            f"{shared.count(len(rows), 'ranked model')} and compare the result with each metric's ranking.")


def ranking_dict() -> dict:
    """The ranking as ``validate`` reads it, with the subsample that reproduces the ranked images."""
    ranking = run.ranking.to_dict()
    ranking["dataset"] = {**ranking["dataset"], "limit": run.spec.limit, "seed": run.spec.seed}
    return ranking


def protocol_form():
    from transfer_core.groundtruth import FineTuneProtocol

    defaults = FineTuneProtocol()
    left, middle, right = st.columns(3)
    trainable = left.selectbox("Train", ["last_blocks", "all", "head"], key="validate_trainable",
                               format_func={"last_blocks": "the last blocks + a new head", "all": "the whole network",
                                            "head": "only a new head"}.get)
    epochs = middle.number_input("Epochs", 1, 100, defaults.epochs, key="validate_epochs")
    max_train = right.number_input("Training images at most", 20, 100_000, defaults.max_train_images,
                                   key="validate_max_train")
    rates = st.multiselect("Learning rates to try (the best on a held-out split is kept)", [1e-1, 1e-2, 1e-3, 1e-4],
                           default=list(defaults.learning_rates), key="validate_lrs")
    return trainable, int(epochs), int(max_train), tuple(rates)


with st.form("validate_form"):
    kind = st.radio("Ground truth", list(KINDS), format_func=KINDS.get, key="validate_kind")
    upload = st.file_uploader("Results CSV (for 'My own results')", type=["csv"], key="validate_csv")
    with st.expander("Fine-tuning protocol"):
        trainable, epochs, max_train, rates = protocol_form()
    stability = st.slider("Resampled setups for the stability of τ (0 = skip)", 0, 50, 10, key="validate_stability")
    submitted = st.form_submit_button("Validate the ranking", type="primary", key="validate_button")

if submitted:
    from transfer_core.data import DatasetError
    from transfer_core.groundtruth import FineTuneProtocol, GroundTruthError
    from transfer_core.uploads import save_upload
    from transfer_core.validation import validate

    source = kind
    try:
        if kind == "csv":
            if upload is None:
                raise GroundTruthError("choose a CSV file with columns model,accuracy first")
            source = str(save_upload(upload.name, upload.getvalue()))
        protocol = (FineTuneProtocol(trainable=trainable, epochs=epochs, max_train_images=max_train,
                                     learning_rates=rates) if kind == "finetune" else None)
        with st.status("Computing the ground truth…", expanded=True) as status:
            bar = st.progress(0.0, text="starting")

            def report(index, total, message):
                bar.progress(min(index / max(total, 1), 1.0), text=message)

            result = validate(ranking_dict(), source, protocol=protocol, stability=stability, progress=report)
            status.update(label="Ground truth ready", state="complete")
        st.session_state[VALIDATION] = result
    except (GroundTruthError, DatasetError, ValueError) as error:
        st.error(f"Validation failed: {error}")

result = st.session_state.get(VALIDATION)
if result is not None:
    from transfer_core.validation import evaluation_csv
    from transfer_core.views import metric_scatter_figure, stability_figure

    st.subheader(f"Each metric against the {result.kind} results")
    st.caption("Weighted Kendall τ: +1 means the metric ordered the models exactly as training did, weighting the "
               "top of the list most; 0 means no better than chance; −1 means exactly backwards. rel@k: the best "
               "accuracy among the metric's top k models divided by the best accuracy overall.")
    st.dataframe([{**row, "reason": row["reason"] or ""} for row in result.evaluation], hide_index=True,
                 key="validate_table")
    if result.missing:
        st.warning(f"No ground truth for {', '.join(result.missing)}: left out of the evaluation.")
    metric = st.selectbox("Score against ground truth for", [row["metric"] for row in result.evaluation],
                          key="validate_scatter_metric")
    models = [row for row in rows if row["model"] in result.accuracies]
    try:
        st.plotly_chart(metric_scatter_figure([row.get(metric) for row in models],
                                              [result.accuracies[row["model"]] for row in models],
                                              [row["model"] for row in models], metric), key="validate_scatter")
    except ValueError as error:
        st.info(str(error))
    if result.stability:
        try:
            st.plotly_chart(stability_figure(result.stability), key="validate_stability_chart")
        except ValueError as error:
            st.info(str(error))
        st.caption("Each setup re-scores the models on an 80 % subset of your images and evaluates the metric on a "
                   "random sub-pool of the models (Agostinelli et al., ECCV'22). Wide, overlapping intervals mean "
                   "that a conclusion about 'the best metric' would flip under a small change of the setup.")
    left, right = st.columns(2)
    left.download_button("Evaluation (CSV)", evaluation_csv(result), "evaluation.csv", key="validate_dl_eval")
    right.download_button("Ground truth (CSV)", "model,accuracy\n" + "".join(
        f"{m},{a}\n" for m, a in result.accuracies.items()), "groundtruth.csv", key="validate_dl_truth")
