"""Contrastive negatives from every process under DDP: all_gather whose gradient reaches each local part.

``torch.distributed.all_gather`` returns tensors cut off from autograd, so a loss over them would train
only on the local batch. ``gather`` (as lightly's ``gather_distributed``) puts the local tensor back into
the gathered list and, on the way back, sums the gradients of every process before each keeps its own
slice. Every process then computes the same loss over the whole global batch; its encoder gets
``world_size`` times that loss's gradient for its own samples, which DDP's gradient averaging turns
back into exactly the gradient of the single-process loss on the concatenated batch.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor


def world_size() -> int:
    """Processes in the default group (1 without one)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _Gather(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        parts[dist.get_rank()] = x
        ctx.size = x.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        start = dist.get_rank() * ctx.size
        return grad[start:start + ctx.size]


def gather(x: Tensor) -> Tensor:
    """Concatenate ``x`` (same shape on every process) over all processes in rank order; differentiable."""
    if world_size() == 1:
        return x
    out: Tensor = _Gather.apply(x)
    return out


@torch.no_grad()
def gather_constant(x: Tensor) -> Tensor:
    """``gather`` without gradient (frame ids, poses)."""
    if world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)
