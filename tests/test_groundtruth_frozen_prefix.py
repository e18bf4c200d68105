"""Fine-tuning's frozen-prefix split: exact when used, and a plain full forward pass whenever it would not be."""

import dataclasses

import pytest
import torch
from test_groundtruth_finetune import brightness_dataset, tiny_cnn
from torch import nn

from transfer_core.groundtruth import FineTuneProtocol, fine_tune
from transfer_core.groundtruth import finetune as finetune_module
from transfer_core.groundtruth.frozen_prefix import frontier_of, split_frozen_prefix
from transfer_core.models.base import LoadedModel

LAST_BLOCK = FineTuneProtocol(trainable="last_blocks", last_blocks=1, epochs=2, min_steps=0, batch_size=8,
                              learning_rates=(0.1, 0.02), val_fraction=0.25, test_fraction=0.25)
CPU = torch.device("cpu")


def images(count=6, seed=0):
    return torch.randn(count, 3, 12, 12, generator=torch.Generator().manual_seed(seed))


class SkipAround(nn.Module):
    """A residual network: the frozen stem's output is used again after the trained block."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.block = nn.Conv2d(4, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        stem = torch.relu(self.stem(x))
        return self.pool(stem + self.block(stem)).flatten(1)


class Branchy(SkipAround):
    """Data-dependent control flow: fx cannot trace it."""

    def forward(self, x):
        stem = self.stem(x)
        return super().forward(x) if stem.mean() > 0 else -super().forward(x)


class BatchSizeAfter(SkipAround):
    """Uses the batch size (computed in the frozen front) after the trained block: not a per-image value."""

    def forward(self, x):
        size = x.shape[0]
        return self.pool(self.block(torch.relu(self.stem(x)))).reshape(size, -1)


def test_the_split_reproduces_the_network_including_skip_connections():
    network = SkipAround().eval()
    split = split_frozen_prefix(network, ["block"])
    frontier = frontier_of(split, [images()], CPU, None, network)
    assert [tuple(value.shape) for value in frontier] == [(6, 4, 12, 12)]
    with torch.no_grad():
        torch.testing.assert_close(split.suffix(*frontier), network(images()), rtol=0, atol=0)
        torch.testing.assert_close(frontier[0], torch.relu(network.stem(images())))
    assert split.suffix.get_submodule("block") is network.block  # trained under its own name


def test_head_only_training_keeps_the_features_as_the_frontier():
    network = SkipAround().eval()
    split = split_frozen_prefix(network, [])
    (features,) = frontier_of(split, [images()], CPU, None, network)
    with torch.no_grad():
        torch.testing.assert_close(features, network(images()), rtol=0, atol=0)


@pytest.mark.parametrize("network, trained", [(SkipAround(), [""]), (Branchy(), ["block"])])
def test_no_split_when_everything_trains_or_tracing_fails(network, trained):
    assert split_frozen_prefix(network.eval(), trained) is None


def test_a_value_that_is_not_per_image_refuses_the_split():
    network = BatchSizeAfter().eval()
    split = split_frozen_prefix(network, ["block"])
    assert split is not None and frontier_of(split, [images()], CPU, None, network) is None


def test_a_split_that_does_not_reproduce_the_network_is_refused():
    network = SkipAround().eval()
    split = split_frozen_prefix(network, ["block"])
    other = SkipAround().eval()  # different random weights: the check must notice
    assert frontier_of(split, [images()], CPU, None, other) is None


@pytest.mark.parametrize("trainable", ["last_blocks", "head"])
def test_fine_tuning_on_the_precomputed_prefix_equals_the_full_network(tmp_path, monkeypatch, trainable):
    protocol = dataclasses.replace(LAST_BLOCK, trainable=trainable)
    fast = fine_tune(tiny_cnn(), brightness_dataset(), protocol=protocol, device="cpu", cache_dir=tmp_path / "a")
    monkeypatch.setattr(finetune_module, "split_frozen_prefix", lambda *_: None)
    full = fine_tune(tiny_cnn(), brightness_dataset(), protocol=protocol, device="cpu", cache_dir=tmp_path / "b")
    assert fast.protocol["frozen_prefix_computed_once"] and not full.protocol["frozen_prefix_computed_once"]
    assert fast.protocol["trained_blocks"] == full.protocol["trained_blocks"]
    for ours, theirs in zip(fast.grid, full.grid):
        assert ours["epoch_losses"] == pytest.approx(theirs["epoch_losses"], rel=1e-5)
        assert ours["val"] == theirs["val"] and ours["test"] == theirs["test"]
    assert fast.accuracy == full.accuracy


def test_an_untraceable_model_still_fine_tunes(tmp_path):
    model = tiny_cnn()
    torch.manual_seed(0)
    card = dataclasses.replace(model.card, model_id="test:branchy", feature_dim=4)
    branchy = LoadedModel("test:branchy", Branchy().eval(), model.preprocessing, card, "branchy-seed0")
    result = fine_tune(branchy, brightness_dataset(), protocol=LAST_BLOCK, device="cpu", cache_dir=tmp_path)
    assert not result.protocol["frozen_prefix_computed_once"]
    assert result.protocol["trained_blocks"] and all(0.0 <= point["val"]["accuracy"] <= 1.0 for point in result.grid)
