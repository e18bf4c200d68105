"""The Rank page offers NCTI and ETran, explains in one plain sentence that they compare the picked models, and
ranks with them (the same tiny defaults as tests/test_app.py)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import app_support as shared

APP = str(Path(__file__).resolve().parent.parent / "app.py")
MODELS = ["zoo:cnn-mnist", "zoo:cnn-mnist-random"]
POOL_SENTENCE = ("NCTI and ETRAN compare each model with the others you picked: add or remove a model and the scores "
                 "move")


@pytest.fixture()
def app(monkeypatch):
    monkeypatch.setenv("TRANSFER_SCOUT_DEMO_LIMIT", "24")
    monkeypatch.setenv("TRANSFER_SCOUT_DEFAULT_MODELS", ",".join(MODELS))
    return AppTest.from_file(APP, default_timeout=120).run()


def test_the_metric_table_marks_the_pool_relative_metrics_with_a_plain_sentence(app):
    assert {"ncti", "etran", "ped"} <= set(app.multiselect(key=shared.METRICS).options)
    table = next(frame.value for frame in app.dataframe if "scored" in frame.value.columns)
    scored = dict(zip(table["metric"], table["scored"]))
    assert scored["ncti"] == scored["etran"] == "against the other models" and scored["ped"] == "on its own"
    assert any(POOL_SENTENCE in caption.value for caption in app.caption)


def test_ranking_with_ncti_and_etran_gives_their_columns(app):
    app.multiselect(key=shared.METRICS).set_value(["ncti", "etran", "knn"])
    app.radio(key="rank_interval_mode").set_value("off")
    app.toggle(key="rank_anytime").set_value(False)
    app.button(key="rank_button").click().run()
    assert not app.exception
    ranking = app.session_state[shared.RUN].ranking
    assert ranking.metrics == ["ncti", "etran", "knn"]
    assert all(row.rank("ncti") in (1, 2, 1.5) and row.rank("etran") in (1, 2, 1.5) for row in ranking.models)
