"""Pieces shared by the run loops of the trainer and the SSL pretrainer: seeding, the resume check,
the learning-rate schedule (linear warm-up, then cosine decay, per optimiser step) and the
mixed-precision optimiser step."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ros_ssl.train.checkpoint import read_config
from ros_ssl.train.errors import TrainingError


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def check_resumable(out: Path, config: dict[str, Any], fixed_keys: Iterable[str]) -> None:
    """Raise TrainingError if the run in ``out`` differs from ``config`` in any of ``fixed_keys``."""
    previous = read_config(out)
    for key in fixed_keys:
        if previous.get(key) != config[key]:
            raise TrainingError(f"cannot resume {out}: its {key} differs from this session's (dataset or recipe "
                                f"changed); start a new --out")


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
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()


def mixed_precision(enabled: bool) -> tuple[torch.dtype | None, torch.amp.GradScaler | None]:
    """Autocast dtype and gradient scaler for a CUDA run: bf16 where the GPU has it, else fp16 + scaler.

    ``enabled`` is False for CPU runs and for recipes that turn AMP off: full precision, no scaler.
    """
    if not enabled:
        return None, None
    amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return amp_dtype, torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None


def restore(state: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer,
            scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler | None) -> int:
    """Load a checkpoint's model, optimiser, scheduler and scaler states; return the epoch to start at."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    return int(state["epoch"]) + 1


def check_finite(total: torch.Tensor, epoch: int, step: int, optimizer: torch.optim.Optimizer, loss_name: str,
                 advice: str) -> None:
    """Stop the run with a clear message once the running loss sum is NaN or infinite."""
    value = total.item()
    if not math.isfinite(value):
        lr = optimizer.param_groups[0]["lr"]
        raise TrainingError(f"the {loss_name} loss became {value} in epoch {epoch + 1} by step {step}; lower the "
                            f"learning rate (now {lr:.3g}) {advice}")
