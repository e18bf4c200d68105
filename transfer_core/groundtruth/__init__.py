"""Ground truth for checking a transferability ranking: a cross-validated linear probe on frozen features (cheap,
labelled as such), fine-tuning under a recorded protocol (resumable, cached), or a user's own ``model,accuracy`` CSV.
"""

from transfer_core.groundtruth.csv_file import load_groundtruth_csv
from transfer_core.groundtruth.errors import GroundTruthError
from transfer_core.groundtruth.finetune import default_cache_dir, fine_tune
from transfer_core.groundtruth.model_probe import probe_model
from transfer_core.groundtruth.probe import linear_probe
from transfer_core.groundtruth.protocol import FineTuneProtocol
from transfer_core.groundtruth.result import FINE_TUNE, LINEAR_PROBE, GroundTruth

__all__ = ["FINE_TUNE", "LINEAR_PROBE", "FineTuneProtocol", "GroundTruth", "GroundTruthError", "default_cache_dir",
           "fine_tune", "linear_probe", "load_groundtruth_csv", "probe_model"]
