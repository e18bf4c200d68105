"""The new head fine-tuning trains: a linear layer on standardised features, the statistics fixed inside it.

Pretrained extractors emit features on very different scales (the pooled features of the HED VGG16, fed BGR 0–255
inputs, have a mean norm of 193; CRAFT's of 0.41; an ImageNet MobileNetV2's of 19), and one learning-rate grid cannot
train a fresh head on all of them: the head diverges on the first or hardly moves on the second. Standardising the
head's inputs with the training images' feature statistics under the pretrained weights (centred, and divided by
their overall spread; the linear probe standardises each dimension, Kornblith et al. CVPR'19) puts every model on
the same footing. The statistics are fixed buffers of the
head, so the model stays one network (:meth:`StandardisedHead.folded` gives the equivalent plain linear layer).
The weights start at zero, so every run starts from the same loss (log C for C balanced classes).
"""

from __future__ import annotations

import torch
from torch import nn

CONSTANT = 1e-7  # features whose spread is below this × their largest value are constant (float32 rounding)
# The head's centred inputs get this mean norm: the middle of the range where a fixed grid trained the zoo's ImageNet
# models well (their centred pooled features on the textile demo: 2.7 Xception to 6.6 MobileNetV2-dogbreeds; HED's
# 13.5 around a mean of norm 193, CRAFT's 0.11). Unit variance per dimension (norm √D, 36 for D = 1280) made the
# head's steps ~80× larger and sent MobileNetV2's training loss to 300 at lr 1e-2 (measured).
INPUT_NORM = 4.0


class StandardisedHead(nn.Module):
    """``linear((x − shift) · scale)``: ``shift`` and ``scale`` (per dimension) are fixed, ``linear`` trains (zero at
    the start)."""

    def __init__(self, shift: torch.Tensor, scale: torch.Tensor, outputs: int):
        super().__init__()
        self.register_buffer("shift", shift.detach().float().clone())
        self.register_buffer("scale", scale.detach().float().clone())
        self.linear = nn.Linear(len(shift), outputs)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear((features - self.shift) * self.scale)

    def folded(self) -> nn.Linear:
        """The plain linear layer computing the same function (the statistics folded into its weights)."""
        weight = self.linear.weight * self.scale
        folded = nn.Linear(weight.shape[1], weight.shape[0]).to(weight.device)
        with torch.no_grad():
            folded.weight.copy_(weight)
            folded.bias.copy_(self.linear.bias - weight @ self.shift)
        return folded


def new_head(features: torch.Tensor | None, width: int, outputs: int) -> StandardisedHead:
    """A head that centres its inputs on the mean of ``features`` [N, width] (training images only) and scales them
    by one number, so that their mean norm is :data:`INPUT_NORM`; or passes them through unchanged when ``features``
    is None. One scale for all dimensions, not one per dimension: with the backbone's last blocks training, a
    near-constant feature divided by its own tiny spread turns small weight changes into huge logits."""
    if features is None:
        return StandardisedHead(torch.zeros(width), torch.ones(width), outputs)
    features = features.double()
    centred = features - features.mean(dim=0)
    norm = centred.norm(dim=1).mean()
    constant = norm <= CONSTANT * features.abs().max() * width ** 0.5
    scale = torch.tensor(1.0, dtype=torch.float64) if constant else INPUT_NORM / norm
    return StandardisedHead(features.mean(dim=0), scale.expand(width), outputs)
