"""The long-range detector: an encoder and a linear head to one logit per label cell."""

from __future__ import annotations

import torch
from torch import nn

from ros_ssl.models.encoders import Encoder


class Detector(nn.Module):
    """``forward(x (B, 3, H, W) normalised) -> logits (B, A, B)``; sigmoid gives obstacle probabilities.

    A x B is the label shape: sensors x distances, or grid x x grid y. ``feature_norm`` standardises the
    features (BatchNorm without affine parameters, still a linear map at inference) before the head: a
    linear probe on a frozen pretrained encoder then learns at the same rate whatever the feature scale.
    """

    def __init__(self, encoder: Encoder, label_shape: tuple[int, int], dropout: float = 0.0,
                 feature_norm: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.label_shape = (int(label_shape[0]), int(label_shape[1]))
        self.norm = nn.BatchNorm1d(encoder.out_dim, affine=False) if feature_norm else nn.Identity()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(encoder.out_dim, self.label_shape[0] * self.label_shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.dropout(self.norm(self.encoder(x))))
        return logits.view(-1, *self.label_shape)
