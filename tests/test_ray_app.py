"""The Rank and Validate pages send a run to a Ray address (the local test cluster, tests/ray_cluster.py): the same
ranking and linear-probe ground truth as on this machine, computed on the cluster's workers; an unreachable address
is a message on the page."""

import pytest
from ray_cluster import free_port
from streamlit.testing.v1 import AppTest
from test_app import APP, TIMEOUT_S, TINY_DEFAULTS

import app_support as shared


def ranked_on(address: str, store, monkeypatch) -> AppTest:
    for name, value in {**TINY_DEFAULTS, "TRANSFER_SCOUT_CACHE": str(store)}.items():
        monkeypatch.setenv(name, value)
    app = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    app.text_input(key="rank_ray_address").set_value(address)
    return app.button(key="rank_button").click().run()


def test_the_rank_page_ranks_on_a_ray_cluster_as_it_does_here(ray_cluster, tmp_path, monkeypatch):
    on_ray = ranked_on(ray_cluster.address, tmp_path / "ray", monkeypatch)
    assert not on_ray.exception and not on_ray.error, [error.value for error in on_ray.error]
    here = ranked_on("", tmp_path / "here", monkeypatch)
    ray_ranking, local_ranking = (app.session_state[shared.RUN].result.ranking for app in (on_ray, here))
    assert ray_ranking.model_ids == local_ranking.model_ids and len(ray_ranking.models) == 3
    assert not any(row.cache_hit for row in ray_ranking.models)  # extracted on the workers, not read here
    for row in local_ranking.models:
        for metric in local_ranking.metrics:
            assert ray_ranking.row(row.model).score(metric) == pytest.approx(row.score(metric), rel=1e-5, abs=1e-7)
    accuracies = []
    for app, address in ((on_ray, ray_cluster.address), (here, "")):
        app.switch_page(shared.PAGE_VALIDATE).run()
        app.slider(key="validate_stability").set_value(0)
        app.text_input(key="validate_ray_address").set_value(address)
        app.button(key="validate_button").click().run()
        assert not app.exception and not app.error, [error.value for error in app.error]
        accuracies.append(app.session_state["validation_result"].validation.accuracies)
    assert set(accuracies[0]) == set(ray_ranking.model_ids)
    assert accuracies[0] == pytest.approx(accuracies[1], abs=1e-9)


def test_an_unreachable_ray_address_is_a_message_on_the_page(tmp_path, monkeypatch):
    closed = f"127.0.0.1:{free_port()}"
    app = ranked_on(closed, tmp_path, monkeypatch)
    assert not app.exception
    assert any(f"no Ray cluster is reachable at {closed}" in error.value for error in app.error)
