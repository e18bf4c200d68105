"""The local executor decodes once: models sharing a preprocessing share one decoded, preprocessed batch stream
(``features.extract_group``), decoded in this process on a CPU (a loader process on a GPU, where the CPU is free), and
one model's failure leaves the others of its stream complete."""

import dataclasses
import os

import numpy as np
import pytest
import torch

from tests.test_features import IMAGES, SMALL, make_dataset, make_model, manual_forward
from tests.test_features_rows import counted
from transfer_core.cache.store import FeatureStore
from transfer_core.config import extraction_defaults
from transfer_core.data import load_dataset
from transfer_core.executors import make_executor
from transfer_core.executors.local import LocalExecutor
from transfer_core.features import ExtractionError, extract_features, extract_group
from transfer_core.models import declared_preprocessing, load_model
from transfer_core.ranking.pipeline import rank_dataset

PAIR = ["zoo:cnn-mnist", "zoo:cnn-mnist-random"]  # one preprocessing: the random twin is the same architecture


def twin(seed: int, fingerprint: str):
    """A second ResNet-18 with the same preprocessing and other weights."""
    model = make_model(fingerprint=fingerprint)
    torch.manual_seed(seed)
    for parameter in model.extractor.parameters():
        parameter.data.normal_(0, 0.05)
    return dataclasses.replace(model, model_id=f"test:{fingerprint}")


