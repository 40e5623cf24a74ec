"""Momentum (EMA) target networks: the update, its cosine schedule, and freezing a copy."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` that no optimiser will update (``requires_grad`` off everywhere)."""
    target = copy.deepcopy(module)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target <- momentum * target + (1 - momentum) * online, for parameters and float buffers.

    Integer buffers (BatchNorm's batch counter) are copied. Both modules must have the same structure.
    """
    for t, o in zip(target.parameters(), online.parameters(), strict=True):
        t.lerp_(o, 1.0 - momentum)
    for tb, ob in zip(target.buffers(), online.buffers(), strict=True):
        if tb.is_floating_point():
            tb.lerp_(ob, 1.0 - momentum)
        else:
            tb.copy_(ob)


def cosine_momentum(step: int, total_steps: int, base: float = 0.996, final: float = 1.0) -> float:
    """BYOL's schedule: ``base`` at step 0 rising to ``final`` at ``total_steps`` along a half cosine."""
    if total_steps <= 0:
        return final
    progress = min(max(step / total_steps, 0.0), 1.0)
    return final - (final - base) * (math.cos(math.pi * progress) + 1) / 2
