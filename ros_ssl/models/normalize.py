"""Input normalisation: the one place that turns uint8 RGB frames into the float tensors models see.

Runs store their mean/std in config.yaml and model packages in metadata.json, so the edge runtime
repeats exactly this arithmetic without torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ros_ssl.config.encoders import IMAGENET_MEAN, IMAGENET_STD


def normalize(images: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
              std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """(B, 3, H, W) uint8 RGB -> float32 ``(x / 255 - mean) / std``, keeping the memory format."""
    m = torch.as_tensor(mean, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255.0 - m) / s


def to_chw(frames: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 frames as stored -> (B, 3, H, W) view (channels_last strides, no copy)."""
    return frames.permute(0, 3, 1, 2)
