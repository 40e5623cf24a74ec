"""SSL methods: each is an encoder plus the small heads one method trains on top of it.

Every method is an ``nn.Module`` whose ``forward(views, pairs=None)`` returns the scalar loss for a
batch of augmented views ((B, 3, H, W) normalised floats, ``n_views`` of them) and, for the robot-aware
methods, what odometry says about their frames (``PairTargets``); ``after_step`` runs after each
optimiser step. The encoder (``ros_ssl.models.encoders`` interface: ``out_dim``, (B, 3, H, W) ->
(B, out_dim)) is the only part kept after pretraining.

- ``SimCLR``: projection head + NT-Xent; given a ``positives`` mask (the temporal variant) it uses the
  multi-positive NT-Xent instead. Under DDP the negatives are the global batch (``ssl.gather``).
- ``EgoMotion``: SimCLR whose two views are two frames of one approach (a near frame of the same
  recording), plus a head that regresses the odometry pose change between them from the two encoder
  vectors: the encoder must keep where things are and how they move, not just what the floor looks like.
- ``BYOL``: online encoder + projector + predictor regress a momentum target network's projection.
- ``VICReg``: expander + variance/invariance/covariance loss.
- ``Rotation``: predict which of 0/90/180/270 degrees the centre square of a view was rotated by.
- ``MaskedAutoencoder``: reconstruct hidden 8x8 patches (at half resolution) from the encoder's vector.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ros_ssl.errors import ConfigError
from ros_ssl.models.encoders import Encoder
from ros_ssl.ssl import losses
from ros_ssl.ssl.ema import cosine_momentum, ema_update, frozen_copy
from ros_ssl.ssl.gather import gather
from ros_ssl.ssl.heads import mlp
from ros_ssl.ssl.recipe import check_params


@dataclass(frozen=True)
class PairTargets:
    """What odometry says about a batch's frames (robot-aware methods; None for the others)."""

    # (M, M) bool over the global batch's views, view-major: True where two views show the same place.
    positives: Tensor | None = None
    # (B, 3) pose change from each item's view-0 frame to its view-1 frame, scaled to about [-1, 1].
    motion: Tensor | None = None


class SslMethod(nn.Module):
    """Base: holds the encoder; subclasses add heads and define the loss in ``forward``."""

    n_views: int = 2  # augmented views per sample the data pipeline must produce

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    @classmethod
    def from_params(cls, encoder: Encoder, image_hw: tuple[int, int], params: Mapping[str, Any]) -> SslMethod:
        """The method around ``encoder`` with hyperparameters ``params``; only some use ``image_hw``."""
        return cls(encoder, **params)

    def after_step(self, step: int, total_steps: int) -> None:
        """Called after optimiser step ``step`` (0-based) of ``total_steps``; BYOL moves its target here."""


class SimCLR(SslMethod):
    """SimCLR (Chen et al. 2020): two views, projection MLP, NT-Xent over the 2N batch."""

    def __init__(self, encoder: Encoder, proj_hidden: int = 512, proj_dim: int = 128,
                 temperature: float = 0.5) -> None:
        super().__init__(encoder)
        self.projector = mlp(encoder.out_dim, proj_hidden, proj_dim)
        self.temperature = temperature

    def forward(self, views: list[Tensor], pairs: PairTargets | None = None) -> Tensor:
        return self.contrast(self.encoder(torch.cat(views)), views[0].shape[0], pairs)

    def contrast(self, h: Tensor, n: int, pairs: PairTargets | None) -> Tensor:
        """NT-Xent over the global batch of encoder vectors ``h`` (view-major, ``n`` local items per view)."""
        z0, z1 = self.projector(h).split(n)
        z0, z1 = gather(z0), gather(z1)
        if pairs is None or pairs.positives is None:
            return losses.nt_xent(z0, z1, self.temperature)
        return losses.multi_positive_nt_xent(torch.cat([z0, z1]), pairs.positives, self.temperature)


