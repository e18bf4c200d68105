"""The fine-tuning protocol's record and cache key, and the head it trains: standardised features make the scale
of a model's features irrelevant."""

import copy
import dataclasses

import pytest
import torch
from test_groundtruth_finetune import PREPROCESSING, brightness_dataset, tiny_cnn
from torch import nn

from transfer_core.groundtruth import FineTuneProtocol, fine_tune
from transfer_core.groundtruth import protocol as protocol_module
from transfer_core.groundtruth.finetune import run_key
from transfer_core.groundtruth.head import INPUT_NORM, new_head
from transfer_core.models.base import LoadedModel
from transfer_core.models.fingerprint import model_fingerprint

SMALL = FineTuneProtocol(trainable="last_blocks", last_blocks=1, epochs=3, min_steps=0, batch_size=8,
                         learning_rates=(0.1, 0.01), val_fraction=0.25, test_fraction=0.25)


class Scaled(nn.Module):
    """Multiplies the features by a constant (no parameters: not a block of its own)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, features):
        return features * self.factor


def scaled_cnn(factor: float) -> LoadedModel:
    """The tiny CNN with its features multiplied by ``factor`` (the same weights for every factor)."""
    base = tiny_cnn()
    extractor = nn.Sequential(*base.extractor, Scaled(factor)).eval()
    card = dataclasses.replace(base.card, model_id=f"test:tiny-cnn-x{factor:g}")
    return LoadedModel(card.model_id, extractor, PREPROCESSING, card,
                       model_fingerprint([extractor], PREPROCESSING, "penultimate", f"tiny-x{factor:g}"))


@pytest.mark.parametrize("trainable", ["head", "last_blocks"])
def test_features_scaled_by_1e3_or_1e_3_train_to_the_same_accuracy(tmp_path, trainable):
    protocol = dataclasses.replace(SMALL, trainable=trainable)
    results = {factor: fine_tune(scaled_cnn(factor), brightness_dataset(), protocol=protocol, device="cpu",
                                 cache_dir=tmp_path / f"{factor:g}") for factor in (1.0, 1e-3, 1e3)}
    plain = results[1.0]
    assert plain.collapsed is None and plain.accuracy >= 0.8
    for factor in (1e-3, 1e3):
        assert results[factor].accuracy == plain.accuracy and results[factor].collapsed is None
        for ours, theirs in zip(results[factor].grid, plain.grid):
            assert ours["val"] == theirs["val"] and ours["test"] == theirs["test"]
            assert ours["epoch_losses"] == pytest.approx(theirs["epoch_losses"], rel=1e-3, abs=1e-4)


def test_without_standardisation_the_scale_decides_the_outcome(tmp_path):
    """The check above can fail: a head on raw features at 1e3 × scale does not train like the unscaled one."""
    protocol = dataclasses.replace(SMALL, trainable="head", standardise_features=False)
    plain = fine_tune(scaled_cnn(1.0), brightness_dataset(), protocol=protocol, device="cpu", cache_dir=tmp_path / "a")
    large = fine_tune(scaled_cnn(1e3), brightness_dataset(), protocol=protocol, device="cpu", cache_dir=tmp_path / "b")
    assert large.grid[0]["epoch_losses"][0] > 5 * plain.grid[0]["epoch_losses"][0]


def test_the_standardised_head_folds_into_one_linear_layer():
    features = torch.randn(50, 6, generator=torch.Generator().manual_seed(0)) * torch.tensor([1e-3, 1, 10, 1e3, 5, 0])
    head = new_head(features, 6, 3)
    assert torch.equal(head(features), torch.zeros(50, 3))  # zero-initialised: every run starts at log C
    torch.manual_seed(1)
    nn.init.normal_(head.linear.weight)
    nn.init.normal_(head.linear.bias)
    centred = features.double() - features.double().mean(0)
    scale = INPUT_NORM / centred.norm(dim=1).mean()  # one scale for every dimension: a mean norm of INPUT_NORM
    expected = (centred * scale) @ head.linear.weight.double().T + head.linear.bias.double()
    assert torch.allclose(head(features).double(), expected, rtol=1e-4, atol=1e-4)
    assert torch.allclose(head.folded()(features), head(features), rtol=1e-4, atol=1e-3)
    rescaled = new_head(features * 1e3, 6, 3)
    rescaled.linear.load_state_dict(head.linear.state_dict())
    assert torch.allclose(rescaled(features * 1e3), head(features), rtol=1e-4, atol=1e-4)


def test_the_protocol_record_round_trips(tmp_path):
    protocol = FineTuneProtocol(learning_rates=(0.3, 0.03), weight_decays=(0.0, 1e-4), max_grad_norm=None,
                                warmup_fraction=0.25, standardise_features=False)
    assert FineTuneProtocol.from_dict(protocol.to_dict()) == protocol
    assert FineTuneProtocol.from_dict(copy.deepcopy(protocol.settings())) == protocol
    result = fine_tune(tiny_cnn(), brightness_dataset(), protocol=SMALL, device="cpu", cache_dir=tmp_path)
    assert FineTuneProtocol.from_dict(result.protocol) == SMALL  # a result's record gives its protocol back


def test_the_cache_key_follows_the_settings_and_not_the_prose(monkeypatch):
    model, dataset = tiny_cnn(), brightness_dataset()
    key = run_key(model, dataset, SMALL)
    monkeypatch.setitem(protocol_module.DESCRIPTION, "optimizer", "reworded: stochastic gradient descent")
    monkeypatch.setitem(protocol_module.DESCRIPTION, "a new note", "more words")
    assert SMALL.to_dict()["optimizer"].startswith("reworded") and run_key(model, dataset, SMALL) == key
    for change in ({"max_grad_norm": 1.0}, {"warmup_fraction": 0.0}, {"standardise_features": False},
                   {"learning_rates": (0.1,)}, {"min_steps": 50}, {"head_lr_scale": 3.0}):
        assert run_key(model, dataset, dataclasses.replace(SMALL, **change)) != key


@pytest.mark.parametrize("changes, message", [
    ({"warmup_fraction": 1.0}, "warmup_fraction"), ({"max_grad_norm": 0.0}, "max_grad_norm"),
    ({"max_grad_norm": float("inf")}, "max_grad_norm"), ({"standardise_features": "yes"}, "standardise_features"),
    ({"min_steps": -1}, "min_steps"), ({"min_steps": 2.5}, "min_steps"), ({"head_lr_scale": 0.0}, "head_lr_scale"),
    ({"head_lr_scale": float("nan")}, "head_lr_scale"), ({"head_lr_scale": True}, "head_lr_scale"),
    ({"head_lr_scale": 1e6}, "head_lr_scale"),
])
def test_bad_new_settings_get_a_clear_error(changes, message):
    with pytest.raises(Exception, match=message):
        FineTuneProtocol(**changes)


def test_a_small_training_split_trains_for_at_least_min_steps(tmp_path):
    """20 training images in batches of 8 make 3 steps an epoch (8, 8, 4): 3 epochs are 9 steps, min_steps=20
    makes 7 epochs (21 steps), and the progress total counts them."""
    reports = []
    protocol = dataclasses.replace(SMALL, learning_rates=(0.1,), min_steps=20)
    result = fine_tune(tiny_cnn(), brightness_dataset(), protocol=protocol, device="cpu", cache_dir=tmp_path,
                       progress=lambda done, total, eta, message: reports.append((done, total)))
    assert result.protocol["split_sizes"]["train"] == 20 and result.protocol["steps_per_epoch"] == 3
    assert result.protocol["epochs_run"] == 7 and len(result.grid[0]["epoch_losses"]) == 7
    assert reports[-1] == (21, 21)
    few = fine_tune(tiny_cnn(), brightness_dataset(), protocol=dataclasses.replace(protocol, min_steps=5),
                    device="cpu", cache_dir=tmp_path)
    assert few.protocol["epochs_run"] == 3  # the epochs already make more steps than min_steps


def test_the_heads_learning_rate_is_scaled_by_head_lr_scale(tmp_path):
    """Training only the head, lr 0.01 with the head's rate × 10 is lr 0.1 (the same schedule, weight decay and
    clipping); with blocks trained too it is not (they keep 0.01)."""
    head_only = dataclasses.replace(SMALL, trainable="head", learning_rates=(0.01,), head_lr_scale=10.0)
    scaled = fine_tune(tiny_cnn(), brightness_dataset(), protocol=head_only, device="cpu", cache_dir=tmp_path)
    plain = fine_tune(tiny_cnn(), brightness_dataset(), device="cpu", cache_dir=tmp_path,
                      protocol=dataclasses.replace(head_only, learning_rates=(0.1,), head_lr_scale=1.0))
    assert scaled.grid[0]["epoch_losses"] == pytest.approx(plain.grid[0]["epoch_losses"], rel=1e-4, abs=1e-6)
    assert scaled.grid[0]["val"] == plain.grid[0]["val"]
    with_blocks = dataclasses.replace(head_only, trainable="last_blocks")
    blocks = fine_tune(tiny_cnn(), brightness_dataset(), protocol=with_blocks, device="cpu", cache_dir=tmp_path)
    blocks_fast = fine_tune(tiny_cnn(), brightness_dataset(), device="cpu", cache_dir=tmp_path,
                            protocol=dataclasses.replace(with_blocks, learning_rates=(0.1,), head_lr_scale=1.0))
    assert blocks.grid[0]["epoch_losses"] != pytest.approx(blocks_fast.grid[0]["epoch_losses"], rel=1e-3)
