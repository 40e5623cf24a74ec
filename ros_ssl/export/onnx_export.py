"""Trained detector -> model package: ONNX (sigmoid included, dynamic batch), parity check, variants.

``package_model`` works on any detector module; ``export_run`` (in ``ros_ssl.export.run``) loads a
training run and its dataset and calls it. Order of work, so that a failure leaves nothing half-made:
validate arguments, export fp32 and check it (onnx.checker, parity with PyTorch within 1e-5 on real
frames), then build and measure each variant; refused variants are deleted and reported.
"""

from __future__ import annotations

import datetime as dt
import shutil
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from ros_ssl import __version__
from ros_ssl.checksum import sha256_file
from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.edge.config import EdgeConfig
from ros_ssl.edge.package import (
    MODEL_FILES,
    VARIANTS,
    InputSpec,
    ModelFile,
    ModelMetadata,
    OutputSpec,
    write_metadata,
)
from ros_ssl.edge.runtime import EdgeModel
from ros_ssl.errors import ModelPackageError
from ros_ssl.export.compare import VariantReport, format_table, latency_ms, predict_all
from ros_ssl.export.variants import convert_fp16, quantize_int8
from ros_ssl.models.normalize import normalize, to_chw

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
PARITY_TOLERANCE = 1e-5
REPORT = "export_report.md"
# auc(probabilities, labels, mask) -> mean AUC over the label cells.
AucFn = Callable[[np.ndarray, np.ndarray, np.ndarray], float]


class WithSigmoid(nn.Module):
    """The detector with its sigmoid, so the ONNX graph returns probabilities."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.detector(x))


@dataclass(frozen=True)
class ExportData:
    """Real frames at the model's input size: for parity, INT8 calibration and the test-set comparison."""

    parity: np.ndarray  # (P, H, W, 3) uint8
    calibration: np.ndarray  # (C, H, W, 3) uint8, from the training split
    test_frames: np.ndarray  # (T, H, W, 3) uint8
    test_labels: np.ndarray  # (T, A, B) uint8
    test_mask: np.ndarray  # (T, A, B) bool


@dataclass(frozen=True)
class ExportReport:
    path: Path
    parity_max_diff: float
    variants: list[VariantReport]
    refused: list[str]

    def table(self) -> str:
        return format_table(self.variants)


