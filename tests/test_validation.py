"""The stability check shared by ``validate`` and the Validate page, on small synthetic feature sets."""

import numpy as np
import pytest

from transfer_core.evidence.validation import resampled_stability

ACCURACIES = {"sharp": 0.9, "fair": 0.7, "blurred": 0.5, "noise": 0.3}
SEPARATIONS = {"sharp": 3.0, "fair": 1.5, "blurred": 0.7, "noise": 0.0}


def extracted(without_probs: tuple[str, ...] = ()) -> tuple[np.ndarray, dict]:
    """Labels and model → (features, source probabilities or None): 36 images, 3 classes, separable to a degree."""
    rng = np.random.default_rng(0)
    labels = np.arange(36) % 3
    centres = rng.normal(size=(3, 5))
    return labels, {model: (separation * centres[labels] + rng.normal(size=(36, 5)),
                            None if model in without_probs else rng.dirichlet(np.ones(4), size=36))
                    for model, separation in SEPARATIONS.items()}


def evaluation(*metrics: str, without_tau: tuple[str, ...] = ()) -> list[dict]:
    return [{"metric": metric, "weighted_tau": None if metric in without_tau else 0.5} for metric in metrics]


def stability(rows, without_probs=(), **kwargs):
    labels, features = extracted(without_probs)
    return resampled_stability(rows, ACCURACIES, labels, features.__getitem__, 2, device="cpu", **kwargs)


def test_every_metric_with_a_tau_is_resampled_with_progress_from_zero():
    steps = []
    result = stability(evaluation("knn", "leep", "logme", without_tau=("logme",)),
                       progress=lambda done, total, eta: steps.append((done, total, eta)))
    assert result.metrics == ["knn", "leep"]
    assert len(result.pools) == 2 * 10 and set(result.subset_of_setup.tolist()) == {0, 1}
    assert result.tau_draws["knn"].shape == (20,) and np.nanmedian(result.tau_draws["knn"]) > 0.5
    assert sum(result.win_share.values()) == pytest.approx(1.0)
    assert steps[0] == (0, 2 * 4, None) and [step[0] for step in steps] == list(range(9))
    assert steps[-1][1:] == (8, 0.0)


def test_leep_and_nce_need_source_probabilities_from_every_model():
    assert stability(evaluation("knn", "leep", "nce"), without_probs=("noise",)).metrics == ["knn"]
    assert stability(evaluation("leep", "nce"), without_probs=("noise",)) == (
        "The stability check could not run: leep, nce: some models have no source probabilities")


def test_without_a_tau_it_says_why():
    assert stability(evaluation("knn", "leep", without_tau=("knn", "leep"))) == (
        "No metric has a weighted τ, so there is no stability to check.")


@pytest.mark.parametrize("labels, reason", [
    (None, "The stability check needs class labels."),
    (np.arange(30) % 3, "The stability check could not run: sharp: the features / source probabilities and the "
                        "labels differ in length"),
])
def test_unusable_labels_are_a_reason_not_a_crash(labels, reason):
    features = extracted()[1]
    assert resampled_stability(evaluation("knn"), ACCURACIES, labels, features.__getitem__, 2) == reason
