"""Strict weight mapping checks value types: integer tensors never become float weights by a silent cast."""

import numpy as np
import pytest
import torch
from torch import nn

from transfer_core.models import ModelLoadError
from transfer_core.models.conversion import keras_layout, load_by_name, load_by_order, target_tensors


def small_network():
    return nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))


def test_load_by_name_refuses_an_integer_weight_and_keeps_the_model_untouched():
    network = small_network()
    before = {name: tensor.clone() for name, tensor in network.state_dict().items()}
    state = {name: torch.full_like(tensor, 2) for name, tensor in network.state_dict().items()}
    state["1.running_var"] = torch.ones(3, dtype=torch.int32)
    with pytest.raises(ModelLoadError, match="tensor '1.running_var' holds torch.int32 values where the model "
                                             "expects torch.float32 weights"):
        load_by_name(network, state, what="ckpt.pth")
    assert all(torch.equal(before[name], tensor) for name, tensor in network.state_dict().items())


def test_load_by_name_takes_integer_counters_and_half_precision_weights():
    network = small_network()
    state = {name: torch.full_like(tensor, 2) for name, tensor in network.state_dict().items()}
    state["0.weight"] = state["0.weight"].half()
    assert state["1.num_batches_tracked"].dtype == torch.int64
    load_by_name(network, state)
    assert network[0].weight.dtype == torch.float32 and bool((network[0].weight == 2).all())
    assert int(network[1].num_batches_tracked) == 2


def test_load_by_order_refuses_an_integer_array_for_a_float_weight():
    network = small_network()
    source = [(f"layer{i}", np.ones(tuple(t.shape), dtype=np.float32))
              for i, (_, t) in enumerate(target_tensors(network))]
    source[1] = ("layer1", np.ones(3, dtype=np.int64))
    with pytest.raises(ModelLoadError, match="tensor 'layer1' holds torch.int64 values where the model expects "
                                             "torch.float32 weights"):
        load_by_order(network, source, layout=keras_layout, what="weights.h5")
