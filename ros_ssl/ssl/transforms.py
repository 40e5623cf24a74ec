"""View augmentations for small robot camera frames, as plain callables on (3, H, W) uint8 tensors.

The near floor at the bottom of a robot image is where the obstacles that matter appear, so crops
always keep the bottom rows (``FloorCrop``) instead of sampling anywhere as ImageNet recipes do.
Colour jitter, grayscale and blur come from ``torchvision.transforms.v2``. ``MultiView`` returns a
list of views, one per transform.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from ros_ssl.ssl.recipe import AugmentConfig

Transform = Callable[[Tensor], Tensor]


class FloorCrop:
    """Random crop whose bottom edge is the image's bottom edge, resized back to the input size.

    Area fraction and aspect ratio are drawn like ``RandomResizedCrop``; the horizontal position is
    uniform; vertically the crop is anchored at the bottom, so the floor nearest the robot stays in view.
    """

    def __init__(self, scale: tuple[float, float] = (0.35, 1.0),
                 ratio: tuple[float, float] = (0.8, 1.25)) -> None:
        self.scale = scale
        self.log_ratio = (math.log(ratio[0]), math.log(ratio[1]))

    def __call__(self, img: Tensor) -> Tensor:
        h, w = img.shape[-2:]
        area = torch.empty(1).uniform_(*self.scale).item() * h * w
        ratio = math.exp(torch.empty(1).uniform_(*self.log_ratio).item()) * w / h
        cw = min(w, max(1, round(math.sqrt(area * ratio))))
        ch = min(h, max(1, round(math.sqrt(area / ratio))))
        left = int(torch.randint(0, w - cw + 1, (1,)).item())
        crop: Tensor = TF.resized_crop(img, h - ch, left, ch, cw, [h, w], antialias=True)
        return crop


def view_transform(cfg: AugmentConfig) -> Transform:
    """One random view: floor crop, flip, colour jitter, grayscale, blur (uint8 in, uint8 out)."""
    cfg.validate()
    transform: Transform = v2.Compose([
        FloorCrop(cfg.crop_scale, cfg.crop_ratio),
        v2.RandomHorizontalFlip(cfg.flip),
        v2.RandomApply([v2.ColorJitter(cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue)], p=cfg.jitter),
        v2.RandomGrayscale(cfg.grayscale),
        v2.RandomApply([v2.GaussianBlur(5, cfg.blur_sigma)], p=cfg.blur),
    ])
    return transform


class MultiView:
    """Apply each transform to the same image: returns a list of views, one per transform."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img: Tensor) -> list[Tensor]:
        return [t(img) for t in self.transforms]