class EgoMotion(SimCLR):
    """Robot-aware SimCLR: views are two near frames of one recording; a head regresses their pose change.

    The contrastive part makes two frames of one approach to an obstacle (seen from different
    distances) agree; the motion part (smooth L1 on the odometry change, scaled to about [-1, 1],
    weighted ``motion_weight``) makes the pair of vectors tell how far the robot moved and turned, which
    floor colour cannot.
    """

    def __init__(self, encoder: Encoder, proj_hidden: int = 512, proj_dim: int = 128,
                 temperature: float = 0.2, motion_hidden: int = 256, motion_weight: float = 1.0) -> None:
        super().__init__(encoder, proj_hidden, proj_dim, temperature)
        self.motion_head = mlp(2 * encoder.out_dim, motion_hidden, 3)
        self.motion_weight = motion_weight

    def forward(self, views: list[Tensor], pairs: PairTargets | None = None) -> Tensor:
        n = views[0].shape[0]
        h = self.encoder(torch.cat(views))
        loss = self.contrast(h, n, pairs)
        if pairs is not None and pairs.motion is not None:
            h0, h1 = h.split(n)
            predicted = self.motion_head(torch.cat([h0, h1], dim=1))
            loss = loss + self.motion_weight * F.smooth_l1_loss(predicted, pairs.motion)
        return loss


class BYOL(SslMethod):
    """BYOL (Grill et al. 2020): online network predicts a momentum target's projection of the other view."""

    def __init__(self, encoder: Encoder, proj_hidden: int = 1024, proj_dim: int = 128,
                 pred_hidden: int = 1024, base_momentum: float = 0.99) -> None:
        super().__init__(encoder)
        self.projector = mlp(encoder.out_dim, proj_hidden, proj_dim)
        self.predictor = mlp(proj_dim, pred_hidden, proj_dim)
        self.target_encoder = frozen_copy(encoder)
        self.target_projector = frozen_copy(self.projector)
        self.base_momentum = base_momentum
        self.momentum = base_momentum

    def forward(self, views: list[Tensor], pairs: PairTargets | None = None) -> Tensor:
        n = views[0].shape[0]
        x = torch.cat(views)
        p0, p1 = self.predictor(self.projector(self.encoder(x))).split(n)
        with torch.no_grad():
            t0, t1 = self.target_projector(self.target_encoder(x)).split(n)
        return (losses.byol(p0, t1) + losses.byol(p1, t0)) / 2

    def after_step(self, step: int, total_steps: int) -> None:
        self.momentum = cosine_momentum(step + 1, total_steps, self.base_momentum)
        ema_update(self.target_encoder, self.encoder, self.momentum)
        ema_update(self.target_projector, self.projector, self.momentum)


class VICReg(SslMethod):
    """VICReg (Bardes et al. 2022): 3-layer expander, variance-invariance-covariance loss."""

    def __init__(self, encoder: Encoder, expander_dim: int = 1024, sim_weight: float = 25.0,
                 var_weight: float = 25.0, cov_weight: float = 1.0) -> None:
        super().__init__(encoder)
        self.expander = mlp(encoder.out_dim, expander_dim, expander_dim, layers=3)
        self.weights = (sim_weight, var_weight, cov_weight)

    def forward(self, views: list[Tensor], pairs: PairTargets | None = None) -> Tensor:
        z_a, z_b = self.expander(self.encoder(torch.cat(views))).split(views[0].shape[0])
        return losses.vicreg(z_a, z_b, *self.weights)


def rotate_square(x: Tensor, k: int) -> Tensor:
    """Rotate the centred square of (B, C, H, W) by k * 90 degrees; the rest of the frame becomes 0.

    A 64x80 frame rotated by 90 degrees is no longer 64x80, so only its centred 64x64 square turns. Every
    class (k = 0 included) gets the same zero side bands (0 = the mean colour after normalisation),
    so the bands carry no hint of the rotation and the input keeps the encoder's size.
    """
    h, w = x.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    out = torch.zeros_like(x)
    out[..., top:top + s, left:left + s] = torch.rot90(x[..., top:top + s, left:left + s], k, dims=(-2, -1))
    return out


class Rotation(SslMethod):
    """RotNet (Gidaris et al. 2018): classify by how many quarter turns each view's centre square was rotated.

    Each view gets one random rotation (RotNet feeds all four; one keeps the cost at one pass per view
    and the classes balanced in expectation).
    """

    n_views = 1

    def __init__(self, encoder: Encoder, hidden: int = 256) -> None:
        super().__init__(encoder)
        self.classifier = mlp(encoder.out_dim, hidden, 4)

    def forward(self, views: list[Tensor], pairs: PairTargets | None = None) -> Tensor:
        x = views[0]
        target = torch.randint(0, 4, (x.shape[0],), device=x.device)
        rotated = torch.empty_like(x)
        for k in range(4):
            chosen = target == k
            rotated[chosen] = rotate_square(x[chosen], k)
        return F.cross_entropy(self.classifier(self.encoder(rotated)), target)


