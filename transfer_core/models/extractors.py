"""Feature-extractor modules shared by the adapters: pooling to [B, D], a named layer, timm pre-logits."""

from __future__ import annotations

import torch
from torch import nn

from transfer_core.models.errors import ModelLoadError


def pool_to_vectors(output: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] → global average pool [B, C]; [B, N, C] tokens → mean over tokens; [B, D] unchanged."""
    if output.ndim == 4:
        return output.mean(dim=(2, 3))
    if output.ndim == 3:
        return output.mean(dim=1)
    if output.ndim == 2:
        return output
    raise ModelLoadError(f"cannot pool a layer output of shape {tuple(output.shape)} to [B, D]; choose another layer")


torch.fx.wrap("pool_to_vectors")  # one opaque call in traced graphs (fine-tuning's frozen-prefix split)


class GlobalPool(nn.Module):
    """Run ``body`` and pool its output to [B, D] (global average pool of a feature map)."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return pool_to_vectors(self.body(images))


class TimmPreLogits(nn.Module):
    """A timm model's pooled pre-logits features: ``forward_head(forward_features(x), pre_logits=True)``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(images), pre_logits=True)


class _LayerReached(Exception):
    def __init__(self, output: torch.Tensor):
        super().__init__()
        self.output = output


class LayerFeatures(nn.Module):
    """The pooled output of the named submodule ``layer`` of ``network`` (its first call in a forward pass).

    The forward pass stops as soon as that layer has run, so early layers cost only what they compute.
    """

    def __init__(self, network: nn.Module, layer: str):
        super().__init__()
        modules = dict(network.named_modules())
        if layer not in modules or layer == "":
            candidates = [name for name, _ in network.named_children()]
            raise ModelLoadError(
                f"unknown layer {layer!r}; choose a named block of this model, e.g. one of {candidates[:20]} "
                "(any name from the model's named_modules() works)"
            )
        self.network = network
        self.layer = layer
        modules[layer].register_forward_hook(self._stop)

    @staticmethod
    def _stop(module: nn.Module, inputs, output) -> None:
        raise _LayerReached(output[0] if isinstance(output, (tuple, list)) else output)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        try:
            self.network(images)
        except _LayerReached as reached:
            return pool_to_vectors(reached.output)
        raise ModelLoadError(f"layer {self.layer!r} is never called in this model's forward pass; choose another layer")