def test_a_group_decodes_each_image_once_and_each_model_equals_its_own_pass():
    dataset, loads = counted(make_dataset())
    first, second = make_model(), twin(1, "resnet18-other")
    together = extract_group([first, second], dataset, device="cpu", batch_size=2, engine="torch")
    assert loads.calls == len(IMAGES)  # not once per model
    for model, result in zip([first, second], together):
        features, probs = manual_forward(model, IMAGES)
        np.testing.assert_allclose(result.features, features, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(result.source_probs, probs, rtol=1e-5, atol=1e-7)
    assert not np.allclose(together[0].features, together[1].features)  # two different networks really ran


def test_decoding_in_a_loader_process_gives_the_same_features():
    model = make_model()
    in_process = extract_features(model, make_dataset(), device="cpu", batch_size=2, engine="torch")
    workers = extract_features(model, make_dataset(), device="cpu", batch_size=2, num_workers=1, engine="torch")
    np.testing.assert_array_equal(workers.features, in_process.features)


def test_on_a_cpu_the_stream_decodes_in_this_process_in_the_cpus_batches():
    batch, workers = extraction_defaults("cpu")
    digits = load_dataset("demo:digits", limit=40, seed=0)
    pids, done = set(), []

    def load(index):
        pids.add(os.getpid())
        return digits.load(index)

    extract_group([load_model(PAIR[0])], dataclasses.replace(digits, load=load), device="cpu",
                  progress=lambda count, total, eta: done.append(count))
    assert workers == 0 and pids == {os.getpid()}  # no loader process beside the engine's threads
    assert done == [0, *range(batch, digits.size, batch), digits.size]


def test_the_executor_takes_a_batch_size_of_its_own(tmp_path):
    digits = load_dataset("demo:digits", limit=40, seed=0)
    done = []
    items = list(LocalExecutor(batch_size=15).extract([PAIR[0]], digits, store=FeatureStore(tmp_path), device="cpu",
                                                      progress=lambda index, count, total, eta: done.append(count)))
    assert done == [0, 15, 30, 40] and items[0].error is None


@pytest.mark.parametrize("option", [{"batch_size": 0}, {"batch_size": True}, {"num_workers": -1},
                                    {"num_workers": 1.5}])
def test_bad_batch_sizes_and_loader_counts_are_refused(option):
    with pytest.raises(ValueError, match=next(iter(option))):
        extract_group([make_model()], make_dataset(), device="cpu", engine="torch", **option)


def test_a_model_failing_mid_stream_leaves_the_others_complete():
    class BreaksOnSecondBatch(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.calls = inner, 0

        def forward(self, batch):
            self.calls += 1
            if self.calls == 2:
                raise RuntimeError("out of memory (simulated on the second batch)")
            return self.inner(batch)

    good = make_model()
    broken = dataclasses.replace(twin(2, "resnet18-broken"), extractor=BreaksOnSecondBatch(make_model().extractor))
    outcomes = extract_group([broken, good], make_dataset(), device="cpu", batch_size=2, engine="torch")
    assert isinstance(outcomes[0], RuntimeError) and "second batch" in str(outcomes[0])
    np.testing.assert_allclose(outcomes[1].features, manual_forward(good, IMAGES)[0], rtol=1e-5, atol=1e-6)


def test_an_image_that_fails_to_load_fails_every_model_of_the_stream_with_its_name():
    outcomes = extract_group([make_model(), twin(3, "resnet18-third")], make_dataset(broken_index=3), device="cpu",
                             batch_size=2, engine="torch")
    for outcome in outcomes:
        assert isinstance(outcome, ExtractionError) and "image 3 (img3.png)" in str(outcome)


def test_models_of_several_preprocessings_are_refused_as_one_group():
    other = make_model(dataclasses.replace(SMALL, resize=60))
    with pytest.raises(ValueError, match="one preprocessing"):
        extract_group([make_model(), other], make_dataset(), device="cpu")


def test_the_zoo_declares_the_preprocessing_before_a_model_is_loaded(tmp_path):
    assert declared_preprocessing("zoo:cnn-mnist", tmp_path) == load_model("zoo:cnn-mnist").preprocessing
    assert declared_preprocessing("zoo:cnn-mnist-random", tmp_path) == declared_preprocessing("zoo:cnn-mnist",
                                                                                              tmp_path)
    assert declared_preprocessing("timm:resnet18", tmp_path) is None  # known only once loaded (then: its manifest)


def test_the_executor_decodes_a_zoo_pair_once_reports_a_bad_model_and_serves_a_rerun_from_the_store(tmp_path):
    digits, loads = counted(load_dataset("demo:digits", limit=40, seed=0))
    store = FeatureStore(tmp_path)
    seen = []
    asked = [PAIR[0], "zoo:no-such-model", PAIR[1]]
    with make_executor("local") as executor:
        assert isinstance(executor, LocalExecutor)
        items = {item.model_id: item for item in executor.extract(
            asked, digits, store=store, device="cpu", progress=lambda *call: seen.append(call))}
    assert set(items) == set(asked) and loads.calls == digits.size  # the pair shared one pass over the 40 images
    assert items["zoo:no-such-model"].error is not None and items["zoo:no-such-model"].result is None
    for model_id in PAIR:
        alone = extract_features(load_model(model_id), load_dataset("demo:digits", limit=40, seed=0), device="cpu")
        np.testing.assert_allclose(items[model_id].result.features, alone.features, rtol=1e-5, atol=1e-6)
        assert items[model_id].manifest.model_id == model_id
    assert {index for index, done, total, _ in seen if done == total == digits.size} == {0, 2}
    again = list(LocalExecutor().extract(PAIR, digits, store=store, device="cpu"))
    assert loads.calls == digits.size and all(item.result.cache_hit for item in again)


def test_the_ranking_keeps_the_order_asked_although_groups_finish_together(tmp_path):
    digits = load_dataset("demo:digits", limit=40, seed=0)
    asked = [PAIR[0], "zoo:mobilenetv2-dogbreeds", PAIR[1]]
    ranking = rank_dataset(digits, asked, metrics=["knn", "leep"], device="cpu", store=FeatureStore(tmp_path))
    order = {model: position for position, model in enumerate(asked)}
    rows = ranking.models
    ties = [(row.consensus_rank, order[row.model]) for row in rows]
    assert ties == sorted(ties)  # by consensus rank, equal ranks in the order asked
    assert set(ranking.model_ids) == set(asked) and not ranking.errors
