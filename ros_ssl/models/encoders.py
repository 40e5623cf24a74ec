"""Encoders: image (B, 3, H, W) normalised float -> feature (B, out_dim). Shared by the detector and SSL.

- ``paper_cnn``: Nava et al. (2019): three blocks of 3x3 conv (10, 10, 8 filters) + ReLU + 2x2 max-pool,
  flatten, dense 256 + ReLU. The reference baseline.
- ``resnet18`` and ``mobilenet_v3_small``: torchvision backbones (random init, nothing downloaded) with
  the first stride removed so a 64x80 frame ends on a 4x5 map (total stride 16 instead of 32), then a
  spatial neck (1x1 conv to 32 channels, flatten, dense 256). The neck keeps *where* things are: the
  labels are per sensor (left..right) and distance (bottom..top of the image), which global average
  pooling would throw away.

Every encoder ends on a 256-d feature so heads and SSL projectors fit any of them.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import mobilenet_v3_small, resnet18

from ros_ssl.errors import ConfigError

FEATURE_DIM = 256
NECK_CHANNELS = 32


class Encoder(nn.Module):
    """Base of every encoder: ``forward(x (B, 3, H, W)) -> (B, out_dim)``."""

    out_dim: int


class PaperCNN(Encoder):
    """The paper's small CNN (about 170k parameters at 64x80)."""

    def __init__(self, image_hw: tuple[int, int], filters: tuple[int, ...] = (10, 10, 8)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for f in filters:
            layers += [nn.Conv2d(c, f, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c = f
        self.features = nn.Sequential(*layers)
        h, w = _feature_hw(self.features, image_hw)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, FEATURE_DIM), nn.ReLU(inplace=True))
        self.out_dim = FEATURE_DIM

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.fc(self.features(x))
        return features


class BackboneEncoder(Encoder):
    """A convolutional backbone followed by the spatial neck (1x1 conv, flatten, dense)."""

    def __init__(self, backbone: nn.Module, channels: int, image_hw: tuple[int, int]) -> None:
        super().__init__()
        self.backbone = backbone
        h, w = _feature_hw(backbone, image_hw)
        self.neck = nn.Sequential(
            nn.Conv2d(channels, NECK_CHANNELS, 1, bias=False), nn.BatchNorm2d(NECK_CHANNELS),
            nn.ReLU(inplace=True),
            nn.Flatten(), nn.Linear(NECK_CHANNELS * h * w, FEATURE_DIM), nn.ReLU(inplace=True))
        self.out_dim = FEATURE_DIM

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.neck(self.backbone(x))
        return features


def _resnet18(image_hw: tuple[int, int]) -> Encoder:
    net = resnet18(weights=None)
    net.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)  # was 7x7 stride 2
    body = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool,
                         net.layer1, net.layer2, net.layer3, net.layer4)
    return BackboneEncoder(body, 512, image_hw)


def _mobilenet_v3_small(image_hw: tuple[int, int]) -> Encoder:
    net = mobilenet_v3_small(weights=None)
    net.features[0][0].stride = (1, 1)  # first conv was stride 2
    return BackboneEncoder(net.features, 576, image_hw)


def _paper_cnn(image_hw: tuple[int, int]) -> Encoder:
    return PaperCNN(image_hw)


ENCODERS = {"paper_cnn": _paper_cnn, "resnet18": _resnet18, "mobilenet_v3_small": _mobilenet_v3_small}


def build_encoder(name: str, image_hw: tuple[int, int]) -> Encoder:
    """Encoder ``name`` (one of ENCODERS) for frames of ``image_hw`` = (height, width) pixels."""
    if name not in ENCODERS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(ENCODERS)}")
    h, w = int(image_hw[0]), int(image_hw[1])
    if h < 16 or w < 16:
        raise ConfigError(f"image size {h}x{w} is too small for {name}; use at least 16x16 pixels")
    return ENCODERS[name]((h, w))


def _feature_hw(features: nn.Module, image_hw: tuple[int, int]) -> tuple[int, int]:
    """Spatial size of ``features``' output for one frame of ``image_hw`` (a dry run, no gradients)."""
    was_training = features.training
    features.eval()
    with torch.no_grad():
        out = features(torch.zeros(1, 3, *image_hw))
    features.train(was_training)
    return int(out.shape[-2]), int(out.shape[-1])
