"""The Validate page through AppTest on a real tiny ranking (24 demo images, three fast models): ground truth from a
linear probe and from a user CSV, a broken CSV, the figures, the same stability check as the CLI's; plus the stability
figure builder on hand-made draws.
"""

import json

import numpy as np
import pytest
from scipy.stats import weightedtau

import app_support as shared
from tests.test_app import MODELS, figures, fresh_app, tiny_defaults, trace_types, values  # noqa: F401  (fixture)
from transfer_core.cli import main
from transfer_core.presentation.views import stability_figure
from transfer_core.ranking.output import ranking_json

RESULT = "validation_result"


@pytest.fixture(scope="module")
def ranked_app(tiny_defaults):  # noqa: F811
    app = fresh_app(tiny_defaults)
    app.button(key="rank_button").click().run()
    assert not app.exception
    return app.switch_page(shared.PAGE_VALIDATE).run()


def texts(app) -> str:
    return "\n".join(element.value for kind in ("header", "subheader", "markdown", "caption", "info")
                     for element in getattr(app, kind))


def test_without_a_ranking_the_page_points_to_rank(tiny_defaults):  # noqa: F811
    app = fresh_app(tiny_defaults).switch_page(shared.PAGE_VALIDATE).run()
    assert not app.exception
    assert any("rank the models first" in info.value for info in app.info)
    assert [link.proto.page for link in app.get("page_link")][-1] == "rank"  # the page_link to pages/rank.py
    assert not app.get("button")  # nothing to validate yet


def test_linear_probe_gives_a_tau_row_per_ranked_metric_and_its_figures(ranked_app):
    assert ranked_app.radio(key="validate_kind").value == "probe"  # the cheap default
    ranked_app.slider(key="validate_stability").set_value(2)
    ranked_app.button(key="validate_button").click().run()
    assert not ranked_app.exception and not ranked_app.error
    run, result = ranked_app.session_state[shared.RUN], ranked_app.session_state[RESULT]
    validation = result.validation
    assert validation.kind == "linear probe" and sorted(validation.accuracies) == sorted(MODELS)
    assert all(0 <= accuracy <= 1 for accuracy in validation.accuracies.values())
    assert "the linear probe results" in ranked_app.header[0].value
    assert "fine-tun" not in texts(ranked_app).lower()  # a probe is never called fine-tuning
    assert "cross-validated accuracy" in texts(ranked_app)

    table = ranked_app.dataframe[0].value
    assert list(table["metric"]) == run.ranking.metrics
    for metric, tau in zip(table["metric"], table["weighted_tau"]):
        scores = list(run.ranking.scores(metric).values())
        if tau is None or np.isnan(tau):  # undefined only when the metric cannot tell the models apart
            assert sum(score is not None for score in scores) < 3 or len(set(scores)) == 1, metric
            continue
        truth = [validation.accuracies[model] for model in run.ranking.model_ids]
        assert tau == pytest.approx(weightedtau(scores, truth)[0])
    assert {"median_tau", "tau_low", "tau_high", "win_share"} <= set(table.columns)

    scatter, spread = figures(ranked_app)
    metric = ranked_app.selectbox(key="validate_scatter_metric").value
    assert trace_types(scatter) == ["scatter"] and metric in json.dumps(scatter["layout"]["title"])
    points = dict(zip(scatter["data"][0]["text"], values(scatter["data"][0]["y"])))
    assert points == pytest.approx({model: validation.accuracies[model] for model in points})

    assert trace_types(spread) == ["box", "bar"]
    stability = validation.resampled
    assert len(stability.pools) == 2 * 10  # 2 subsets × 10 model sub-pools
    shares = dict(zip(spread["data"][1]["y"], values(spread["data"][1]["x"])))
    assert shares == pytest.approx({metric: stability.win_share[metric] for metric in shares})
    assert sum(stability.win_share.values()) == pytest.approx(1.0)
    assert "only as firm as this spread" in texts(ranked_app)
    keys = {button.key for button in ranked_app.get("download_button")}
    assert keys == {"validate_dl_eval", "validate_dl_truth"}


def validate_with_csv(app, name: str, csv: str, stability: int):
    """Validate the ranked app's ranking against an uploaded ``model,accuracy`` CSV; the page's Validation."""
    app.radio(key="validate_kind").set_value("csv").run()
    app.file_uploader(key="validate_csv").upload(name, csv.encode(), "text/csv").run()
    app.slider(key="validate_stability").set_value(stability)
    app.button(key="validate_button").click().run()
    assert not app.exception and not app.error
    return app.session_state[RESULT].validation


