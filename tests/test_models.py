"""Encoders and the detector: the shared interface (out_dim, (B, 3, H, W) -> (B, out_dim)) at several
sizes."""

from __future__ import annotations

import pytest
import torch

from ros_ssl.errors import ConfigError
from ros_ssl.models import ENCODERS, FEATURE_DIM, Detector, build_encoder, normalize, to_chw

torch.set_num_threads(1)


@pytest.mark.parametrize("name", sorted(ENCODERS))
@pytest.mark.parametrize("hw", [(64, 80), (48, 64)])
def test_encoder_interface_and_detector_shape(name: str, hw: tuple[int, int]) -> None:
    encoder = build_encoder(name, hw)
    assert encoder.out_dim == FEATURE_DIM
    x = torch.randn(2, 3, *hw)
    assert encoder(x).shape == (2, FEATURE_DIM)
    detector = Detector(encoder, (5, 31))
    assert detector(x).shape == (2, 5, 31)


def test_paper_cnn_matches_the_paper() -> None:
    encoder = build_encoder("paper_cnn", (64, 80))
    convs = [m for m in encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [10, 10, 8]
    assert all(c.kernel_size == (3, 3) for c in convs)
    # 64x80 -> three 2x2 pools -> 8x10 map of 8 channels -> dense 256
    assert encoder.fc[1].in_features == 8 * 8 * 10 and encoder.fc[1].out_features == 256


def test_unknown_encoder_and_tiny_images_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown model 'vgg'"):
        build_encoder("vgg", (64, 80))
    with pytest.raises(ConfigError, match="too small"):
        build_encoder("resnet18", (8, 8))


def test_normalize_uses_rgb_mean_std_and_keeps_layout() -> None:
    frames = torch.full((1, 4, 5, 3), 255, dtype=torch.uint8)
    frames[..., 1] = 0
    x = normalize(to_chw(frames), (0.5, 0.5, 0.5), (0.25, 0.5, 1.0))
    assert x.shape == (1, 3, 4, 5) and x.dtype == torch.float32
    assert torch.allclose(x[0, :, 0, 0], torch.tensor([2.0, -1.0, 0.5]))


def test_feature_norm_standardises_features_for_linear_probes() -> None:
    torch.manual_seed(0)
    detector = Detector(build_encoder("paper_cnn", (32, 40)), (2, 3), feature_norm=True)
    detector.encoder.requires_grad_(False)
    trainable = [n for n, p in detector.named_parameters() if p.requires_grad]
    assert trainable == ["head.weight", "head.bias"]  # the norm has no parameters: still a linear probe
    raw = detector.encoder(torch.randn(16, 3, 32, 40))
    active = raw.std(0) > 0.01
    normed = detector.norm(raw).std(0, unbiased=False)[active]
    assert active.sum() > 10 and torch.allclose(normed, torch.ones_like(normed), atol=0.05)
