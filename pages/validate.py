"""Validate page: check the last ranking against ground truth on the user's own data
(transfer_core.evidence.validation), and show how firm each metric's agreement is over resampled setups
(transfer_core.evidence.uncertainty; Agostinelli et al.)."""

from dataclasses import dataclass

import streamlit as st

import app_support as shared
from transfer_core.config import INTERVAL_FRACTION, INTERVAL_LEVEL
from transfer_core.evidence.validation import POOLS_PER_SUBSET

RESULT = "validation_result"  # ValidationResult of the last validation in this session
KINDS = {"probe": "Linear probe", "finetune": "Fine-tune", "csv": "My own results (CSV)"}
TRAINABLE = {"last_blocks": "the last blocks + a new head", "all": "the whole network", "head": "only a new head"}
LEARNING_RATES = [1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 1e-4]
TAU_MEANING = ("**Weighted τ** — +1: the metric ordered the models exactly as training did, weighting the top of "
               "the list most; 0: no better than chance; −1: exactly backwards.")


@dataclass
class ValidationResult:
    """A validation (with the resampled τ distributions behind it, when asked for) and the ranking it checked."""

    validation: object  # transfer_core.evidence.validation.Validation
    run: shared.RunResult
    source: str  # where the ground truth came from, in words


def protocol_inputs():
    """The fine-tuning protocol's main knobs (the rest keep :class:`FineTuneProtocol`'s defaults)."""
    from transfer_core.groundtruth import FineTuneProtocol

    defaults = FineTuneProtocol()
    st.warning("Fine-tuning trains every ranked model: minutes per model on a CPU for the small ones, hours for the "
               "whole zoo. A GPU is used when there is one. Results are cached per model, dataset and protocol, so an "
               "interrupted run resumes.", icon=":material/hourglass_top:")
    left, middle, steps_column, right = st.columns(4)
    trainable = left.selectbox("Train", list(TRAINABLE), format_func=TRAINABLE.get, key="validate_trainable")
    epochs = middle.number_input("Epochs", 1, 100, defaults.epochs, key="validate_epochs")
    min_steps = steps_column.number_input("Optimiser steps at least", 0, 100_000, defaults.min_steps,
                                          key="validate_min_steps",
                                          help="A small training set has few batches per epoch: more epochs are run "
                                               "until the run makes this many steps.")
    max_train = right.number_input("Training images at most", 20, 100_000, defaults.max_train_images,
                                   key="validate_max_train")
    rates = st.multiselect("Learning rates to try (the best on a held-out split is kept)", LEARNING_RATES,
                           default=list(defaults.learning_rates), key="validate_lrs")
    st.caption("Every model gets the same recipe: a new head on its features centred and scaled to one size, trained "
               "faster than the network's blocks, a short warm-up, clipped gradients. A run whose loss blows up or "
               "that ends predicting one class for every held-out image is marked collapsed, and the next learning "
               "rate is tried.")
    return dict(trainable=trainable, epochs=int(epochs), min_steps=int(min_steps), max_train_images=int(max_train),
                learning_rates=tuple(rates))


def groundtruth_choice():
    """(what ``validate`` takes, the protocol or None, a phrase for the source, whether collapsed fine-tunings count
    in τ); None while the choice is incomplete or the uploaded file cannot be used."""
    from transfer_core.groundtruth import FineTuneProtocol

    kind = st.radio("Ground truth", list(KINDS), format_func=KINDS.get, horizontal=True, key="validate_kind")
    if kind == "probe":
        st.caption("A cross-validated logistic regression on each model's frozen features (from the feature store): "
                   "cheap, seconds to minutes on a CPU. It measures how linearly separable your classes are in each "
                   "model's frozen features; training the network itself may order the models differently.")
        return "probe", None, "computed on your images", False
    if kind == "finetune":
        knobs = protocol_inputs()
        include = st.checkbox("Count models whose fine-tuning collapsed at every learning rate in τ (with their "
                              "collapsed runs' accuracy)", key="validate_include_collapsed",
                              help="Off by default: a collapsed run says the recipe failed, not how good the model is.")
        if not knobs["learning_rates"]:
            st.info("Choose at least one learning rate.")
            return None
        return "finetune", FineTuneProtocol(**knobs), "computed on your images", include
    return uploaded_csv()


