"""Pretraining throughput per SSL method on CPU, against the supervised detector step of the same run.

    .venv/bin/python benchmarks/bench_ssl.py [--model paper_cnn] [--batch 128] [--steps 5] [--threads 1]

Prints frames/s of one optimiser step per method fed from in-memory tensors, the view loader alone
(decode-free memmap read + augmentation of every view, which must outpace the step so it never starves
it), the on-device colour jitter (``BatchColour``) and each figure's ratio to the supervised baseline.
The label-efficiency figures come from
``ros-ssl study`` instead (see ``ros_ssl.experiments.study``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from ros_ssl.models import Detector, build_encoder
from ros_ssl.ssl.data import ViewBatches, make_view_loader
from ros_ssl.ssl.methods import METHODS, PairTargets, SslMethod, build_method
from ros_ssl.ssl.recipe import load_pretrain_recipe
from ros_ssl.ssl.transforms import BatchColour, MultiView, view_transform
from ros_ssl.train.loss import masked_bce
from ros_ssl.train.synthetic import make_synthetic_dataset

HW = (64, 80)


def rate(step: Callable[[], object], batch: int, steps: int) -> float:
    step()  # warm-up (allocations, first-call dispatch)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t0)


def ssl_step(method: SslMethod, opt: torch.optim.Optimizer, views: list[torch.Tensor],
             pairs: PairTargets | None) -> None:
    loss = method(views, pairs)
    opt.zero_grad()
    loss.backward()
    opt.step()
    method.after_step(0, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="paper_cnn")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    detector = Detector(build_encoder(args.model, HW), (5, 31))
    opt = torch.optim.AdamW(detector.parameters())
    x = torch.randn(args.batch, 3, *HW)
    labels = torch.randint(0, 2, (args.batch, 5, 31), dtype=torch.uint8)
    mask = torch.ones(args.batch, 5, 31, dtype=torch.bool)

    def supervised() -> None:
        loss = masked_bce(detector(x), labels, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()

    base = rate(supervised, args.batch, args.steps)
    print(f"{args.model}, batch {args.batch}, {args.threads} thread(s)")
    print(f"{'supervised detector step':28s} {base:8.0f} frames/s  1.00x")
    for name in METHODS:
        recipe = load_pretrain_recipe(f"ssl_{name}")
        method = build_method(name, build_encoder(args.model, HW), HW, recipe.params)
        mopt = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad])
        views = [torch.randn(args.batch, 3, *HW) for _ in range(method.n_views)]
        place = torch.arange(args.batch).repeat(2) // 4
        pairs = None
        if name in ("temporal", "egomotion"):
            motion = torch.randn(args.batch, 3) if name == "egomotion" else None
            pairs = PairTargets(place[:, None] == place[None, :], motion)

        r = rate(partial(ssl_step, method, mopt, views, pairs), args.batch, args.steps)
        print(f"{name + ' step':28s} {r:8.0f} frames/s  {r / base:.2f}x")

    colour = BatchColour(load_pretrain_recipe("ssl_simclr").augment)
    frames = torch.randint(0, 256, (args.batch, 3, *HW), dtype=torch.uint8)
    r = rate(lambda: colour(frames), args.batch, args.steps)
    print(f"{'batch colour jitter':28s} {r:8.0f} frames/s  {r / base:.2f}x")
    with tempfile.TemporaryDirectory() as tmp:
        ds = make_synthetic_dataset(Path(tmp) / "ds", recordings=2, frames=args.batch * 2)
        for n_views in (1, 2):
            views = MultiView([view_transform(load_pretrain_recipe("ssl_simclr").augment)] * n_views)
            data = ViewBatches(ds, torch.arange(args.batch * 4).numpy(), views)
            batches = iter(make_view_loader(data, args.batch))
            r = rate(lambda it=batches: next(it), args.batch, 3)
            print(f"{f'view loader, {n_views} view(s)':28s} {r:8.0f} frames/s  {r / base:.2f}x")


if __name__ == "__main__":
    main()
