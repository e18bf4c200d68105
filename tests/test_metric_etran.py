"""ETran's components: SFDA's first stage as the known answer for etran.lda, hand-computed energy scores."""

import math
import warnings

import numpy as np
import pytest
import torch

from bench.numpy_reference.etran import etran as etran_numpy
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError, TransferabilityWarning
from transfer_core.metrics.etran import etran_components, etran_energy, etran_lda
from transfer_core.metrics.lda import fit_shrinkage_lda
from transfer_core.metrics.prepared import prepare


def blobs(n=240, d=10, classes=4, separation=0.5, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % classes)
    features = rng.normal(size=(n, d)) + separation * rng.normal(size=(classes, d))[labels]
    return scale * features, labels


def quiet(function, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error", TransferabilityWarning)  # these inputs must not saturate
        return function(*args, device="cpu")


@pytest.mark.parametrize("scale", [0.05, 0.3, 1.0])
def test_lda_is_sfdas_first_stage(scale):
    features, labels = blobs(scale=scale)
    x, y = torch.tensor(features), torch.tensor(labels)
    first_stage = fit_shrinkage_lda(x, y, 4)  # SFDA's stage 1: adaptive λ
    expected = float(first_stage.posterior(x)[torch.arange(len(labels)), y].mean())
    assert quiet(etran_lda, features, labels) == pytest.approx(expected, rel=1e-12)
    assert quiet(etran_lda, features, labels) == pytest.approx(etran_numpy(features, labels)["etran.lda"], rel=1e-9)


def test_lda_with_fewer_samples_than_dimensions_warns_and_is_the_ambient_fit():
    features, labels = blobs(n=60, d=200, classes=3, scale=0.05)
    x, y = torch.tensor(features), torch.tensor(labels)
    ambient = float(fit_shrinkage_lda(x, y, 3).mean_true_class_probability(x, y))
    with pytest.warns(TransferabilityWarning, match="saturates"):
        value = etran_lda(features, labels, device="cpu")
    assert value == pytest.approx(ambient, rel=1e-8)


def test_energy_by_hand():
    """logsumexp rows: log 2, log 4, log 8, log 16 + 1; N = 4 < 200 gives m = 1 (the reference: NaN)."""
    features = np.log(np.array([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0], [8.0, 8.0]]))
    features[3] += 1.0
    assert etran_energy(features, device="cpu") == pytest.approx(math.log(2), rel=1e-14)
    assert etran_energy(features[1:], device="cpu") == pytest.approx(math.log(4), rel=1e-14)


def test_energy_averages_the_lowest_five_per_mille():
    """N = 400: m = ⌊2000/1000⌋ = 2. Rows of one value v repeated over D = 3 columns have logsumexp v + log 3."""
    values = np.arange(400.0)[::-1] / 10  # lowest: 0.0 and 0.1
    features = np.repeat(values[:, None], 3, axis=1)
    assert etran_energy(features, device="cpu") == pytest.approx(0.05 + math.log(3), rel=1e-13)
    assert etran_energy(features[:399], device="cpu") == pytest.approx(0.1 + math.log(3), rel=1e-13)  # m = 1
    tripled = np.repeat(features, 3, axis=0)  # N = 1 200, m = 6: 0.0 three times and 0.1 three times
    assert etran_energy(tripled, device="cpu") == pytest.approx(0.05 + math.log(3), rel=1e-13)


def test_energy_is_stable_for_large_features_and_matches_the_reference():
    features, labels = blobs(n=1000, scale=300.0)  # exp would overflow without the log-sum-exp shift
    ours = etran_energy(features, device="cpu")
    assert np.isfinite(ours) and ours == pytest.approx(etran_numpy(features, labels)["etran.energy"], rel=1e-12)


def test_components_share_one_prepared_input():
    features, labels = blobs(scale=0.3)
    data = prepare(features, labels, device="cpu")
    assert quiet(etran_components, data) == {"etran.lda": quiet(etran_lda, features, labels),
                                             "etran.energy": etran_energy(features, device="cpu")}


def test_invariant_to_label_names_and_sample_order_and_inputs_not_mutated():
    features, labels = blobs(scale=0.3)
    copy = features.copy()
    base = quiet(etran_components, features, labels)
    rows = np.random.default_rng(1).permutation(len(labels))
    assert quiet(etran_components, features, np.array(list("abcd"))[labels]) == pytest.approx(base, rel=1e-12)
    assert quiet(etran_components, features[rows], labels[rows]) == pytest.approx(base, rel=1e-10)
    np.testing.assert_array_equal(features, copy)


def test_float16_single_sample_class_and_constant_column_stay_finite():
    features, labels = blobs(n=61, d=6, classes=3)
    features[:, 0] = 4.0
    labels[-1] = 3
    for values in (features, features.astype(np.float16)):
        assert all(np.isfinite(v) for v in quiet(etran_components, values, labels).values())


def test_bad_input():
    features, labels = blobs()
    with pytest.raises(DegenerateInputError, match="at least 2 classes"):
        etran_components(features, np.zeros(len(labels)), device="cpu")
    with pytest.raises(MetricInputError, match="labels"):
        etran_lda(prepare(features, device="cpu"))
    features[1, 1] = np.nan
    with pytest.raises(MetricInputError, match="non-finite"):
        etran_energy(features, device="cpu")
