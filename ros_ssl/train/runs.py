"""The arithmetic of one optimisation step, shared by the engine and by step-level tests and benchmarks:
seeding, the learning-rate schedule (linear warm-up, then cosine decay, per optimiser step), mixed
precision and the (scaled) optimiser step."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def warmup_cosine(warmup: int, total: int) -> Callable[[int], float]:
    """LambdaLR factor: linear warm-up over ``warmup`` steps, then cosine decay to 0 at step ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))
    return factor


def autocast(device: torch.device, amp_dtype: torch.dtype | None) -> AbstractContextManager[Any]:
    """Autocast to ``amp_dtype`` on ``device``, or a no-op for full precision."""
    return torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler | None) -> None:
    """Backward and step, through the gradient scaler when mixed precision uses one."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        torch.autograd.backward(scaler.scale(loss))
        scaler.step(optimizer)
        scaler.update()
    else:
        torch.autograd.backward(loss)
        optimizer.step()


def mixed_precision(enabled: bool) -> tuple[torch.dtype | None, torch.amp.GradScaler | None]:
    """Autocast dtype and gradient scaler for a CUDA run: bf16 where the GPU has it, else fp16 + scaler.

    ``enabled`` is False for CPU runs and for recipes that turn AMP off: full precision, no scaler.
    """
    if not enabled:
        return None, None
    amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return amp_dtype, torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