def test_a_user_csv_ordered_like_one_metric_gives_it_a_perfect_tau(ranked_app):
    run = ranked_app.session_state[shared.RUN]
    metric = next(name for name in run.ranking.metrics  # one whose scores have no ties
                  if len({score for score in run.ranking.scores(name).values() if score is not None}) == len(MODELS))
    scores = run.ranking.scores(metric)
    order = sorted(scores, key=scores.get)  # worst score first
    csv = "model,accuracy\n" + "".join(f"{model},{0.5 + 0.1 * rank}\n" for rank, model in enumerate(order))
    validation = validate_with_csv(ranked_app, "mine.csv", csv, stability=0)
    assert validation.kind == "user CSV" and "from your file mine.csv" in texts(ranked_app)
    table = ranked_app.dataframe[0].value.set_index("metric")
    assert table.loc[metric, "weighted_tau"] == pytest.approx(1.0)
    assert table.loc[metric, "rel@1"] == pytest.approx(1.0)
    assert "median_tau" not in table.columns  # no stability asked for
    assert trace_types(figures(ranked_app)[0]) == ["scatter"]


def test_the_page_and_the_cli_give_the_same_stability(ranked_app, tmp_path):
    run = ranked_app.session_state[shared.RUN]
    truth = {MODELS[0]: 0.9, MODELS[1]: 0.4, MODELS[2]: 0.7}
    csv = "model,accuracy\n" + "".join(f"{model},{accuracy}\n" for model, accuracy in truth.items())
    page = validate_with_csv(ranked_app, "truth.csv", csv, stability=2)

    ranking = json.loads(ranking_json(run.result))  # what `rank --out` writes: it carries the page's subsample
    assert (ranking["dataset"]["limit"], ranking["dataset"]["seed"]) == (run.spec.limit, run.spec.seed)
    (tmp_path / "ranking.json").write_text(json.dumps(ranking))
    (tmp_path / "truth.csv").write_text(csv)
    assert main(["validate", "--ranking", str(tmp_path / "ranking.json"), "--groundtruth", str(tmp_path / "truth.csv"),
                 "--stability", "2", "--out", str(tmp_path / "out")]) == 0
    cli = json.loads((tmp_path / "out" / "validation.json").read_text())

    assert page.accuracies == cli["accuracies"] == truth
    with_tau = [row["metric"] for row in page.evaluation if row["weighted_tau"] is not None]
    assert [row["metric"] for row in cli["stability"]] == with_tau and with_tau
    assert all(row["setups"] == 2 * 10 for row in cli["stability"])
    assert any(row["median_tau"] is not None for row in cli["stability"])
    assert json.loads(json.dumps(page.stability)) == cli["stability"]  # tuples → lists, floats exact
    assert sum(page.resampled.win_share.values()) == pytest.approx(1.0)


def test_a_broken_csv_is_an_error_and_the_page_keeps_working(ranked_app):
    ranked_app.radio(key="validate_kind").set_value("csv").run()
    ranked_app.file_uploader(key="validate_csv").upload("broken.csv", b"name,score\na,1\n", "text/csv").run()
    assert not ranked_app.exception
    (error,) = ranked_app.error
    assert error.value.startswith("broken.csv cannot be used: broken.csv: the header must have columns model,accuracy")
    assert ranked_app.button(key="validate_button").disabled
    assert ranked_app.session_state[RESULT].validation.kind == "user CSV"  # the earlier result stays
    ranked_app.radio(key="validate_kind").set_value("probe").run()
    assert not ranked_app.error and not ranked_app.button(key="validate_button").disabled


def test_stability_figure_orders_metrics_by_median_tau_and_drops_those_without_one():
    figure = stability_figure({"flat": [np.nan, np.nan], "weak": [-0.2, 0.1, np.nan], "strong": [0.9, 0.5, 0.7]},
                              {"flat": 0.0, "weak": 1 / 3, "strong": 2 / 3})
    box, bar = figure.data
    assert (box.type, bar.type) == ("box", "bar")
    assert list(figure.layout.yaxis.categoryarray) == ["strong", "weak"]  # best median first
    assert list(box.y) == ["strong"] * 3 + ["weak"] * 2 and np.allclose(box.x, [0.9, 0.5, 0.7, -0.2, 0.1])
    assert list(bar.y) == ["strong", "weak"] and np.allclose(bar.x, [2 / 3, 1 / 3])
    assert "1 metric without a τ" in figure.layout.title.text
    with pytest.raises(ValueError, match="no metric has a weighted τ"):
        stability_figure({"flat": [np.nan]}, {"flat": 0.0})
