"""Metric options: every option declares its range once, and the command line and direct calls are both held to it."""

import math

import numpy as np
import pytest

from transfer_core.metrics import get_metric, metric_names
from transfer_core.metrics.disco import disco_components
from transfer_core.metrics.errors import MetricInputError
from transfer_core.metrics.nleep import nleep, nleep_details
from transfer_core.metrics.options import Option
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import check_options, parse_options
from transfer_core.metrics.suite import checked_options, score_suite
from transfer_core.presentation.projections import fisher_projection

# Every option of every metric with one value inside and values outside its declared range.
BOUNDS = {
    ("sfda", "pca_dim"): (1, 65536),
    ("transrate", "pca_dim"): (1, 65536),
    ("disco", "groups"): (1, 65536),
    ("nleep", "seed"): (0, 2**32 - 1),
    ("nleep", "seeds"): (1, 100),
    ("parc", "budget"): (3, 20_000),
    ("parc", "seed"): (0, 2**32 - 1),
    ("knn", "rows_per_block"): (1, 65536),
}
NOT_INTEGERS = (2.5, 2.0, True, "3", np.float64(3.0), float("nan"))
FLOAT_BOUNDS = {("ped", "nsigma"): (0.0, 10.0), ("ped", "time_step"): (0.0, 10.0)}  # checked in test_metric_ped
CHOICES = {("gbc", "gaussian"), ("ped", "base")}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 12)
    return rng.normal(size=(36, 5)) + 3 * np.eye(5)[labels], labels


def test_every_option_is_declared_with_a_finite_range_or_choices():
    declared = {(name, key): option for name in metric_names() for key, option in get_metric(name).options.items()}
    assert set(declared) == set(BOUNDS) | set(FLOAT_BOUNDS) | CHOICES
    for (name, key), option in declared.items():
        assert isinstance(option, Option), (name, key)
        if option.kind is str:
            assert option.choices, (name, key)
        else:
            assert (option.low, option.high) == {**BOUNDS, **FLOAT_BOUNDS}[name, key], (name, key)


@pytest.mark.parametrize("metric, key", sorted(BOUNDS))
def test_direct_calls_refuse_values_outside_the_range_and_non_integers(data, metric, key):
    """Each value is refused before any computation: the message names the option, the value and the range."""
    function = get_metric(metric).function
    low, high = BOUNDS[metric, key]
    for bad in (low - 1, high + 1, *NOT_INTEGERS):
        with pytest.raises(MetricInputError) as caught:
            function(*data, **{key: bad}, device="cpu")
        message = str(caught.value)
        assert f"{metric}.{key}={bad!r}" in message and f"from {low} to {high}" in message, message


@pytest.mark.parametrize("metric, key", sorted(BOUNDS))
def test_both_ends_of_the_range_are_accepted_as_plain_ints(metric, key):
    low, high = BOUNDS[metric, key]
    for value in (low, high, np.int64(low)):
        checked = check_options(metric, **{key: value})[key]
        assert checked == value and type(checked) is int


def test_command_line_strings_are_parsed_then_checked():
    spec = get_metric("nleep")
    assert parse_options(spec, {"seeds": " 7 ", "seed": "3"}) == {"seeds": 7, "seed": 3}
    for text in ("2.5", "true", "1e3", "", "1000000000"):
        with pytest.raises(MetricInputError, match="nleep.seeds=.* must be an integer from 1 to 100"):
            parse_options(spec, {"seeds": text})
    with pytest.raises(MetricInputError, match="no option 'seedz'"):
        parse_options(spec, {"seedz": "1"})


def test_choices_are_an_enum():
    spec = get_metric("gbc")
    assert parse_options(spec, {"gaussian": "diagonal"}) == {"gaussian": "diagonal"}
    for bad in ("full", "Diagonal", 1, None):
        with pytest.raises(MetricInputError, match="gbc.gaussian=.* must be one of spherical, diagonal"):
            check_options("gbc", gaussian=bad)


def test_a_huge_seed_count_is_refused_at_once(data):
    """The OOM of issue 9 item 4: nleep.seeds=10⁹ built a list of 10⁹ seeds; now nothing is allocated."""
    for call in (nleep, nleep_details):
        with pytest.raises(MetricInputError, match=r"nleep.seeds=1000000000 is invalid.*from 1 to 100"):
            call(*data, seeds=10**9)


def test_public_entry_points_beside_the_registered_functions_check_too(data):
    with pytest.raises(MetricInputError, match="disco.groups=2.5"):
        disco_components(*data, groups=2.5, device="cpu")
    assert disco_components(*data, groups=np.int64(2), device="cpu").ratios.shape == (2,)


def test_every_option_is_checked_before_any_metric_runs(data):
    """An option of a metric that is not selected is still checked (a typo must not pass silently)."""
    prepared = prepare(*data, device="cpu")
    with pytest.raises(MetricInputError, match="nleep.seeds=0"):
        score_suite(prepared, ["knn"], {"nleep": {"seeds": "0"}})
    assert set(score_suite(prepared, ["knn"], {"nleep": {"seeds": "2"}})) == {"knn"}
    assert checked_options({"nleep": {"seeds": "2"}, "gbc": {"gaussian": "diagonal"}}) == {
        "nleep": {"seeds": 2}, "gbc": {"gaussian": "diagonal"}}
    with pytest.raises(MetricInputError, match="unknown metric"):
        checked_options({"nleeps": {"seeds": "2"}})


@pytest.mark.parametrize("bad", [math.nan, math.inf, -0.5, 1.5, True, "0.3"])
def test_float_options_refuse_non_finite_values_and_booleans(data, bad):
    with pytest.raises(MetricInputError, match=r"shrinkage=.* must be a finite number from 0.0 to 1.0"):
        fisher_projection(*data, pca_dim=None, shrinkage=bad, device="cpu")


@pytest.mark.parametrize("bad", [0, 2.5, True, 10**6])
def test_projection_pca_dim_is_held_to_the_same_declaration(data, bad):
    with pytest.raises(MetricInputError, match=r"pca_dim=.* must be an integer from 1 to 65536 or None"):
        fisher_projection(*data, pca_dim=bad, device="cpu")


def test_option_declarations_refuse_kinds_they_cannot_check():
    with pytest.raises(TypeError, match="int, float or str"):
        Option(bool)