def patch_mask(batch: int, image_hw: tuple[int, int], patch: int, ratio: float,
               device: torch.device | None = None) -> Tensor:
    """(B, 1, H, W) bool: True on ``round(ratio * patches)`` random ``patch``-sized squares per image."""
    h, w = image_hw
    gh, gw = math.ceil(h / patch), math.ceil(w / patch)
    k = round(ratio * gh * gw)
    order = torch.rand(batch, gh * gw, device=device).argsort(dim=1)
    grid = torch.zeros(batch, gh * gw, dtype=torch.bool, device=device)
    grid.scatter_(1, order[:, :k], True)
    pixels = grid.view(batch, 1, gh, gw).repeat_interleave(patch, 2).repeat_interleave(patch, 3)
    return pixels[..., :h, :w]


class ConvDecoder(nn.Module):
    """Vector -> (3, H/2, W/2) image: a linear layer to an (H/8, W/8) map, then two 2x transposed convs.

    Half resolution on purpose: a 256-d vector cannot carry pixel detail, and at full resolution the
    decoder would cost tens of times the paper CNN it trains.
    """

    def __init__(self, in_dim: int, image_hw: tuple[int, int], channels: tuple[int, int] = (32, 16)) -> None:
        super().__init__()
        self.out_hw = (image_hw[0] // 2, image_hw[1] // 2)
        self.grid = (math.ceil(image_hw[0] / 8), math.ceil(image_hw[1] / 8))
        self.fc = nn.Linear(in_dim, channels[0] * self.grid[0] * self.grid[1])
        blocks: list[nn.Module] = []
        c_in = channels[0]
        for c_out in (channels[0], channels[1]):
            blocks += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.BatchNorm2d(c_out),
                       nn.ReLU(inplace=True)]
            c_in = c_out
        blocks.append(nn.Conv2d(c_in, 3, 3, padding=1))
        self.up = nn.Sequential(*blocks)

    def forward(self, z: Tensor) -> Tensor:
        x = self.fc(z).view(z.shape[0], -1, *self.grid)
        image: Tensor = self.up(x)
        return image[..., :self.out_hw[0], :self.out_hw[1]]


class MaskedAutoencoder(SslMethod):
    """Masked autoencoder for a CNN encoder: hide ``mask_ratio`` of the 8x8 patches (set to the mean colour),
    reconstruct the frame at half resolution from the encoder's vector, score the hidden pixels only."""

    n_views = 1

    def __init__(self, encoder: Encoder, image_hw: tuple[int, int], mask_ratio: float = 0.5,
                 patch: int = 8) -> None:
        super().__init__(encoder)
        if not 0 < mask_ratio < 1:
            raise ConfigError(f"method.mask_ratio = {mask_ratio} must be in (0, 1)")
        if patch < 2 or patch % 2:
            raise ConfigError(f"method.patch = {patch} must be an even number of pixels")
        self.decoder = ConvDecoder(encoder.out_dim, image_hw)
        self.image_hw = image_hw
        self.mask_ratio = mask_ratio
        self.patch = patch

    @classmethod
    def from_params(cls, encoder: Encoder, image_hw: tuple[int, int], params: Mapping[str, Any]) -> SslMethod:
        return cls(encoder, image_hw, **params)

    def forward(self, views: list[Tensor], pairs: PairTargets | None = None) -> Tensor:
        x = views[0]
        hidden = patch_mask(x.shape[0], self.image_hw, self.patch, self.mask_ratio, x.device)
        recon: Tensor = self.decoder(self.encoder(x.masked_fill(hidden, 0.0)))
        h, w = recon.shape[-2:]
        target = F.avg_pool2d(x, 2)[..., :h, :w]
        hidden_half = hidden[..., ::2, ::2][..., :h, :w]  # patches are even-sized: exact at half resolution
        err = (recon - target).pow(2) * hidden_half
        return err.sum() / (hidden_half.sum() * x.shape[1]).clamp(min=1)


METHODS: dict[str, type[SslMethod]] = {
    "simclr": SimCLR, "temporal": SimCLR, "byol": BYOL, "vicreg": VICReg, "rotation": Rotation,
    "mae": MaskedAutoencoder, "egomotion": EgoMotion,
}


def build_method(name: str, encoder: Encoder, image_hw: tuple[int, int],
                 params: dict[str, Any]) -> SslMethod:
    """The method ``name`` around ``encoder``; ``params`` are its hyperparameters (a recipe's ``params:``)."""
    check_params(name, params)
    return METHODS[name].from_params(encoder, image_hw, params)
