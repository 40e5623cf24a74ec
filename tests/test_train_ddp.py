"""The distributed path on CPU: 2 processes, gloo, torchrun's environment variables.

Each process (1) takes one DistributedDataParallel step on its half of a batch, which must equal a
single-process step on the whole batch, then (2) runs the real ``train`` for one epoch, where only
rank 0 may write the run directory.
"""

from __future__ import annotations

import copy
import csv
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import yaml
from torch.nn.parallel import DistributedDataParallel

from ros_ssl.models import Detector, build_encoder
from ros_ssl.train.distributed import init_distributed
from ros_ssl.train.recipe import load_recipe
from ros_ssl.train.runs import optimizer_step
from ros_ssl.train.synthetic import make_synthetic_dataset
from ros_ssl.train.trainer import StepSetup, detector_loss, train

HW = (32, 40)


def _batch(n: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(7)  # the same batch on every rank
    return {"image": torch.randint(0, 256, (n, 3, *HW), dtype=torch.uint8, generator=g),
            "labels": torch.randint(0, 2, (n, 5, 4), dtype=torch.uint8, generator=g),
            # Equal known counts per rank: the DDP mean equals the full batch's.
            "mask": torch.ones(n, 5, 4, dtype=torch.bool)}


def _worker(rank: int, world_size: int, ports: tuple[int, int], dataset: str, out: str,
            result_dir: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(ports[0]))
    torch.set_num_threads(1)
    info = init_distributed()
    torch.manual_seed(0)
    model = Detector(build_encoder("paper_cnn", HW), (5, 4))
    reference, initial = copy.deepcopy(model), copy.deepcopy(model)
    ddp = DistributedDataParallel(model)
    setup = StepSetup(torch.device("cpu"), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    full = _batch(8)
    half = {k: v[4 * rank:4 * rank + 4] for k, v in full.items()}
    optimizer_step(detector_loss(ddp, half, setup), torch.optim.SGD(model.parameters(), lr=0.5), None)
    optimizer_step(detector_loss(reference, full, setup), torch.optim.SGD(reference.parameters(), lr=0.5),
                   None)
    diff = max((a - b).abs().max().item()
               for a, b in zip(model.parameters(), reference.parameters(), strict=True))
    moved = max((a - b).abs().max().item()
                for a, b in zip(model.parameters(), initial.parameters(), strict=True))
    torch.save({"diff": diff, "moved": moved, "world_size": info.world_size},
               Path(result_dir) / f"rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()

    os.environ["MASTER_PORT"] = str(ports[1])  # a fresh rendezvous for the training run
    recipe = load_recipe(None, {"epochs": 1, "batch_size": 16, "bootstrap": 20})
    train(dataset, out, recipe, progress=False)


def _free_ports() -> tuple[int, int]:
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        return int(a.getsockname()[1]), int(b.getsockname()[1])


@pytest.mark.slow
def test_two_process_gloo_training(tmp_path: Path) -> None:
    dataset = make_synthetic_dataset(tmp_path / "ds", recordings=6, frames=40, distance_step=0.1, image_hw=HW)
    out = tmp_path / "run"
    mp.spawn(_worker, args=(2, _free_ports(), str(dataset), str(out), str(tmp_path)), nprocs=2, join=True)

    for rank in range(2):
        result = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert result["world_size"] == 2
        # The mean of the halves' gradients equals the whole batch's.
        assert result["moved"] > 1e-4 and result["diff"] < 1e-6
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["world_size"] == 2
    rows = list(csv.reader((out / "metrics.csv").open()))
    assert len(rows) == 2 and rows[0][0] == "epoch"  # header + one epoch: written once, by rank 0
    assert (out / "checkpoints" / "best.pt").is_file() and (out / "metrics.json").is_file()
