"""The ONNX Runtime engine against torch on real pretrained models and real photos (the textile demo): every zoo
model's features and source probabilities agree within the verification tolerance, or the model falls back to torch
with its reason; graphs are exported once per fingerprint, damaged ones rebuilt, failing ones never used."""

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from transfer_core.cache.layout import GRAPHS
from transfer_core.cache.store import FeatureStore
from transfer_core.data import load_dataset
from transfer_core.engines import ENGINES, EngineError
from transfer_core.engines.verify import TOLERANCE
from transfer_core.errors import TransferScoutError
from transfer_core.features import extract_by_id, extract_features
from transfer_core.models import load_model
from transfer_core.models.base import LoadedModel, ModelCard, Preprocessing
from transfer_core.models.zoo import ZOO

# zoo models ONNX Runtime cannot take, and the start of the reason each one runs in torch
FALLS_BACK = {"vgg16-brainmri": "the export to ONNX failed"}  # onnx2torch's modules defeat both torch exporters
FAST = "zoo:cnn-mnist"


@pytest.fixture(scope="module")
def photos():
    return load_dataset("demo", limit=3, seed=0)  # 3 textile photos, one per class: verified as a batch and alone


def other_photos(seed: int):
    return load_dataset("demo", limit=4, seed=seed)  # another dataset fingerprint: a feature-store miss


def assert_agree(candidate: np.ndarray, reference: np.ndarray) -> None:
    """Within the verification tolerance: max |difference| / max |reference value| (engines/verify.py)."""
    assert candidate.shape == reference.shape
    assert np.abs(candidate - reference).max() <= TOLERANCE * np.abs(reference).max()


def graph_files(store: FeatureStore) -> dict[str, list]:
    folder = store.root / GRAPHS.folder
    files = sorted(folder.iterdir()) if folder.is_dir() else []
    return {suffix: [path for path in files if path.suffix == suffix] for suffix in (".onnx", ".json")}


