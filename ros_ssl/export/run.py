"""``export_run``: a training run's best checkpoint -> model package, checked on the run's own dataset.

Frames come from the run's split (recorded in its config.yaml): INT8 calibration from the training
recordings, parity and the per-variant AUC from the test recordings. A dataset the run never saw
(``dataset=`` another one with the same geometry) is used whole for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ros_ssl.data import Dataset, load_dataset
from ros_ssl.errors import DatasetError
from ros_ssl.export.onnx_export import ExportData, ExportReport, check_target, package_model
from ros_ssl.train.checkpoint import load_checkpoint, load_detector
from ros_ssl.train.evaluate import select_recordings
from ros_ssl.train.metrics import auc_table, mean_auc
from ros_ssl.train.run_config import RunConfig


def export_run(run_dir: str | Path, out_dir: str | Path, variants: Sequence[str] = ("fp32",),
               dataset: str | Path | None = None, auc_tolerance: float = 0.01, force: bool = False,
               opset: int = 17, calibration_frames: int = 256, parity_frames: int = 32) -> ExportReport:
    """Export ``run_dir``'s best checkpoint into the new directory ``out_dir`` (see ``package_model``).

    ``dataset`` defaults to the run's own; without any, only fp32 is exported and parity uses noise frames.
    """
    check_target(out_dir, variants, auc_tolerance)
    run_dir = Path(run_dir)
    model, config = load_detector(run_dir, "best")
    state = load_checkpoint(run_dir / "checkpoints" / "best.pt")
    source = dataset if dataset is not None else config.dataset
    ds = load_dataset(source) if dataset is not None or (source and Path(source).is_dir()) else None
    data = _export_data(ds, config, run_dir, calibration_frames, parity_frames) if ds is not None else None
    source_hw = (ds.profile.camera.height, ds.profile.camera.width) if ds is not None else (0, 0)
    run = {"dir": str(run_dir.resolve()), "model": config.model, "epoch": int(state.get("epoch", -1)),
           "val_auc": state.get("val_mean_auc"),
           "dataset": str(ds.path.resolve()) if ds is not None else None}
    return package_model(model, out_dir, image_hw=config.image_hw, mean=config.mean,
                         std=config.std, geometry=config.geometry,
                         run=run, data=data, auc=_mean_auc, variants=variants, opset=opset,
                         auc_tolerance=auc_tolerance, force=force, source_hw=source_hw)


def _mean_auc(probs: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> float:
    return mean_auc(auc_table(probs, labels, mask))


def _export_data(ds: Dataset, config: RunConfig, run_dir: Path, calibration_frames: int,
                 parity_frames: int) -> ExportData:
    if ds.geometry != config.geometry or tuple(ds.image_hw) != config.image_hw:
        raise DatasetError(f"dataset {ds.path} has another label geometry or image size than run {run_dir}; "
                           f"give the dataset the run was trained on")
    try:
        train, test = select_recordings(ds, config, "train"), select_recordings(ds, config, "test")
    except DatasetError:  # a dataset the run never saw: every recording is new to the model
        train = test = list(range(len(ds.recordings)))
    train_idx, test_idx = ds.indices(train), ds.indices(test)
    rng = np.random.default_rng(0)
    calib_idx = np.sort(rng.choice(train_idx, min(calibration_frames, len(train_idx)), replace=False))
    parity_idx = test_idx[:parity_frames] if len(test_idx) else calib_idx[:parity_frames]
    return ExportData(parity=np.asarray(ds.frames[parity_idx]), calibration=np.asarray(ds.frames[calib_idx]),
                      test_frames=np.asarray(ds.frames[test_idx]),
                      test_labels=np.asarray(ds.labels[test_idx]), test_mask=np.asarray(ds.mask[test_idx]))