def uploaded_csv():
    """The uploaded ``model,accuracy`` file, checked at once (a broken file is an error message, not a crash)."""
    from transfer_core.groundtruth import load_groundtruth_csv
    from transfer_core.uploads import save_upload

    upload = st.file_uploader("Results CSV: a header `model,accuracy`, then one line per ranked model (model IDs as "
                              "in the ranking, e.g. `zoo:resnet18`)", type=["csv"], key="validate_csv")
    if upload is None:
        st.info("Upload a CSV with your own accuracies to validate against them.")
        return None
    path = None
    try:
        path = save_upload(upload.name, upload.getvalue())
        accuracies = load_groundtruth_csv(path)
    except ValueError as error:  # the message names the saved copy: name the user's file instead
        st.error(f"{upload.name} cannot be used: {str(error).replace(str(path), upload.name)}")
        return None
    ranked = run.ranking.model_ids
    found = [model for model in ranked if model in accuracies]
    st.caption(f"{upload.name}: accuracies for {len(found)} of the {shared.count(len(ranked), 'ranked model')}"
               + (f"; not in the file: {', '.join(sorted(set(ranked) - set(found)))}" if len(found) < len(ranked)
                  else "") + ".")
    return str(path), None, f"from your file {upload.name}", False


def stability_report(status, repeats: int):
    """The stability check's progress callback: a bar with the time left, shown once the re-scoring starts."""
    bar = st.empty()

    def report(done, total, eta):
        if not done:
            status.update(label="Re-scoring the models on resampled subsets…")
            bar.progress(0.0, text=f"Stability: re-scoring on {repeats} subsets…")
            return
        left = ("" if eta is None else f" · about {eta / 60:.0f} min left" if eta >= 90
                else f" · about {eta:.0f} s left")
        bar.progress(done / total, text=f"Stability: {done} of {total} re-scorings{left}")

    return report


def run_validation(choice, repeats: int, ray_address: str = "") -> None:
    """The heavy part, on the button only: ground truth per model (on a Ray cluster when an address is given), the
    evaluation, then the stability check on the cached features."""
    from transfer_core.evidence.validation import validate
    from transfer_core.executors import make_executor
    from transfer_core.executors.ray_executor import validation_mappers

    groundtruth, protocol, source, include_collapsed = choice
    executor = make_executor("ray", address=ray_address) if ray_address else make_executor()
    with executor, st.status("Computing the ground truth…", expanded=True) as status:
        bar = st.progress(0.0, text="starting")

        def report(index, total, message):
            bar.progress(min(index / max(total, 1), 1.0), text=f"Model {min(index + 1, total)} of {total}: {message}"
                         if index < total else "Ground truth ready")
            status.update(label=f"Ground truth: {message}")

        validation = validate(run.ranking, groundtruth, protocol=protocol, stability=repeats,
                              labels=shared.run_dataset(run).labels,
                              features=lambda model: shared.run_features(run, model), progress=report,
                              stability_progress=stability_report(status, repeats),
                              **validation_mappers(executor, groundtruth))
        status.update(label=f"Validated against {validation.kind}", state="complete", expanded=False)
    st.session_state[RESULT] = ValidationResult(validation, run, source)


def protocol_sentence(validation, source: str) -> str:
    """Which ground truth the numbers came from, and how it was made, in one sentence."""
    from transfer_core.groundtruth import FINE_TUNE, LINEAR_PROBE

    first = next(iter(validation.protocols.values()), {})
    if validation.kind == LINEAR_PROBE:
        how = (f"{first.get('method', 'a linear model on frozen features')}, {first.get('outer_folds', '?')}-fold "
               "cross-validated accuracy")
    elif validation.kind == FINE_TUNE:
        how = (f"{TRAINABLE.get(first.get('trainable'), first.get('trainable'))} trained for "
               f"{shared.count(first.get('epochs', 0), 'epoch')} on at most {first.get('max_train_images')} images, "
               "learning rate ∈ "
               f"{{{', '.join(f'{lr:g}' for lr in first.get('learning_rates', []))}}}, the best run that did not "
               "collapse on a held-out split; accuracy on a held-out test split")
    else:
        how = "accuracies you supplied"
    return (f"Ground truth: **{validation.kind}**, {source} ({how}), for "
            f"{shared.count(len(validation.accuracies), 'model')}.")