def export_onnx(model: nn.Module, path: str | Path, image_hw: tuple[int, int], opset: int = 17) -> Path:
    """Export ``model`` (already returning probabilities) with a dynamic batch dimension; run onnx.checker.

    Uses the TorchScript exporter: it writes opset 17 (TensorRT 8.5 on JetPack 5 reads up to 17), while
    the torch.export-based one starts at opset 18.
    """
    model = model.eval().cpu()
    dummy = torch.zeros(1, 3, *image_hw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (dummy,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                          opset_version=opset, do_constant_folding=True, dynamo=False)
    onnx.checker.check_model(str(path), full_check=True)
    return Path(path)


def torch_probabilities(model: nn.Module, frames: np.ndarray, mean: Sequence[float], std: Sequence[float],
                        batch: int = 256) -> np.ndarray:
    """Probabilities from PyTorch for (N, H, W, 3) uint8 frames, preprocessed the training way."""
    out = []
    with torch.inference_mode():
        for i in range(0, len(frames), batch):
            x = normalize(to_chw(torch.from_numpy(np.array(frames[i:i + batch]))), mean, std)
            out.append(torch.sigmoid(model.eval()(x.contiguous())).numpy())
    return np.concatenate(out)


def package_model(model: nn.Module, out_dir: str | Path, *, image_hw: tuple[int, int], mean: Sequence[float],
                  std: Sequence[float], geometry: LabelGeometry, run: dict[str, Any],
                  data: ExportData | None, auc: AucFn | None, variants: Sequence[str] = ("fp32",),
                  opset: int = 17,
                  auc_tolerance: float = 0.01, force: bool = False, source_hw: tuple[int, int] = (0, 0),
                  latency_repeats: int = 200) -> ExportReport:
    """Write a model package for ``model`` (a detector returning logits) into the new directory ``out_dir``.

    ``auc(probs, labels, mask) -> mean AUC`` scores the variants on ``data``'s test frames. A variant whose
    AUC drops more than ``auc_tolerance`` below fp32 is refused (ModelPackageError) unless ``force``.
    ``source_hw``: the camera resolution the training frames were resized from, (0, 0) if unknown.
    """
    out = Path(out_dir)
    check_target(out, variants, auc_tolerance)
    _check_data(variants, data, auc, force)
    model = model.eval().cpu()
    h, w = image_hw
    spec_in = InputSpec(name=INPUT_NAME, height=h, width=w, mean=_triple(mean), std=_triple(std),
                        source_height=source_hw[0], source_width=source_hw[1])
    spec_out = OutputSpec(name=OUTPUT_NAME, layout=geometry.kind.value, shape=geometry.shape,
                          geometry=geometry)
    meta = ModelMetadata(input=spec_in, output=spec_out, files={}, run=run,
                         created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                         ros_ssl_version=__version__, opset=opset)
    out.mkdir(parents=True, exist_ok=True)
    with _removed_on_error(out):
        fp32 = export_onnx(WithSigmoid(model), out / MODEL_FILES["fp32"], image_hw, opset)
        meta = replace(meta, files={"fp32": ModelFile(MODEL_FILES["fp32"], sha256_file(fp32))})
        write_metadata(out, meta)
        frames = data.parity if data is not None and len(data.parity) else _noise_frames(image_hw)
        edge = EdgeModel(out, "fp32", providers=["cpu"])
        diff = float(np.abs(edge.predict(frames) - torch_probabilities(model, frames, mean, std)).max())
        if not diff <= PARITY_TOLERANCE:
            raise ModelPackageError(f"{fp32}: ONNX Runtime and PyTorch disagree by {diff:.2e} on "
                                    f"{len(frames)} frames (tolerance {PARITY_TOLERANCE:.0e}); not exported")
        meta = replace(meta, run=dict(run, parity_max_diff=diff,
                                      parity_frames=len(frames) if data is not None else "random"))
        reports = _variants(out, meta, edge, data, auc, variants, auc_tolerance, force, latency_repeats)
    result = ExportReport(out, diff, reports, [r.variant for r in reports if not r.accepted])
    (out / REPORT).write_text(f"# Export of {run.get('dir', '?')}\n\nParity fp32 ONNX vs PyTorch: max abs "
                              f"diff {diff:.2e} on {meta.run['parity_frames']} frames.\n\n{result.table()}\n")
    if result.refused:
        bad = "; ".join(f"{r.variant} (test AUC {r.auc:.4f}, {r.auc_change:+.4f} vs fp32)"
                        for r in reports if not r.accepted)
        raise ModelPackageError(f"refused {bad}: the drop exceeds the AUC tolerance {auc_tolerance}; {out} "
                                f"holds the other variants (table in {out / REPORT}); --force keeps a "
                                f"variant anyway")
    return result


def check_target(out: str | Path, variants: Sequence[str], auc_tolerance: float) -> None:
    """Fail fast, before anything is loaded: unknown variants, a used output directory, a bad tolerance."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ModelPackageError(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ModelPackageError(f"{out} already exists and is not empty; choose a new --out directory")
    if not auc_tolerance >= 0:
        raise ModelPackageError(f"AUC tolerance {auc_tolerance} must be >= 0 (the largest test-AUC drop "
                                f"allowed)")


def _check_data(variants: Sequence[str], data: ExportData | None, auc: AucFn | None, force: bool) -> None:
    if "int8" in variants and (data is None or len(data.calibration) == 0):
        raise ModelPackageError("the int8 variant needs real frames for calibration; give --dataset")
    unchecked = data is None or auc is None or len(data.test_frames) == 0
    if set(variants) - {"fp32"} and unchecked and not force:
        raise ModelPackageError("fp16/int8 variants are checked against fp32 on the test split; give "
                                "--dataset with labelled test frames, or --force to skip the check")


def _variants(out: Path, meta: ModelMetadata, edge: EdgeModel, data: ExportData | None, auc: AucFn | None,
              variants: Sequence[str], auc_tolerance: float, force: bool,
              repeats: int) -> list[VariantReport]:
    """Build, score and time fp32 then each requested variant; delete the refused ones. Writes metadata."""
    files = dict(meta.files)
    reports: list[VariantReport] = []
    reference: np.ndarray | None = None
    for variant in ["fp32"] + [v for v in VARIANTS[1:] if v in variants]:
        file = out / MODEL_FILES[variant]
        if variant == "fp16":
            convert_fp16(out / MODEL_FILES["fp32"], file)
        elif variant == "int8" and data is not None:
            quantize_int8(out / MODEL_FILES["fp32"], file, edge.preprocess(data.calibration), INPUT_NAME)
        files[variant] = ModelFile(MODEL_FILES[variant], sha256_file(file))
        write_metadata(out, replace(meta, files=files))
        probs = None
        if data is not None and len(data.test_frames):
            probs = predict_all(EdgeModel(out, variant, providers=["cpu"]), data.test_frames)
        reference = probs if reference is None else reference
        score = auc(probs, data.test_labels, data.test_mask) if probs is not None and data and auc else None
        base = reports[0].auc if reports else score
        change = None if score is None or base is None else score - base
        error = np.abs(probs - reference) if probs is not None and reference is not None else np.zeros(1)
        median, p99 = _latency(out, variant, repeats)
        report = VariantReport(variant=variant, auc=score, auc_change=change, mean_diff=float(error.mean()),
                               max_diff=float(error.max()), median_ms=median, p99_ms=p99,
                               file_mb=file.stat().st_size / 2**20,
                               accepted=force or change is None or -change <= auc_tolerance)
        if report.accepted:
            files[variant] = replace(files[variant], report=report.to_dict())
        else:
            file.unlink()
            del files[variant]
        reports.append(report)
    write_metadata(out, replace(meta, files=files))
    return reports


def _latency(out: Path, variant: str, repeats: int) -> tuple[float, float]:
    """Batch-1 (median, p99) ms on one CPU thread."""
    timed = EdgeModel(out, variant, providers=["cpu"], config=EdgeConfig(intra_op_threads=1))
    x = timed.preprocess(_noise_frames(timed.input_hw, 1))
    return latency_ms(lambda: timed.run(x), repeats=repeats)


@contextmanager
def _removed_on_error(out: Path) -> Iterator[None]:
    """Delete ``out`` (new or empty before the export) if the block fails: nothing half-made stays behind."""
    try:
        yield
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise


def _triple(values: Sequence[float]) -> tuple[float, float, float]:
    return float(values[0]), float(values[1]), float(values[2])


def _noise_frames(image_hw: tuple[int, int], n: int = 8) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, *image_hw, 3), dtype=np.uint8)
