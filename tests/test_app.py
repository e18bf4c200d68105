"""The Streamlit app through ``streamlit.testing.v1.AppTest``: every page renders, one click ranks the defaults, and
the Explore figures hold the expected traces.

A tiny default keeps it quick: 24 demo images and three fast models (the 28-px MNIST CNN, its random-init twin and
the 160-px dog-breed MobileNetV2, so the metric-agreement heatmap has the three models it needs).
"""

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import app_support as shared
from data_helpers import write_image

APP = str(Path(__file__).resolve().parent.parent / "app.py")
MODELS = ["zoo:cnn-mnist", "zoo:cnn-mnist-random", "zoo:mobilenetv2-dogbreeds"]
TINY_DEFAULTS = {"TRANSFER_SCOUT_DEMO_LIMIT": "24", "TRANSFER_SCOUT_DEFAULT_MODELS": ",".join(MODELS)}
TIMEOUT_S = 120
PAGES = [shared.PAGE_DATASET, shared.PAGE_MODELS, shared.PAGE_RANK, shared.PAGE_EXPLORE, shared.PAGE_EXPORT]


@pytest.fixture(scope="module")
def tiny_defaults():
    with pytest.MonkeyPatch.context() as patch:
        for name, value in TINY_DEFAULTS.items():
            patch.setenv(name, value)
        yield


def fresh_app(tiny_defaults) -> AppTest:
    return AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()


def figures(app: AppTest) -> list[dict]:
    """The Plotly figure specs the page sent to the browser."""
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def values(data) -> np.ndarray:
    """A figure array as numpy: plain JSON lists, or Plotly's base64 typed arrays ({"dtype", "bdata", "shape"})."""
    if isinstance(data, dict):
        flat = np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"]))
        shape = data.get("shape")
        return flat.reshape([int(size) for size in str(shape).split(",")]) if shape else flat
    return np.asarray(data)


def trace_types(figure: dict) -> list[str]:
    return [trace.get("type", "scatter") for trace in figure["data"]]


@pytest.fixture(scope="module")
def ranked(tiny_defaults) -> AppTest:
    """A session that pressed the rank button once on the defaults."""
    app = fresh_app(tiny_defaults)
    app.button(key="rank_button").click().run()
    return app


def test_every_page_renders_before_anything_is_ranked(tiny_defaults):
    app = fresh_app(tiny_defaults)
    assert not app.exception
    for page in PAGES:
        app.switch_page(page).run()
        assert not app.exception, page
        assert not app.error, (page, [error.value for error in app.error])
    app.switch_page(shared.PAGE_EXPLORE).run()
    assert "Nothing ranked yet" in app.info[0].value


def test_the_app_opens_on_rank_with_the_demo_and_default_models_chosen(tiny_defaults):
    app = fresh_app(tiny_defaults)
    assert app.title[0].value == "Rank"
    assert "Textile defects** (24 images, 3 classes) against **3 models" in app.markdown[0].value
    assert app.button(key="rank_button").label == "Rank 3 models"
    assert app.multiselect(key=shared.METRICS).value == ["logme", "sfda", "gbc", "hscore_shrinkage", "knn", "disco",
                                                         "leep", "nce"]


