"""Every error the core raises for its user derives from one base, which the command line turns into exit 2."""

import pytest

from transfer_core.cache.layout import NotAStoreError
from transfer_core.cli import EXIT_USAGE, UsageError, main
from transfer_core.data import DatasetError
from transfer_core.errors import InvalidInputError, TransferScoutError, UndefinedResultError
from transfer_core.features import ExtractionError
from transfer_core.groundtruth import GroundTruthError
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError
from transfer_core.models import ModelLoadError
from transfer_core.uploads import UploadError


@pytest.mark.parametrize("error, old_base", [
    (MetricInputError, ValueError), (DegenerateInputError, ValueError), (DatasetError, ValueError),
    (GroundTruthError, ValueError), (UploadError, ValueError), (NotAStoreError, ValueError),
    (ModelLoadError, RuntimeError), (ExtractionError, RuntimeError), (UsageError, Exception),
    (InvalidInputError, ValueError), (UndefinedResultError, ValueError),
])
def test_every_user_facing_error_has_the_one_base_and_keeps_its_old_one(error, old_base):
    assert issubclass(error, TransferScoutError) and issubclass(error, old_base)


def test_evidence_and_presentation_errors_are_not_called_metric_errors():
    """The metric engine's errors are kinds of the two cross-cutting ones; the rest of the core raises those."""
    from transfer_core.evidence.evaluation import weighted_tau
    from transfer_core.evidence.verdict import verdict
    from transfer_core.presentation.projections import metric_agreement
    from transfer_core.ranking.run import IntervalSettings
    from transfer_core.ranking.table import Ranking

    assert issubclass(MetricInputError, InvalidInputError) and issubclass(DegenerateInputError, UndefinedResultError)
    raised = []
    for call in (lambda: weighted_tau([1.0, 2.0], [1.0]), lambda: metric_agreement({}),
                 lambda: IntervalSettings(repeats=0)):
        with pytest.raises(InvalidInputError) as caught:
            call()
        raised.append(type(caught.value))
    for call in (lambda: weighted_tau([1.0, 1.0, 1.0], [0.1, 0.2, 0.3]), lambda: verdict(Ranking({}, [], []))):
        with pytest.raises(UndefinedResultError) as caught:
            call()
        raised.append(type(caught.value))
    assert raised == [InvalidInputError] * 3 + [UndefinedResultError] * 2


def test_validate_on_a_missing_ranking_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(["validate", "--ranking", str(tmp_path / "missing"), "--groundtruth", "probe", "--out",
                 str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_USAGE and len(err) == 1 and err[0].startswith("error: ")
