"""One model's scores in a pool: the path the ranking and its rank intervals share."""

import numpy as np
import pytest

from transfer_core.metrics.errors import MetricInputError
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.suite import score_model, score_suite


def test_a_model_without_a_source_head_is_scored_without_leep_instead_of_failing():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 10)
    headless = prepare(rng.normal(size=(20, 4)) + 3 * labels[:, None], labels, device="cpu")
    with pytest.raises(MetricInputError, match="'leep' needs source_probs"):
        score_suite(headless, ["leep", "knn"])  # one model, asked for LEEP: an error
    outcomes = score_model(headless, ["leep", "knn"])  # one model of a pool: LEEP left out for it
    assert list(outcomes) == ["knn"] and outcomes["knn"].value == 1.0
    assert list(score_model(headless, "all")) == list(score_suite(headless, "all"))
