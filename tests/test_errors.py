"""Every error the core raises for its user derives from one base, which the command line turns into exit 2."""

import pytest

from transfer_core.cache.layout import NotAStoreError
from transfer_core.cli import EXIT_USAGE, UsageError, main
from transfer_core.data import DatasetError
from transfer_core.errors import TransferScoutError
from transfer_core.features import ExtractionError
from transfer_core.groundtruth import GroundTruthError
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError
from transfer_core.models import ModelLoadError
from transfer_core.uploads import UploadError


@pytest.mark.parametrize("error, old_base", [
    (MetricInputError, ValueError), (DegenerateInputError, ValueError), (DatasetError, ValueError),
    (GroundTruthError, ValueError), (UploadError, ValueError), (NotAStoreError, ValueError),
    (ModelLoadError, RuntimeError), (ExtractionError, RuntimeError), (UsageError, Exception),
])
def test_every_user_facing_error_has_the_one_base_and_keeps_its_old_one(error, old_base):
    assert issubclass(error, TransferScoutError) and issubclass(error, old_base)


def test_validate_on_a_missing_ranking_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(["validate", "--ranking", str(tmp_path / "missing"), "--groundtruth", "probe", "--out",
                 str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_USAGE and len(err) == 1 and err[0].startswith("error: ")
