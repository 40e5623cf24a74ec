"""One process or many: torchrun's RANK / WORLD_SIZE / LOCAL_RANK, else a single process.

The same ``ros-ssl train`` command runs on a laptop and under ``torchrun --nproc_per_node=N`` (or a
multi-node launch): NCCL on GPUs, gloo on CPUs. Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed() -> DistInfo:
    """Join the process group torchrun describes in the environment, or return a one-process setup."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = (torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1)) if cuda
              else torch.device("cpu"))
    if cuda:
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world_size,
                                device_id=device if cuda else None)
    return DistInfo(rank, world_size, local_rank, device)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()
