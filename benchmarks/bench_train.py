"""Training throughput on CPU: each model at batch 64, the data loader alone, and the two together.

    .venv/bin/python benchmarks/bench_train.py                 # all models, 2 threads
    .venv/bin/python benchmarks/bench_train.py --models paper_cnn --steps 30 --threads 1

Baseline of each row: the same model fed from in-memory uint8 tensors (no loading, no augmentation).
The loader (memory-mapped dataset, shuffled across recordings, augmentation on) must deliver more
images/s than the model consumes, so that training is never starved; the "loader / model" ratio says
by how much.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from ros_ssl.data import load_dataset
from ros_ssl.models import Detector, build_encoder
from ros_ssl.train.augment import Augment, AugmentConfig, label_mirror
from ros_ssl.train.data import make_loader, set_epoch
from ros_ssl.train.runs import optimizer_step
from ros_ssl.train.synthetic import make_synthetic_dataset
from ros_ssl.train.trainer import StepSetup, detector_loss

BATCH = 64


def train_step(model: Detector, batch: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer,
               setup: StepSetup) -> None:
    """One full-precision optimiser step, as the training engine takes it on CPU."""
    optimizer_step(detector_loss(model, batch, setup), optimizer, None)


def model_images_per_s(name: str, batches: list[dict[str, torch.Tensor]], steps: int) -> float:
    torch.manual_seed(0)
    model = Detector(build_encoder(name, (64, 80)), (5, 31)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    setup = StepSetup(torch.device("cpu"), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    for batch in batches[:2]:  # warm-up: allocator, kernels
        train_step(model, batch, optimizer, setup)
    t0 = time.perf_counter()
    for i in range(steps):
        train_step(model, batches[i % len(batches)], optimizer, setup)
    return steps * BATCH / (time.perf_counter() - t0)


def _endless(loader: torch.utils.data.DataLoader) -> Iterator[dict[str, torch.Tensor]]:
    """Batches of ``loader``, starting it again whenever it runs out."""
    while True:
        yield from loader


def loader_images_per_s(loader: torch.utils.data.DataLoader, steps: int) -> float:
    set_epoch(loader, 0)
    it = _endless(loader)
    next(it)  # start-up (worker processes) is not throughput
    t0 = time.perf_counter()
    n = 0
    for _ in range(steps):
        n += next(it)["image"].shape[0]
    return n / (time.perf_counter() - t0)


def fed_images_per_s(name: str, loader: torch.utils.data.DataLoader, steps: int) -> float:
    torch.manual_seed(0)
    model = Detector(build_encoder(name, (64, 80)), (5, 31)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    setup = StepSetup(torch.device("cpu"), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    set_epoch(loader, 1)
    it = _endless(loader)
    for _ in range(2):
        train_step(model, next(it), optimizer, setup)
    t0 = time.perf_counter()
    n = 0
    for _ in range(steps):
        batch = next(it)
        train_step(model, batch, optimizer, setup)
        n += batch["image"].shape[0]
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["paper_cnn", "mobilenet_v3_small", "resnet18"])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1], help="loader worker counts to time")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        path = make_synthetic_dataset(Path(tmp) / "ds", recordings=16, frames=128, distance_step=0.01)
        ds = load_dataset(path)
        indices = ds.indices(list(range(len(ds.recordings))))
        augment = Augment(AugmentConfig(), label_mirror(ds.geometry, ds.profile))
        memory = [next(iter(make_loader(path, indices, BATCH, shuffle=True, seed=s))) for s in range(4)]
        print(f"CPU, {args.threads} thread(s), batch {BATCH}, 64x80 frames, "
              f"{len(indices)} frames in the dataset")

        loaders = {w: make_loader(path, indices, BATCH, shuffle=True, augment=augment, workers=w)
                   for w in args.workers}
        print("\ndata loader alone (memmap, shuffled across recordings, augmentation on):")
        loader_rate = {}
        for w, loader in loaders.items():
            loader_rate[w] = loader_images_per_s(loader, args.steps * 3)
            print(f"  workers={w}: {loader_rate[w]:8.0f} images/s")
        best_loader = max(loader_rate.values())

        print(f"\n{'model':<20}{'in-memory img/s':>17}{'loader-fed img/s':>18}{'fed / in-memory':>17}"
              f"{'loader / model':>16}")
        for name in args.models:
            rate = model_images_per_s(name, memory, args.steps)
            fed = fed_images_per_s(name, loaders[args.workers[0]], args.steps)
            print(f"{name:<20}{rate:17.0f}{fed:18.0f}{fed / rate:17.2f}{best_loader / rate:16.1f}")


if __name__ == "__main__":
    main()
