"""Export: a trainer's run -> ONNX package that passes onnx.checker and matches PyTorch on real frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from ros_ssl.data import load_dataset
from ros_ssl.edge import EdgeModel, load_package, sha256_file
from ros_ssl.errors import ModelPackageError
from ros_ssl.export import ExportData, export_run, onnx_export, package_model
from ros_ssl.train.checkpoint import load_detector
from ros_ssl.train.evaluate import select_recordings
from ros_ssl.train.recipe import load_recipe
from ros_ssl.train.synthetic import make_synthetic_dataset
from ros_ssl.train.trainer import train


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("export")
    dataset = make_synthetic_dataset(root / "dataset", recordings=4, frames=24)
    recipe = load_recipe(None, {"epochs": 2, "batch_size": 16, "bootstrap": 0})
    train(dataset, root / "run", recipe, progress=False)
    return root / "run"


@pytest.fixture(scope="module")
def package(run: Path) -> Path:
    out = run.parent / "model"
    export_run(run, out, variants=("fp32", "fp16", "int8"), auc_tolerance=1.0)
    return out


def test_package_passes_checker_and_describes_the_run(run: Path, package: Path) -> None:
    meta = load_package(package).metadata
    config = load_detector(run)[1]
    assert meta.variants == ["fp32", "fp16", "int8"]
    for entry in meta.files.values():
        onnx.checker.check_model(str(package / entry.path), full_check=True)
        assert sha256_file(package / entry.path) == entry.sha256
        assert entry.report["median_ms"] > 0 and 0 <= entry.report["auc"] <= 1  # a number, not NaN
    assert meta.output.geometry == config.geometry and tuple(meta.output.shape) == config.label_shape
    assert (meta.input.height, meta.input.width) == config.image_hw
    assert tuple(meta.input.mean) == config.mean and tuple(meta.input.std) == config.std
    assert meta.run["model"] == "paper_cnn" and meta.run["dir"] == str(run.resolve())
    assert meta.run["epoch"] >= 0
    assert meta.run["parity_max_diff"] <= 1e-5
    assert (meta.input.source_width, meta.input.source_height) == (320, 240)
    assert "| int8 |" in (package / "export_report.md").read_text()


def test_onnx_matches_pytorch_on_real_test_frames_at_any_batch_size(run: Path, package: Path) -> None:
    model, config = load_detector(run)
    ds = load_dataset(config.dataset)
    frames = np.asarray(ds.frames[ds.indices(select_recordings(ds, config, "test"))])
    want = onnx_export.torch_probabilities(model, frames, config.mean, config.std)
    edge = EdgeModel(package, providers=["cpu"])
    np.testing.assert_allclose(edge.predict(frames), want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(edge.predict(frames[:1]), want[:1], atol=1e-5, rtol=0)
    np.testing.assert_allclose(edge.predict(frames[3]), want[3], atol=1e-5, rtol=0)


def test_variant_beyond_auc_tolerance_is_refused_unless_forced(run: Path, tmp_path: Path) -> None:
    model, config = load_detector(run)
    ds = load_dataset(config.dataset)
    frames, labels, mask = np.asarray(ds.frames), np.asarray(ds.labels), np.asarray(ds.mask)
    data = ExportData(frames[:8], frames[:16], frames[16:], labels[16:], mask[16:])
    scores = {0: 0.90, 1: 0.895, 2: 0.85}  # fp32, fp16 (-0.005: kept), int8 (-0.05: refused)

    def fake_auc(probs: np.ndarray, y: np.ndarray, m: np.ndarray) -> float:
        fake_auc.calls += 1  # type: ignore[attr-defined]
        return scores[fake_auc.calls - 1]  # type: ignore[attr-defined]

    kwargs = {"image_hw": config.image_hw, "mean": config.mean, "std": config.std,
              "geometry": config.geometry, "run": {"dir": str(run)}, "data": data, "auc": fake_auc,
              "variants": ("fp32", "fp16", "int8"), "latency_repeats": 3}
    fake_auc.calls = 0  # type: ignore[attr-defined]
    with pytest.raises(ModelPackageError, match=r"refused int8 \(test AUC 0.8500, -0.0500 vs fp32\).*force"):
        package_model(model, tmp_path / "strict", **kwargs)
    assert load_package(tmp_path / "strict").metadata.variants == ["fp32", "fp16"]
    assert not (tmp_path / "strict" / "model_int8.onnx").exists()
    assert "REFUSED" in (tmp_path / "strict" / "export_report.md").read_text()
    fake_auc.calls = 0  # type: ignore[attr-defined]
    report = package_model(model, tmp_path / "forced", force=True, **kwargs)
    assert report.refused == []
    assert load_package(tmp_path / "forced").metadata.variants == ["fp32", "fp16", "int8"]


def test_bad_requests_fail_before_work_and_leave_nothing(run: Path, package: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelPackageError, match="not empty"):
        export_run(run, package)
    with pytest.raises(ModelPackageError, match="unknown variant"):
        export_run(run, tmp_path / "a", variants=("fp32", "int4"))
    with pytest.raises(ModelPackageError, match="tolerance"):
        export_run(run, tmp_path / "a", auc_tolerance=-0.1)
    model, config = load_detector(run)
    common = {"image_hw": config.image_hw, "mean": config.mean, "std": config.std,
              "geometry": config.geometry, "run": {}, "auc": None}
    with pytest.raises(ModelPackageError, match="calibration"):
        package_model(model, tmp_path / "b", data=None, variants=("int8",), **common)
    with pytest.raises(ModelPackageError, match="--dataset"):
        package_model(model, tmp_path / "b", data=None, variants=("fp16",), **common)
    monkeypatch.setattr(onnx_export, "PARITY_TOLERANCE", -1.0)
    with pytest.raises(ModelPackageError, match="disagree"):
        package_model(model, tmp_path / "c", data=None, **common)
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_export_cli_prints_the_table(run: Path, tmp_path: Path) -> None:
    from ros_ssl.cli.main import _register, app

    _register()
    args = ["export", str(run), "--out", str(tmp_path / "m"), "--variants", "fp32,fp16",
            "--auc-tolerance", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| fp16 |" in result.output and "max abs diff" in result.output
