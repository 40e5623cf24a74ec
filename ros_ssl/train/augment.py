"""Training augmentation on uint8 batches: photometric changes and a horizontal flip that mirrors labels.

Photometric changes (colour/brightness jitter, grayscale, noise) leave labels alone. A horizontal flip
shows the world mirrored left <-> right, so the labels must follow: for the sensor x distance geometry
the sensor axis is permuted to each sensor's mirror twin (needs a mirror-symmetric sensor layout, checked
on the profile's poses: y -> -y, yaw -> -yaw); for the grid geometry the lateral axis is reversed (needs
cell centres symmetric about y = 0). Without that symmetry the flip is switched off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms import v2

from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.config.profile import RobotProfile
from ros_ssl.train.recipe import AugmentConfig

POSE_TOL = 1e-3


@dataclass(frozen=True)
class LabelMirror:
    """How labels change under a horizontal image flip: ``labels.index_select(axis, index)``."""

    axis: int  # label axis (0 = A, 1 = B) of a single (A, B) label array
    index: tuple[int, ...]

    def apply(self, labels: torch.Tensor) -> torch.Tensor:
        """Mirror (..., A, B) labels."""
        idx = torch.as_tensor(self.index, device=labels.device)
        return labels.index_select(labels.dim() - 2 + self.axis, idx)


def label_mirror(geometry: LabelGeometry, profile: RobotProfile) -> LabelMirror | None:
    """The label permutation of a horizontal flip, or None if the geometry is not mirror-symmetric."""
    if geometry.is_grid:
        lateral = np.asarray(geometry.y, np.float64)
        symmetric = np.allclose(lateral, -lateral[::-1], atol=POSE_TOL)
        return LabelMirror(1, tuple(range(len(lateral) - 1, -1, -1))) if symmetric else None
    poses = {s.name: (s.x, s.y, s.yaw) for s in profile.proximity.sensors}
    names = list(geometry.sensors)
    if any(n not in poses for n in names):
        return None
    index = []
    for name in names:
        x, y, yaw = poses[name]
        twins = [j for j, other in enumerate(names)
                 if np.allclose(poses[other], (x, -y, -yaw), atol=POSE_TOL)]
        if not twins:
            return None
        index.append(twins[0])
    return LabelMirror(0, tuple(index))


class Augment:
    """``(images (B, 3, H, W) uint8, labels, mask) -> augmented copies``, independently per frame."""

    def __init__(self, config: AugmentConfig, mirror: LabelMirror | None) -> None:
        self.config = config
        self.mirror = mirror
        per_frame: list[v2.Transform] = []
        if max(config.brightness, config.contrast, config.saturation, config.hue) > 0:
            per_frame.append(v2.ColorJitter(config.brightness, config.contrast, config.saturation,
                                            config.hue))
        if config.grayscale > 0:
            per_frame.append(v2.RandomGrayscale(config.grayscale))
        self.per_frame = v2.Compose(per_frame) if per_frame else None
        self.noise = v2.GaussianNoise(sigma=config.noise_sigma) if config.noise > 0 else None

    def __call__(self, images: torch.Tensor, labels: torch.Tensor,
                 mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        images = images.clone()
        n = images.shape[0]
        if self.per_frame is not None:
            for i in range(n):  # ColorJitter draws one set of factors per call: call it per frame
                images[i] = self.per_frame(images[i])
        if self.noise is not None:
            noisy = torch.rand(n) < self.config.noise
            if noisy.any():
                images[noisy] = self.noise(images[noisy])
        if self.mirror is not None and self.config.flip > 0:
            flip = torch.rand(n) < self.config.flip
            if flip.any():
                images[flip] = images[flip].flip(-1)
                labels, mask = labels.clone(), mask.clone()
                labels[flip] = self.mirror.apply(labels[flip])
                mask[flip] = self.mirror.apply(mask[flip])
        return images, labels, mask
