"""Batch-1 latency on one CPU thread: ONNX Runtime (each variant) against PyTorch eager, same model, same run.

Run::

    .venv/bin/python benchmarks/bench_edge.py                       # paper CNN, random weights
    .venv/bin/python benchmarks/bench_edge.py --models paper_cnn,mobilenet_v3_small,resnet18
    .venv/bin/python benchmarks/bench_edge.py --run runs/demo/train  # a trained run instead

Both runtimes get the same preprocessed (1, 3, H, W) tensor (``model`` rows); the ``predict`` row adds
the runtime's own preprocessing from a 320x240 camera frame (resize, normalise), i.e. what the detector
node pays per frame. INT8 is calibrated on frames of a small synthetic dataset (or the run's dataset).
Targets: ONNX Runtime fp32 >= 2x eager; the paper CNN under 1 ms per frame.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.data import load_dataset
from ros_ssl.edge import EdgeConfig, EdgeModel
from ros_ssl.export import ExportData, latency_ms, package_model
from ros_ssl.models import IMAGENET_MEAN, IMAGENET_STD, Detector, build_encoder
from ros_ssl.train.checkpoint import load_detector
from ros_ssl.train.synthetic import make_synthetic_dataset


def bench_model(name: str, model: Detector, image_hw: tuple[int, int], geometry: LabelGeometry,
                frames: np.ndarray, variants: tuple[str, ...], repeats: int,
                tmp: Path) -> list[tuple[str, str, float, float]]:
    pkg = tmp / f"{name}_model"
    data = ExportData(parity=frames[:8], calibration=frames[:128], test_frames=frames[:0],
                      test_labels=np.zeros((0, 1, 1), np.uint8), test_mask=np.zeros((0, 1, 1), bool))
    package_model(model, pkg, image_hw=image_hw, mean=IMAGENET_MEAN, std=IMAGENET_STD, geometry=geometry,
                  run={"dir": name}, data=data, auc=None, variants=variants, force=True, latency_repeats=3)
    single = EdgeConfig(intra_op_threads=1)
    x_np = EdgeModel(pkg, providers=["cpu"], config=single).preprocess(frames[:1])
    x = torch.from_numpy(x_np)
    rows = []
    with torch.inference_mode():
        rows.append(("pytorch eager", "fp32", *latency_ms(lambda: model(x), repeats)))
    for variant in ("fp32", *(v for v in variants if v != "fp32")):
        edge = EdgeModel(pkg, variant=variant, providers=["cpu"], config=single)
        rows.append(("onnxruntime", variant, *latency_ms(lambda e=edge: e.run(x_np), repeats)))
    edge = EdgeModel(pkg, providers=["cpu"], config=single)
    camera = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    rows.append(("onnxruntime predict", "fp32", *latency_ms(lambda: edge.predict(camera), repeats)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="paper_cnn", help="Comma-separated encoders (random weights).")
    parser.add_argument("--run", type=Path, help="A training run to benchmark instead of random weights.")
    parser.add_argument("--variants", default="fp32,fp16,int8")
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    variants = tuple(v.strip() for v in args.variants.split(","))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.run:
            model, config = load_detector(args.run)
            ds = load_dataset(config.dataset)
            models = [(config.model, model)]
        else:
            ds = load_dataset(make_synthetic_dataset(tmp / "dataset", recordings=2, frames=64,
                                                     distance_step=0.01))
            models = [(n, Detector(build_encoder(n, ds.image_hw), ds.label_shape).eval())
                      for n in args.models.split(",")]
        frames = np.asarray(ds.frames[:128])
        print(f"batch 1, one thread (torch.set_num_threads(1), intra_op_num_threads=1), {args.repeats} runs, "
              f"input {ds.image_hw[0]}x{ds.image_hw[1]}, output {ds.label_shape[0]}x{ds.label_shape[1]}")
        print("| model | runtime | variant | median ms | p99 ms | speed-up vs eager (median) |")
        print("|---|---|---|---|---|---|")
        for name, model in models:
            rows = bench_model(name, model, ds.image_hw, ds.geometry, frames, variants, args.repeats, tmp)
            eager = rows[0][2]
            for runtime, variant, median, p99 in rows:
                print(f"| {name} | {runtime} | {variant} | {median:.3f} | {p99:.3f} | "
                      f"{eager / median:.2f}x |")


if __name__ == "__main__":
    main()