@pytest.mark.parametrize("name", list(ZOO))
def test_every_zoo_model_gives_torchs_features_in_onnx_runtime(name, photos):
    model = load_model(f"zoo:{name}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        onnx = extract_features(model, photos, device="cpu", engine="onnxruntime")
    eager = extract_features(model, photos, device="cpu", engine="torch")
    assert eager.engine == "torch" and eager.engine_note is None
    assert_agree(onnx.features, eager.features)
    assert (onnx.source_probs is None) == (eager.source_probs is None) == (model.head is None)
    if model.head is not None:
        assert_agree(onnx.source_probs, eager.source_probs)
        np.testing.assert_allclose(onnx.source_probs.sum(axis=1), 1.0, rtol=1e-5)
    if name in FALLS_BACK:
        assert onnx.engine == "torch" and onnx.engine_note.startswith(FALLS_BACK[name])
        assert any(f"'zoo:{name}' runs in torch, not ONNX Runtime: {FALLS_BACK[name]}" in str(warning.message)
                   for warning in caught)
    else:
        assert onnx.engine == "onnxruntime" and onnx.engine_note is None and onnx.device == "cpu"
        assert not caught, [str(warning.message) for warning in caught]


def test_a_graph_is_exported_once_per_fingerprint_and_reused(tmp_path, photos):
    store = FeatureStore(tmp_path)
    reports = []
    first = extract_features(load_model(FAST), photos, store=store, batch_size=2,
                             progress=lambda *report: reports.append(report))
    assert first.engine == "onnxruntime" and not first.cache_hit
    assert [done for done, _, _ in reports] == [0, 2, 3] and reports[0][2] is None
    files = graph_files(store)
    assert len(files[".onnx"]) == len(files[".json"]) == 1
    (graph,), (verdict,) = files[".onnx"], files[".json"]
    exported, recorded = graph.stat().st_ino, verdict.read_text()
    meta = json.loads(recorded)
    assert meta["passed"] and meta["images"] == 2 and meta["dataset_id"] == "demo"
    assert set(meta["errors"]) == {"features", "logits", "features (one image)", "logits (one image)"}
    assert max(meta["errors"].values()) <= TOLERANCE
    again = extract_features(load_model(FAST), other_photos(seed=1), store=store)  # a miss: the graph is reused
    assert again.engine == "onnxruntime" and not again.cache_hit
    assert graph.stat().st_ino == exported and verdict.read_text() == recorded
    hit = extract_features(load_model(FAST), photos, store=store, engine="torch")  # the engine is not in the key
    assert hit.cache_hit and hit.engine == "onnxruntime" and hit.engine_note is None
    np.testing.assert_array_equal(hit.features, first.features)
    by_id, _ = extract_by_id(FAST, other_photos(seed=2), store=store, engine="torch")
    assert by_id.engine == "torch" and not by_id.cache_hit


@pytest.mark.parametrize("damage", ["graph", "verdict"])
def test_a_damaged_cached_graph_is_exported_again(tmp_path, photos, damage):
    store = FeatureStore(tmp_path)
    extract_features(load_model(FAST), photos, store=store)
    (graph,), (verdict,) = graph_files(store)[".onnx"], graph_files(store)[".json"]
    target = graph if damage == "graph" else verdict
    data = bytearray(target.read_bytes())
    data[len(data) // 2: len(data) // 2 + 16] = b"\xff" * 16
    target.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="removed it, so it is exported again"):
        result = extract_features(load_model(FAST), other_photos(seed=1), store=store)
    assert result.engine == "onnxruntime" and result.engine_note is None
    assert json.loads(verdict.read_text())["passed"] and graph.exists()
    eager = extract_features(load_model(FAST), other_photos(seed=1), engine="torch")
    assert_agree(result.features, eager.features)


class FrozenBatchSize(nn.Module):
    """A small real CNN whose output scales with the batch size through a Python number: a trace freezes it."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.conv(images).mean(dim=(2, 3)) * float(images.shape[0])


def frozen_model() -> LoadedModel:
    card = ModelCard("test:frozen-batch", "conv", "nothing", "MIT", 224, 8, "test")
    return LoadedModel(card.model_id, FrozenBatchSize(), Preprocessing(input_size=(32, 32), resize=32), card,
                       "test-frozen-batch-v1", head=nn.Linear(8, 3))


def test_a_failing_verification_falls_back_to_torch_with_the_reason(tmp_path, photos):
    store = FeatureStore(tmp_path)
    with pytest.warns(UserWarning, match="'test:frozen-batch' runs in torch, not ONNX Runtime: ONNX Runtime's "
                                         r"features \(one image\) differ from torch's"):
        result = extract_features(frozen_model(), photos, store=store)
    assert result.engine == "torch" and "tolerance is 0.0001" in result.engine_note
    eager = extract_features(frozen_model(), photos, engine="torch", batch_size=64)
    np.testing.assert_allclose(result.features, eager.features, rtol=1e-5)  # torch's own features
    assert graph_files(store)[".onnx"] == [] and len(graph_files(store)[".json"]) == 1  # the verdict, no graph
    with pytest.warns(UserWarning, match="recorded in the cache"):  # not exported again
        again = extract_features(frozen_model(), other_photos(seed=1), store=store)
    assert again.engine == "torch" and "cache clear" in again.engine_note


def test_engine_torch_never_touches_onnx_runtime(tmp_path):
    code = (
        "import sys\n"
        "from transfer_core.cache.store import FeatureStore\n"
        "from transfer_core.data import load_dataset\n"
        "from transfer_core.features import extract_by_id\n"
        f"store = FeatureStore({str(tmp_path)!r})\n"
        f"result, _ = extract_by_id({FAST!r}, load_dataset('demo', limit=3), store=store, engine='torch')\n"
        "assert result.engine == 'torch' and result.engine_note is None\n"
        "touched = sorted(name for name in sys.modules if name.startswith(('onnxruntime', 'transfer_core.engines.')))\n"
        "print(touched)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
    assert not (tmp_path / GRAPHS.folder).exists()


def test_an_unknown_engine_is_a_clear_error(photos):
    model = load_model(FAST)
    for call in (lambda: extract_features(model, photos, engine="tensorrt"),
                 lambda: extract_by_id(FAST, photos, store=FeatureStore(), engine="ONNX")):
        with pytest.raises(EngineError, match="unknown engine .*; use one of auto, torch, onnxruntime") as raised:
            call()
        assert isinstance(raised.value, TransferScoutError)
    assert ENGINES == ("auto", "torch", "onnxruntime")


def test_cache_clear_removes_the_exported_graphs(tmp_path, photos):
    store = FeatureStore(tmp_path)
    extract_features(load_model(FAST), photos, store=store)
    usage = {kind.kind.label: kind for kind in store.usage().kinds}["exported ONNX graph files"]
    assert usage.count == 2 and usage.bytes > 0 and usage.kind.capped
    cleared = store.clear()
    assert cleared.removed["exported ONNX graph files"] == 2 and cleared.removed["feature entries"] == 1
    assert not (tmp_path / GRAPHS.folder).exists()


def test_a_layer_extractor_without_a_head_runs_in_onnx_runtime(tmp_path, photos):
    model = load_model(FAST, layer="0.6")  # a named layer: pooled conv features, no source head
    assert model.head is None
    result = extract_features(model, photos, store=FeatureStore(tmp_path))
    eager = extract_features(load_model(FAST, layer="0.6"), photos, engine="torch")
    assert result.engine == "onnxruntime" and result.source_probs is None and result.features.shape == (3, 128)
    assert_agree(result.features, eager.features)


def test_a_pass_s_last_batch_gives_the_arena_back_and_the_same_outputs(tmp_path, photos):
    from transfer_core.engines.export import SourceGraph
    from transfer_core.engines.prepare import prepare
    from transfer_core.features import preprocess

    model = load_model(FAST)
    batch = torch.stack([preprocess(photos.load(index), model.preprocessing) for index in range(photos.size)])
    runner = prepare(model, SourceGraph(model.extractor.eval(), model.head), batch, FeatureStore(tmp_path),
                     photos.dataset_id).runner
    kept, released, again = runner(batch), runner(batch, True), runner(batch)
    for outputs in (released, again):
        np.testing.assert_array_equal(outputs[0].numpy(), kept[0].numpy())
        np.testing.assert_array_equal(outputs[1].numpy(), kept[1].numpy())


def test_timm_same_padding_is_exported_as_constant_pads_and_restored_after():
    import importlib

    import onnx
    from timm.layers import Conv2dSame
    from timm.layers.padding import pad_same
    from timm.layers.pool2d_same import MaxPool2dSame

    from transfer_core.engines.export import SAME_PADDING_MODULES, SourceGraph, export_graph
    from transfer_core.engines.session import OnnxRunner

    forward = MaxPool2dSame.forward
    torch.manual_seed(0)
    extractor = nn.Sequential(Conv2dSame(3, 4, 3, stride=2), nn.ReLU(), MaxPool2dSame(3, stride=2),
                              Conv2dSame(4, 5, 5, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    images = torch.randn(4, 3, 37, 30)  # odd and even sizes: asymmetric "same" pads on both axes
    graph = onnx.load_from_string(export_graph(SourceGraph(extractor, None), images))
    operators = {node.op_type for node in graph.graph.node}
    assert "Pad" in operators and not operators & {"Shape", "Ceil", "Div"}  # pads are constants, not computed
    padded = {output for node in graph.graph.node if node.op_type == "Pad" for output in node.output}
    pools = [node for node in graph.graph.node if node.op_type == "MaxPool"]
    assert len(pools) == 1 and not padded & set(pools[0].input)  # the max-pool pads itself: no Pad of −∞ before it
    assert all(importlib.import_module(name).pad_same is pad_same for name in SAME_PADDING_MODULES)
    assert MaxPool2dSame.forward is forward
    with torch.inference_mode():
        expected = extractor(images)
    features, _ = OnnxRunner(graph.SerializeToString())(images)
    assert features.shape == (4, 5)
    assert_agree(features.numpy(), expected.numpy())
    with pytest.raises(RuntimeError):  # a trace that fails half-way leaves timm as it was, too
        export_graph(SourceGraph(extractor, None), torch.randn(4, 2, 37, 30))
    assert all(importlib.import_module(name).pad_same is pad_same for name in SAME_PADDING_MODULES)
    assert MaxPool2dSame.forward is forward


@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 2), (3, 1), (5, 3), (4, 2)])
def test_tf_same_max_pool_as_one_padded_pool_takes_the_same_maxima(kernel, stride):
    from timm.layers.pool2d_same import MaxPool2dSame

    from transfer_core.engines.export import _max_pool_same

    pool = MaxPool2dSame(kernel, stride=stride)
    forward = _max_pool_same(MaxPool2dSame.forward)
    for height, width in [(5, 6), (7, 7), (8, 11), (12, 9)]:
        x = torch.randn(2, 3, height, width) - 5.0  # all negative: a zero pad would show
        assert torch.equal(forward(pool, x), pool(x)), (height, width)