def evaluation_table(result: ValidationResult) -> list[dict]:
    """The evaluation rows, with the resampled τ median, interval and win share beside them when there are any
    (the note on a missing number last)."""
    spread = {row["metric"]: row for row in result.validation.stability or []}
    rows = []
    for row in result.validation.evaluation:
        numbers = {key: value for key, value in row.items() if key != "reason"}
        if row["metric"] in spread:
            extra = spread[row["metric"]]
            low, high = extra["tau_interval"] or (None, None)
            numbers.update(median_tau=extra["median_tau"], tau_low=low, tau_high=high, win_share=extra["win_share"])
        rows.append({**numbers, "reason": row["reason"] or ""})
    return rows


TABLE_COLUMNS = {
    "metric": st.column_config.TextColumn("Metric", width="medium"),
    "models": st.column_config.NumberColumn("Models"),
    "weighted_tau": st.column_config.NumberColumn("Weighted τ", format="%.3f"),
    "kendall_tau": st.column_config.NumberColumn("Kendall τ-b", format="%.3f"),
    "pearson": st.column_config.NumberColumn("Pearson", format="%.3f"),
    "rel@1": st.column_config.NumberColumn("rel@1", format="%.3f"),
    "rel@3": st.column_config.NumberColumn("rel@3", format="%.3f"),
    "median_tau": st.column_config.NumberColumn("Median τ (resampled)", format="%.3f"),
    "tau_low": st.column_config.NumberColumn(f"τ {INTERVAL_LEVEL:.0%} low", format="%.3f"),
    "tau_high": st.column_config.NumberColumn(f"τ {INTERVAL_LEVEL:.0%} high", format="%.3f"),
    "win_share": st.column_config.ProgressColumn("Best metric in", format="percent", min_value=0.0, max_value=1.0),
    "reason": st.column_config.TextColumn("Note"),
}


COMPARISON_COLUMNS = {
    "model": st.column_config.TextColumn("Model", width="medium"),
    "finetune": st.column_config.NumberColumn("Fine-tuned", format="%.3f"),
    "probe": st.column_config.NumberColumn("Linear probe", format="%.3f"),
    "status": st.column_config.TextColumn("Status"),
    "note": st.column_config.TextColumn("Note", width="large"),
}


def show_comparison(rows: list[dict]) -> None:
    """Fine-tune and linear probe side by side, the models the training recipe failed on named above the table."""
    from transfer_core.groundtruth.comparison import NO_PROBE, OK

    st.subheader("Fine-tune beside the linear probe")
    failed = [row["model"] for row in rows if row["status"] not in (OK, NO_PROBE)]
    if failed:
        st.error(f"This training recipe failed on {', '.join(failed)}: fine-tuning the last blocks should not lose "
                 "what a linear head on the frozen features already reaches. Read their numbers as a failure of the "
                 "recipe, not of the model.", icon=":material/report:")
    st.dataframe(rows, hide_index=True, key="validate_comparison", column_config=COMPARISON_COLUMNS)
    st.caption("Linear probe: a cross-validated logistic regression on the same model's frozen features. A collapsed "
               "model's fine-tuned number is that of its best collapsed run.")


