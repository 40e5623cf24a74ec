"""View augmentations for small robot camera frames, as plain callables on (3, H, W) uint8 tensors.

The near floor at the bottom of a robot image is where the obstacles that matter appear, so crops
always keep the bottom rows (``FloorCrop``) instead of sampling anywhere as ImageNet recipes do.
Colour jitter, grayscale and blur come from ``torchvision.transforms.v2``; with ``batch_colour`` the
colour part moves to ``BatchColour``: one random 3x3 colour matrix per view applied to a whole batch on
the device, cheap enough to rotate hue around the full circle. Floors and walls of a simulated world
differ mainly in colour and texture, so a strong colour change is what takes that shortcut away from a
contrastive loss. ``MultiView`` returns a list of views, one per transform.
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
    """One random view: floor crop, flip, colour jitter, grayscale, blur (uint8 in, uint8 out).

    With ``cfg.batch_colour`` colour jitter, grayscale and blur are left to ``BatchColour``; a full-frame
    crop (``crop_scale`` (1, 1)) is left out, since it would only resample the frame onto itself.
    """
    cfg.validate()
    steps: list[Transform] = []
    if cfg.crop_scale != (1.0, 1.0):
        steps.append(FloorCrop(cfg.crop_scale, cfg.crop_ratio))
    if cfg.flip > 0:
        steps.append(v2.RandomHorizontalFlip(cfg.flip))
    if not cfg.batch_colour:
        steps += [v2.RandomApply([v2.ColorJitter(cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue)],
                                 p=cfg.jitter),
                  v2.RandomGrayscale(cfg.grayscale),
                  v2.RandomApply([v2.GaussianBlur(5, cfg.blur_sigma)], p=cfg.blur)]
    transform: Transform = v2.Compose(steps) if steps else v2.Identity()
    return transform


# ITU-R 601 luma weights: the grey that grayscale and saturation mix towards.
LUMA = (0.299, 0.587, 0.114)


class BatchColour:
    """Colour jitter + grayscale for a (B, 3, H, W) batch in [0, 255]: one colour matrix per view.

    With probability ``jitter`` a view gets brightness, saturation and a hue rotation (about the grey
    axis, up to ``hue`` turns either way: 0.5 reaches every hue) as one 3x3 matrix, and contrast as a
    blend with its mean grey; with probability ``grayscale`` it becomes grey; with probability ``blur``
    it is blurred (one sigma per batch). One batched matrix product instead of per-frame HSV conversions.
    """

    def __init__(self, cfg: AugmentConfig) -> None:
        self.cfg = cfg

    def __call__(self, x: Tensor) -> Tensor:
        cfg, b, dev = self.cfg, x.shape[0], x.device

        def uniform(spread: float) -> Tensor:
            return 1 + (torch.rand(b, device=dev) * 2 - 1) * spread

        luma = torch.tensor(LUMA, device=dev)
        eye = torch.eye(3, device=dev).expand(b, 3, 3)
        grey = torch.ones(3, 1, device=dev) * luma[None, :]  # rows: every output channel = luma . rgb
        on = (torch.rand(b, device=dev) < cfg.jitter).float()
        sat = 1 + (uniform(cfg.saturation) - 1) * on
        bright = 1 + (uniform(cfg.brightness) - 1) * on
        contrast = 1 + (uniform(cfg.contrast) - 1) * on
        angle = (torch.rand(b, device=dev) * 2 - 1) * cfg.hue * 2 * math.pi * on
        # Rodrigues rotation about the unit grey axis k = (1, 1, 1) / sqrt(3): cross-product matrix, k k^T.
        cross = torch.tensor([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]], device=dev)
        cross = cross / math.sqrt(3)
        cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
        hue = cos * eye + sin * cross + (1 - cos) * torch.full((3, 3), 1 / 3, device=dev)
        saturation = sat[:, None, None] * eye + (1 - sat[:, None, None]) * grey
        matrix = hue @ saturation * bright[:, None, None]
        gray_p = (torch.rand(b, device=dev) < cfg.grayscale)[:, None, None]
        matrix = torch.where(gray_p, grey @ matrix, matrix)
        flat = torch.bmm(matrix, x.float().flatten(2))  # (B, 3, H*W)
        mean_grey = (luma @ flat).mean(dim=1)  # (B,)
        c = contrast[:, None, None]
        y = (c * flat + (1 - c) * mean_grey[:, None, None]).clamp_(0, 255).view_as(x)
        blurred = torch.nonzero(torch.rand(b, device=dev) < cfg.blur).flatten()
        if len(blurred):
            sigma = float(torch.empty(1).uniform_(*cfg.blur_sigma))
            y[blurred] = TF.gaussian_blur(y[blurred], [5, 5], [sigma, sigma])
        return y


class MultiView:
    """Apply each transform to the same image: returns a list of views, one per transform."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img: Tensor) -> list[Tensor]:
        return [t(img) for t in self.transforms]
