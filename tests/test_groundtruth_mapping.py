"""The executor seam: fine-tuning's grid points and validation's models run through a caller's mapper, and the
result is the one a plain local run gives."""

import cloudpickle
import pytest
import torch
from test_groundtruth_finetune import PROTOCOL, brightness_dataset, tiny_cnn

from transfer_core.cli import main
from transfer_core.evidence.validation import groundtruth_for, load_ranking
from transfer_core.groundtruth import FineTuneProtocol, fine_tune
from transfer_core.groundtruth.runstore import RunStore

MODELS = ["zoo:cnn-mnist", "zoo:cnn-mnist-random", "zoo:mobilenetv2-dogbreeds"]


class ReversedMapper:
    """Like a remote executor: ``fn`` and every item travel through cloudpickle, the calls run last item first, and
    the outcomes come back in the items' order; ``forget`` deletes what the calls wrote (a worker on another disk).
    ``pickled=False`` keeps ``fn`` as it is (so that a mapper inside it still records here)."""

    def __init__(self, forget=None, pickled=True):
        self.items, self.calls, self.forget = [], [], forget
        self.travel = (lambda value: cloudpickle.loads(cloudpickle.dumps(value))) if pickled else (lambda value: value)

    def __call__(self, fn, items):
        self.items.append(list(items))
        remote = self.travel(fn)
        outcomes = {}
        for position in reversed(range(len(items))):
            item = self.travel(items[position])
            self.calls.append(item)
            outcomes[position] = self.travel(remote(item))
        if self.forget is not None:
            self.forget()
        return [outcomes[position] for position in range(len(items))]


def test_grid_points_mapped_in_reverse_give_the_local_result(tmp_path):
    local = fine_tune(tiny_cnn(), brightness_dataset(), protocol=PROTOCOL, device="cpu", cache_dir=tmp_path / "a")
    mapper = ReversedMapper()
    mapped = fine_tune(tiny_cnn(), brightness_dataset(), protocol=PROTOCOL, device="cpu", cache_dir=tmp_path / "b",
                       map_points=mapper)
    assert mapper.items == [[(0, (0.1, 1e-4)), (1, (0.02, 1e-4))]] and mapper.calls == mapper.items[0][::-1]
    assert mapped.accuracy == local.accuracy and mapped.protocol == local.protocol
    assert [{k: v for k, v in point.items() if k != "seconds"} for point in mapped.grid] == [
        {k: v for k, v in point.items() if k != "seconds"} for point in local.grid]


def test_the_driver_stores_points_its_workers_could_not_write(tmp_path):
    def forget():
        for path in tmp_path.rglob("grid-*.json"):
            path.unlink()

    steps = []
    mapped = fine_tune(tiny_cnn(), brightness_dataset(), protocol=PROTOCOL, device="cpu", cache_dir=tmp_path,
                       map_points=ReversedMapper(forget), progress=lambda *call: steps.append(call))
    folder = next(tmp_path.iterdir())
    assert [RunStore(folder).point(index) for index in range(2)] == mapped.grid
    assert steps[-1][:2] == (18, 18) and all(call[:2] == (0, 18) for call in steps[:-1])  # no step from a worker
    assert not any("batch" in call[3] for call in steps)
    again = ReversedMapper()
    cached = fine_tune(tiny_cnn(), brightness_dataset(), protocol=PROTOCOL, device="cpu", cache_dir=tmp_path,
                       map_points=again)
    assert cached.cache_hit and cached.accuracy == mapped.accuracy and again.calls == []


@pytest.fixture(scope="module")
def ranking(tmp_path_factory):
    """A ranking of three zoo models and a ``file:`` checkpoint that is damaged afterwards (it no longer loads)."""
    import timm

    out = tmp_path_factory.mktemp("mapped-ranking")
    torch.manual_seed(0)
    weights = out / "tiny.pth"
    torch.save(timm.create_model("test_efficientnet", num_classes=0).state_dict(), weights)
    broken = f"file:{weights}?arch=test_efficientnet"
    assert main(["rank", "--dataset", "demo:digits", "--models", ",".join([*MODELS, broken]), "--limit", "60",
                 "--metrics", "logme,knn", "--out", str(out)]) == 0
    weights.write_bytes(b"not a checkpoint any more")
    return load_ranking(out), broken


@pytest.mark.parametrize("groundtruth, protocol", [
    ("probe", None),
    ("finetune", FineTuneProtocol(trainable="head", epochs=1, min_steps=0, learning_rates=(0.01, 0.001))),
])
def test_models_mapped_in_reverse_give_the_local_groundtruth(ranking, groundtruth, protocol):
    ranking, broken = ranking
    models, points = ReversedMapper(pickled=groundtruth == "probe"), ReversedMapper()
    mapped = groundtruth_for(ranking, groundtruth, protocol=protocol, device="cpu", map_models=models,
                             map_points=points)
    assert models.items == [ranking.model_ids] and models.calls == ranking.model_ids[::-1]
    assert set(mapped[1]) == set(MODELS) and list(mapped[3]) == [broken]  # the failure, reported per model
    assert "cannot read" in mapped[3][broken]
    if groundtruth == "finetune":  # every model's grid went through map_points (run first: nothing cached yet)
        assert points.items == [[(0, (0.01, 0.0001)), (1, (0.001, 0.0001))]] * len(MODELS)
    local = groundtruth_for(ranking, groundtruth, protocol=protocol, device="cpu")
    assert mapped[:2] == local[:2] and mapped[3] == local[3]
    assert [untimed(record) for record in mapped[2].values()] == [untimed(record) for record in local[2].values()]


def untimed(protocol: dict) -> dict:
    """A result's protocol without the measured extraction time (the second extraction is a cache hit)."""
    return {key: value for key, value in protocol.items() if key != "extract_seconds"}