def show_result(result: ValidationResult) -> None:
    from transfer_core.evidence.validation import evaluation_csv, groundtruth_csv
    from transfer_core.presentation.views import metric_scatter_figure, stability_figure

    validation = result.validation
    st.header(f"How well each metric predicted the {validation.kind} results")
    st.markdown(protocol_sentence(validation, result.source))
    st.markdown(TAU_MEANING)
    st.dataframe(evaluation_table(result), hide_index=True, key="validate_table", column_config=TABLE_COLUMNS)
    st.caption("Kendall τ-b: the same without the weighting. Pearson: linear correlation of score and accuracy. "
               "rel@k: the best accuracy among the metric's top k models divided by the best accuracy overall "
               "(1 = the metric's shortlist contains the best model).")
    if validation.missing:
        st.warning(f"No ground truth for {', '.join(validation.missing)}: left out of the evaluation.")
    if validation.collapse_note:
        st.warning(validation.collapse_note, icon=":material/warning:")
    comparison = validation.comparison()
    if comparison:
        show_comparison(comparison)
    with st.expander("Ground truth per model and the full protocol"):
        st.dataframe([{"model": model, "accuracy": accuracy} for model, accuracy in validation.accuracies.items()],
                     hide_index=True, key="validate_truth_table")
        st.json(validation.protocols, expanded=False)

    st.subheader("Score against ground truth")
    metric = st.selectbox("Metric", [row["metric"] for row in validation.evaluation], key="validate_scatter_metric")
    scores = {model: score for model, score in result.run.ranking.scores(metric).items()
              if model in validation.accuracies}
    try:
        st.plotly_chart(metric_scatter_figure(list(scores.values()),
                                              [validation.accuracies[model] for model in scores], list(scores), metric,
                                              title=f"{metric} score vs {validation.kind} accuracy"),
                        key="validate_scatter", width="stretch")
        st.caption("A good metric puts the models on a rising line: higher score, higher accuracy.")
    except ValueError as error:
        st.info(str(error))

    st.subheader("How firm is this?")
    stability = validation.resampled
    if validation.stability_note:
        st.info(validation.stability_note)
    if stability is not None:
        try:
            st.plotly_chart(stability_figure(stability.tau_draws, stability.win_share),
                            key="validate_stability_chart", width="stretch")
        except ValueError as error:
            st.info(str(error))
        subsets = len(set(stability.subset_of_setup.tolist()))
        st.markdown(f"Each point is one of {len(stability.pools)} resampled setups: the models re-scored on "
                    f"{INTERVAL_FRACTION:.0%} of your images (one of {subsets} random subsets) and the metric judged on"
                    " a random sub-pool of the models (Agostinelli et al., ECCV'22). A conclusion about \"the best "
                    "metric\" is only as firm as this spread: where the boxes overlap, a slightly different set of "
                    "images or candidate models would crown another metric.")
    elif not validation.stability_note:
        st.caption("Skipped: set the number of resampled subsets above 0 to see it.")

    left, right = st.columns(2)
    left.download_button("Evaluation (CSV)", evaluation_csv(validation), "evaluation.csv", key="validate_dl_eval",
                         icon=":material/download:")
    right.download_button("Ground truth (CSV)", groundtruth_csv(validation), "groundtruth.csv",
                          key="validate_dl_truth", icon=":material/download:")


st.title("Validate")
run = shared.require_run()
if not run.ranking.models:
    st.error("The last ranking has no ranked model to validate; rank again with other models.")
    st.page_link(shared.PAGE_RANK, label="Go to Rank", icon=":material/leaderboard:")
    st.stop()
st.markdown(f"Did the metrics predict what training on **{run.spec.label}** actually gives? Get a ground truth for "
            f"the {shared.count(len(run.ranking.models), 'ranked model')} and compare it with each metric's ranking.")

choice = groundtruth_choice()
repeats = st.slider("Resampled target subsets for the stability check (each with "
                    f"{POOLS_PER_SUBSET} random model sub-pools; 0 = skip)", 0, 50, 10, key="validate_stability")
ray_address = st.text_input("Ray cluster (optional)", key="validate_ray_address", placeholder="empty: this machine; "
                            "or HOST:PORT, or auto", help="Run each model's linear probe, or each fine-tuning grid "
                            "point, as a task on a running Ray cluster (README, 'On a cluster').").strip()
if st.button("Validate the ranking", type="primary", key="validate_button", disabled=choice is None):
    from transfer_core.errors import TransferScoutError
    from transfer_core.models.errors import ModelLoadError

    try:
        run_validation(choice, repeats, ray_address)
    except (ValueError, ModelLoadError, TransferScoutError) as error:
        st.error(f"Validation failed: {error}")

result = st.session_state.get(RESULT)
if result is not None and result.run is run:
    show_result(result)
elif result is not None:
    st.info("The ranking changed since the last validation: validate again to compare it with ground truth.")
