"""The Validate page with fine-tuning as ground truth (AppTest, the tiny ranking of test_app_validate): the
collapsed-model choice, and fine-tune beside the linear probe with the models the recipe failed on named."""

import math

import pytest

import app_support as shared
from tests.test_app import fresh_app, tiny_defaults  # noqa: F401  (fixture)
from transfer_core.groundtruth.comparison import NO_PROBE, OK


@pytest.fixture(scope="module")
def finetuned_app(tiny_defaults):  # noqa: F811
    app = fresh_app(tiny_defaults)
    app.button(key="rank_button").click().run()
    assert not app.exception
    app = app.switch_page(shared.PAGE_VALIDATE).run()
    app.radio(key="validate_kind").set_value("finetune").run()
    app.selectbox(key="validate_trainable").set_value("head")
    app.number_input(key="validate_epochs").set_value(3)
    app.number_input(key="validate_min_steps").set_value(0)
    app.multiselect(key="validate_lrs").set_value([1e-2, 1e-3])
    assert app.checkbox(key="validate_include_collapsed").value is False  # collapsed runs stay out of τ by default
    app.slider(key="validate_stability").set_value(0)
    app.button(key="validate_button").click().run(timeout=600)
    assert not app.exception
    return app


def test_fine_tune_and_probe_are_shown_side_by_side(finetuned_app):
    validation = finetuned_app.session_state["validation_result"].validation
    assert validation.kind == "fine-tune" and not validation.include_collapsed
    assert not set(validation.collapsed) & set(validation.accuracies)
    table = next(frame.value for frame in finetuned_app.dataframe if "probe" in frame.value.columns)
    assert list(table["model"]) == list(validation.finetuned)
    assert list(table["status"]) == [row["status"] for row in validation.comparison()]
    for model, tuned, probe in zip(table["model"], table["finetune"], table["probe"]):
        assert probe == pytest.approx(validation.probes[model])
        assert (math.isnan(tuned) and validation.finetuned[model] is None) or tuned == pytest.approx(
            validation.finetuned[model])
    failed = [model for model, status in zip(table["model"], table["status"]) if status not in (OK, NO_PROBE)]
    errors = [error.value for error in finetuned_app.error]
    assert bool(failed) == any("This training recipe failed on" in error for error in errors)
    assert all(model in errors[0] for model in failed)
    assert "did not collapse" in "\n".join(markdown.value for markdown in finetuned_app.markdown)