def test_the_engine_choice_reaches_the_run_and_the_table(tiny_defaults, tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFER_SCOUT_CACHE", str(tmp_path / "cache"))  # a fresh store: every model extracts
    app = fresh_app(tiny_defaults)
    app.selectbox(key="rank_engine").set_value("torch")
    app.radio(key="rank_interval_mode").set_value("off")
    app.button(key="rank_button").click().run()
    assert not app.exception
    rows = app.session_state[shared.RUN].ranking.models
    assert [(row.engine, row.cache_hit) for row in rows] == [("torch", False)] * len(MODELS)
    table = next(frame.value for frame in app.dataframe if "model" in frame.value.columns)
    assert list(table["engine"]) == ["torch"] * len(MODELS)


def test_one_click_ranks_the_defaults_with_chart_table_and_verdict(ranked):
    assert not ranked.exception
    run = ranked.session_state[shared.RUN]
    assert sorted(run.ranking.model_ids) == sorted(MODELS)
    assert run.ranking.dataset["size"] == 24 and not run.ranking.errors
    consensus = [row.consensus_rank for row in run.ranking.models]
    assert consensus == sorted(consensus)
    assert run.intervals.metrics == run.ranking.metrics  # ties judged on the ranking's own metrics, said on the page
    assert any("They use every metric of the ranking." in caption.value for caption in ranked.caption)
    assert ranked.success[0].value == run.verdict.text and "is the best bet" in run.verdict.text
    chart = figures(ranked)[0]
    assert trace_types(chart) == ["bar", "bar"]  # pretrained, random-init baseline
    shown = {name for trace in chart["data"] for name in trace["y"]}
    assert shown == set(MODELS)
    table = next(frame.value for frame in ranked.dataframe if "model" in frame.value.columns)
    assert list(table["model"]) == run.ranking.model_ids
    assert list(table["engine"]) == [row.engine for row in run.ranking.models]
    assert all(row.engine == "onnxruntime" for row in run.ranking.models if not row.cache_hit)  # auto on a CPU


def test_a_regression_dataset_gets_rank_intervals_and_a_verdict(tiny_defaults, tmp_path):
    csv_path = tmp_path / "ages.csv"
    rows = "".join(f"{write_image(tmp_path / f'{k}.png', seed=k)},{k}\n" for k in range(12))
    csv_path.write_text("path,age\n" + rows)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRANSFER_SCOUT_DEFAULT_MODELS", "zoo:cnn-mnist,zoo:cnn-mnist-random")
        app = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
        app.session_state[shared.DATASET_SPEC] = shared.DatasetSpec(str(csv_path), None, "ages")
        app.run()
        app.button(key="rank_button").click().run()
    assert not app.exception and not app.error
    run = app.session_state[shared.RUN]
    assert run.ranking.dataset["task"] == "regression" and run.ranking.metrics == ["logme", "disco"]
    assert run.intervals.metrics == ["logme", "disco"]  # no cheap metric supports regression: all chosen ones
    assert [len(subset) for subset in run.intervals.scores.subsets] == [10] * 20  # round(0.8 · 12) of all images
    assert app.success[0].value == run.verdict.text and "is the best bet" in run.verdict.text
    assert run.verdict.tied_with is not None  # ties were judged
    notes = [caption.value for caption in app.caption]
    assert any(note.startswith("Ties: every model was re-ranked on 20 random 80% subsets of the images (seed 0)")
               and note.endswith("They use every metric of the ranking.") for note in notes)
    assert not any("class labels" in note for note in notes)


def test_the_rank_command_gives_the_verdict_and_intervals_of_the_rank_page(ranked, tmp_path):
    from transfer_core.cli import main

    run = ranked.session_state[shared.RUN]
    argv = ["rank", "--dataset", "demo", "--limit", TINY_DEFAULTS["TRANSFER_SCOUT_DEMO_LIMIT"], "--models",
            ",".join(MODELS), "--metrics", ",".join(run.ranking.metrics), "--out", str(tmp_path)]
    assert main(argv) == 0
    payload = json.loads((tmp_path / "ranking.json").read_text())
    assert payload["verdict"]["text"] == run.verdict.text and payload["verdict"]["tied_with"] == run.verdict.tied_with
    assert payload["notes"] == run.notes
    assert payload["intervals"]["models"] == json.loads(json.dumps(run.intervals.summary()))
    assert payload["dataset"] == run.ranking.dataset  # with the limit and seed that reload the same images


def test_the_faster_interval_mode_says_which_metrics_judged_the_ties(tiny_defaults):
    app = fresh_app(tiny_defaults)
    app.radio(key="rank_interval_mode").set_value("cheap")
    app.button(key="rank_button").click().run()
    assert not app.exception
    run = app.session_state[shared.RUN]
    assert run.intervals.metrics == ["knn", "leep", "nce"] and len(run.ranking.metrics) == 8
    assert any("they use only knn, leep, nce, not all 8 metrics of the ranking" in caption.value
               for caption in app.caption)


def test_choices_survive_switching_pages(tiny_defaults):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRANSFER_SCOUT_DEFAULT_MODELS", "zoo:cnn-mnist,zoo:cnn-mnist-random")
        app = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
        app.multiselect(key=shared.METRICS).unselect("gbc")  # form widgets: committed by the rank button
        app.radio(key="rank_interval_mode").set_value("off")
        app.button(key="rank_button").click().run()
        app.switch_page(shared.PAGE_MODELS).run()
        app.multiselect(key=shared.ZOO_SELECTION).unselect("zoo:cnn-mnist-random").run()
        app.switch_page(shared.PAGE_RANK).run()
    assert not app.exception
    assert app.session_state[shared.RUN].ranking.metrics == ["logme", "sfda", "hscore_shrinkage", "knn", "disco",
                                                               "leep", "nce"]
    assert "gbc" not in app.multiselect(key=shared.METRICS).value
    assert app.radio(key="rank_interval_mode").value == "off"
    assert app.button(key="rank_button").label == "Rank 1 model"
    assert any("Rank intervals were switched off" in caption.value for caption in app.caption)
    assert app.session_state[shared.RUN].intervals is None


def test_a_model_that_fails_is_reported_and_the_others_are_ranked(tiny_defaults):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRANSFER_SCOUT_DEFAULT_MODELS", "zoo:cnn-mnist,zoo:cnn-mnist-random,zoo:no-such-model")
        patch.setenv("TRANSFER_SCOUT_DEFAULT_METRICS", "knn,logme")
        app = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
        app.button(key="rank_button").click().run()
    assert not app.exception
    assert sorted(app.session_state[shared.RUN].ranking.model_ids) == ["zoo:cnn-mnist", "zoo:cnn-mnist-random"]
    assert any("zoo:no-such-model" in error.value and "could not be ranked" in error.value for error in app.error)
    assert "is the best bet" in app.success[0].value


def test_a_bad_dataset_path_is_an_error_and_the_dataset_stays(tiny_defaults):
    app = fresh_app(tiny_defaults)
    app.switch_page(shared.PAGE_DATASET).run()
    app.button_group(key="dataset_source").set_value("path").run()
    app.text_input(key="dataset_path").input("/no/such/folder")  # inside a form: sent with the submit click
    app.button(key="dataset_path_use").click().run()
    assert not app.exception
    assert any("Could not use /no/such/folder" in error.value for error in app.error)
    assert app.session_state[shared.DATASET_SPEC].dataset_id == "demo"


def test_choosing_a_bundled_dataset_switches_to_it_with_counts_and_previews(tiny_defaults):
    app = fresh_app(tiny_defaults)
    app.switch_page(shared.PAGE_DATASET).run()
    app.selectbox(key="dataset_bundled_id").select("demo:digits")
    app.number_input(key="dataset_bundled_limit").set_value(40)
    app.button(key="dataset_bundled_use").click().run()
    assert not app.exception and not app.error
    assert app.session_state[shared.DATASET_SPEC] == shared.DatasetSpec("demo:digits", 40, "demo:digits")
    assert app.subheader[0].value == "In use: scikit-learn digits"
    counts = next(frame.value for frame in app.dataframe if "images" in frame.value.columns)
    assert counts["images"].sum() == 40 and len(counts) == 10
    assert len(app.get("image")) == 10  # one preview row per class


def test_a_16_bit_dataset_says_once_how_its_intensities_are_mapped(tiny_defaults, tmp_path):
    for label, level in (("dim", 1000), ("bright", 3000)):
        (tmp_path / label).mkdir()
        for index in range(2):
            pixels = np.full((8, 8), level + 100 * index, dtype=np.uint16)
            Image.fromarray(pixels).save(tmp_path / label / f"{index}.png")
    app = fresh_app(tiny_defaults)
    app.switch_page(shared.PAGE_DATASET).run()
    app.button_group(key="dataset_source").set_value("path").run()
    app.text_input(key="dataset_path").input(str(tmp_path))
    app.button(key="dataset_path_use").click().run()
    assert not app.exception and not app.error
    notes = [info.value for info in app.info if "16-bit" in info.value]
    assert len(notes) == 1 and notes[0].startswith("4 images are 16-bit: their intensities are mapped linearly from "
                                                   "[1000, 3100]")


def png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (shade, 255 - shade, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_uploaded_folder_becomes_the_dataset(tiny_defaults):
    app = fresh_app(tiny_defaults)
    app.switch_page(shared.PAGE_DATASET).run()
    app.button_group(key="dataset_source").set_value("folder").run()
    app.file_uploader(key="dataset_folder").set_value(
        [(f"toys/{name}/{index}.png", png(40 * index + shade), "image/png")
         for name, shade in (("ball", 0), ("kite", 120)) for index in range(3)])
    app.button(key="dataset_folder_use").click().run()
    assert not app.exception and not app.error
    spec = app.session_state[shared.DATASET_SPEC]
    assert spec.label == "folder toys" and spec.dataset_id.endswith("toys.zip")
    counts = next(frame.value for frame in app.dataframe if "images" in frame.value.columns)
    assert dict(zip(counts["class"], counts["images"])) == {"ball": 3, "kite": 3}


def test_a_broken_zip_upload_is_an_error_and_the_dataset_stays(tiny_defaults):
    app = fresh_app(tiny_defaults)
    app.switch_page(shared.PAGE_DATASET).run()
    app.button_group(key="dataset_source").set_value("upload").run()
    app.file_uploader(key="dataset_upload").upload("broken.zip", b"this is not a zip file", "application/zip")
    app.button(key="dataset_upload_use").click().run()
    assert not app.exception
    assert any(error.value.startswith("Could not use broken.zip: could not extract") for error in app.error)
    assert app.session_state[shared.DATASET_SPEC].dataset_id == "demo"


def test_models_page_selects_and_reports_a_broken_checkpoint(tiny_defaults):
    app = fresh_app(tiny_defaults)
    app.switch_page(shared.PAGE_MODELS).run()
    assert app.multiselect(key=shared.ZOO_SELECTION).value == MODELS
    app.button(key="models_select_pretrained").click().run()
    chosen = app.multiselect(key=shared.ZOO_SELECTION).value
    assert chosen and not any(model.endswith("-random") for model in chosen) and "zoo:cnn-mnist" in chosen
    app.file_uploader(key="models_upload").upload("weights.safetensors", b"not really weights")
    app.text_input(key="models_upload_arch").input("resnet18")
    app.button(key="models_upload_add").click().run()
    assert not app.exception
    assert any(error.value.startswith("The checkpoint could not be used") for error in app.error)
    assert shared.UPLOADED_MODELS not in app.session_state  # nothing added to the selection


def test_the_one_click_run_ends_on_the_whole_set_and_a_stopped_one_keeps_its_provisional_ranking(ranked):
    """The default ranks anytime; a run stopped after its first slice keeps that ranking, says so, and the other
    pages work on the slice it rests on."""
    from transfer_core.data.base import dataset_part
    from transfer_core.ranking.anytime import rank_anytime
    from transfer_core.ranking.run import IntervalSettings

    assert not ranked.session_state[shared.RUN].provisional and "part_of" not in ranked.session_state[
        shared.RUN].ranking.dataset
    spec = ranked.session_state[shared.RUN].spec
    dataset = shared.load_spec(spec)
    slices = []
    rank_anytime(dataset, MODELS, metrics=["knn", "logme"], intervals=IntervalSettings(repeats=5),
                 on_slice=slices.append, fractions=(0.5, 1.0), min_images=1)
    first = slices[0]
    app = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    app.session_state[shared.RUN] = shared.RunResult(first.run, spec, dataset_part(dataset, first.indices).fingerprint,
                                                     first.indices)
    app.run()
    assert not app.exception
    assert any(f"this ranking rests on {first.images} of the 24 images" in warning.value for warning in app.warning)
    app.switch_page(shared.PAGE_EXPLORE).run()
    assert not app.exception
    (projection,) = figures(app)
    assert sum(len(values(trace["x"])) for trace in projection["data"]) == first.images


def test_explore_fisher_projection_in_2d_and_3d(ranked):
    ranked.switch_page(shared.PAGE_EXPLORE).run()
    assert not ranked.exception
    (projection,) = figures(ranked)
    assert set(trace_types(projection)) == {"scattergl"}
    assert sorted(trace["name"] for trace in projection["data"]) == ["global defect", "local defect", "nominal"]
    assert sum(len(values(trace["x"])) for trace in projection["data"]) == 24
    ranked.radio(key="explore_fisher_dims").set_value(3).run()
    (projection,) = figures(ranked)
    assert set(trace_types(projection)) == {"scatter3d"}


@pytest.mark.parametrize("tab, expected", [
    ("Two models side by side", {"scattergl"}),
    ("Spectrum", {"scatter", "bar"}),
    ("Metric agreement", {"heatmap"}),
])
def test_explore_tabs_draw_their_figures(ranked, tab, expected):
    ranked.switch_page(shared.PAGE_EXPLORE).run()
    ranked.session_state["explore_tab"] = tab
    ranked.run()
    assert not ranked.exception
    (figure,) = figures(ranked)
    assert set(trace_types(figure)) == expected
    if tab == "Two models side by side":
        assert len(figure["data"]) == 6  # three classes in each of two panels
    if tab == "Metric agreement":
        taus = values(figure["data"][0]["z"])
        metrics = ranked.session_state[shared.RUN].ranking.metrics
        assert taus.shape == (len(metrics), len(metrics)) and np.allclose(np.diag(taus), 1.0)


def test_export_offers_the_ranking_report_and_figures(ranked):
    ranked.switch_page(shared.PAGE_EXPORT).run()
    assert not ranked.exception
    keys = {button.key for button in ranked.get("download_button")}
    assert {"export_csv", "export_json", "export_report", "export_figure_html"} <= keys
    assert ranked.selectbox(key="export_figure").options[:2] == ["Model ranking", "Metric agreement"]


def test_ensemble_suggestion_uses_the_ranked_models(ranked):
    ranked.switch_page(shared.PAGE_RANK).run()
    ranked.button(key="rank_ensemble_button").click().run()
    assert not ranked.exception
    suggestion = [m.value for m in ranked.markdown if m.value.startswith("**Suggested ensemble:**")]
    assert len(suggestion) == 1
    choice = ranked.session_state["rank_ensemble"]
    assert 1 <= len(choice.models) <= 3 and set(choice.models) <= set(MODELS)
    assert all(later > earlier for earlier, later in zip(choice.scores, choice.scores[1:]))  # added only if it helps
    # the same selection as the core computes from the stored features of the ranked models
    from transfer_core.cache.store import FeatureStore
    from transfer_core.data import load_dataset
    from transfer_core.features import extract_by_id
    from transfer_core.ranking.run import suggest_ensemble

    run = ranked.session_state[shared.RUN]
    dataset = load_dataset(run.spec.dataset_id, limit=run.spec.limit, seed=run.spec.seed)
    expected = suggest_ensemble(run.ranking, dataset.labels,
                                lambda model: extract_by_id(model, dataset, store=FeatureStore())[0].features)
    assert choice.models == expected.models and choice.scores == pytest.approx(expected.scores, abs=1e-12)
