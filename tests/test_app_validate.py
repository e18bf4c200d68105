"""The Validate page through AppTest: ground truth from a linear probe and from a user CSV, on a real tiny ranking."""

import json

import pytest

import app_support as shared
from tests.test_app import MODELS, figures, fresh_app, tiny_defaults  # noqa: F401  (fixture re-used)


@pytest.fixture(scope="module")
def ranked_app(tiny_defaults):  # noqa: F811
    app = fresh_app(tiny_defaults)
    app.button(key="rank_button").click().run()
    assert not app.exception
    return app.switch_page(shared.PAGE_VALIDATE).run()


def test_without_a_ranking_the_page_points_to_rank(tiny_defaults):  # noqa: F811
    app = fresh_app(tiny_defaults).switch_page(shared.PAGE_VALIDATE).run()
    assert not app.exception
    assert any("rank the models first" in info.value for info in app.info)


def test_linear_probe_gives_a_tau_row_per_ranked_metric(ranked_app):
    ranked_app.slider(key="validate_stability").set_value(2)
    ranked_app.button(key="validate_button").click().run()
    assert not ranked_app.exception
    assert any("linear probe" in header.value for header in ranked_app.subheader)
    assert not [error.value for error in ranked_app.error]
    table = ranked_app.dataframe[0].value
    run = ranked_app.session_state[shared.RUN]
    assert list(table["metric"]) == run.ranking.metrics
    assert table["weighted_tau"].between(-1, 1).all()
    specs = figures(ranked_app)
    assert any("ground-truth accuracy" in json.dumps(spec["layout"]["title"]) for spec in specs)
    assert any("How firm" in json.dumps(spec["layout"]["title"]) for spec in specs)


def test_csv_ground_truth_without_a_file_is_a_clear_message(ranked_app):
    ranked_app.radio(key="validate_kind").set_value("csv")
    ranked_app.button(key="validate_button").click().run()
    assert not ranked_app.exception
    assert any("choose a CSV file" in error.value for error in ranked_app.error)
    assert "validation_result" in ranked_app.session_state  # the earlier result stays on the page
