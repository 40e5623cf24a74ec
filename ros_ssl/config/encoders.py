"""Encoder names and default input normalisation, torch-free so recipes validate without importing torch.

``ros_ssl.models`` builds the encoders these names stand for (a test keeps the two lists equal).
"""

from __future__ import annotations

ENCODER_NAMES: tuple[str, ...] = ("paper_cnn", "resnet18", "mobilenet_v3_small")

# ImageNet statistics, RGB order: the default for every encoder (torchvision convention).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
