"""An anytime ranking tells its progress callback each model's place among the models asked for, although each slice
reorders them (cheapest first) and leaves out those that failed."""

from transfer_core.cache.store import FeatureStore
from transfer_core.data import load_dataset
from transfer_core.ranking.anytime import rank_anytime
from transfer_core.ranking.run import IntervalSettings

ASKED = ["zoo:no-such-model", "zoo:cnn-mnist", "zoo:cnn-mnist-random"]


def test_progress_names_models_by_their_place_in_the_models_asked(tmp_path):
    calls, slices = [], []
    digits = load_dataset("demo:digits", limit=120, seed=0)
    final = rank_anytime(digits, ASKED, metrics=["knn", "leep"], intervals=IntervalSettings(mode="off"),
                         device="cpu", store=FeatureStore(tmp_path), on_slice=lambda p: slices.append(p.images),
                         progress=lambda stage, index, count, *_: calls.append((len(slices), stage, index, count)))
    assert len(slices) == 3 and final.ranking.errors.keys() == {"zoo:no-such-model"}
    assert {count for *_, count in calls} == {3}
    later = [(stage, index) for done, stage, index, _ in calls if done >= 1]  # after the failing model was dropped
    assert {index for _, index in later} == {1, 2}
    assert sorted(index for stage, index in later if stage == "scored") == [1, 1, 2, 2]
