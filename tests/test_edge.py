"""Edge runtime: torch-free, predictions from arrays and every image encoding, clear errors on bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ros_ssl.bag import messages as M
from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.data import load_dataset
from ros_ssl.edge import (
    CHECKSUMS,
    EdgeConfig,
    EdgeModel,
    TensorRtConfig,
    load_edge_config,
    load_package,
    sha256_file,
)
from ros_ssl.edge.overlay import cell_matrix, draw_overlay
from ros_ssl.edge.providers import choose_providers, provider_options
from ros_ssl.errors import ConfigError, MessageError, ModelPackageError
from ros_ssl.export.onnx_export import ExportData, package_model
from ros_ssl.models import IMAGENET_MEAN, IMAGENET_STD, Detector, build_encoder, normalize, to_chw
from ros_ssl.msgs.images import resize_rgb
from ros_ssl.train.loss import masked_bce
from ros_ssl.train.metrics import auc_table, mean_auc
from ros_ssl.train.synthetic import make_synthetic_dataset

REPO = Path(__file__).resolve().parents[1]


def trained_detector(frames: np.ndarray, labels: np.ndarray, mask: np.ndarray, steps: int = 60) -> Detector:
    """A paper CNN fitted briefly to synthetic frames, so predictions vary with the image."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    det = Detector(build_encoder("paper_cnn", frames.shape[1:3]), labels.shape[1:])
    x = normalize(to_chw(torch.from_numpy(frames)), IMAGENET_MEAN, IMAGENET_STD)
    y, m = torch.from_numpy(labels), torch.from_numpy(mask)
    opt = torch.optim.Adam(det.parameters(), lr=3e-3)
    for _ in range(steps):
        opt.zero_grad()
        masked_bce(det(x), y, m).backward()
        opt.step()
    return det.eval()


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("edge")
    ds = load_dataset(make_synthetic_dataset(root / "dataset", recordings=3, frames=16))
    frames, labels, mask = np.array(ds.frames), np.array(ds.labels), np.array(ds.mask)
    data = ExportData(parity=frames[32:], calibration=frames[:32], test_frames=frames[32:],
                      test_labels=labels[32:], test_mask=mask[32:])
    package_model(trained_detector(frames[:32], labels[:32], mask[:32]), root / "model", image_hw=ds.image_hw,
                  mean=IMAGENET_MEAN, std=IMAGENET_STD, geometry=ds.geometry, data=data,
                  run={"dir": "test", "model": "paper_cnn", "epoch": 0, "val_auc": None},
                  auc=lambda p, y, k: mean_auc(auc_table(p, y, k)), variants=("fp32", "fp16", "int8"),
                  auc_tolerance=0.05, source_hw=(240, 320), latency_repeats=5)
    return root / "model"


@pytest.fixture(scope="module")
def model(package: Path) -> EdgeModel:
    return EdgeModel(package, providers=["cpu"])


@pytest.fixture(scope="module")
def frames(package: Path) -> np.ndarray:
    return np.asarray(load_dataset(package.parent / "dataset").frames[32:40])


def _copy(package: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(package, tmp_path / "copy"))


def _edit_metadata(pkg: Path, edit) -> None:
    """Edit metadata.json and reseal the package (as a careless tool might): the field checks must still
    catch the edit. An unsealed edit is refused earlier, by the checksums (tests/faults)."""
    meta = json.loads((pkg / "metadata.json").read_text())
    edit(meta)
    (pkg / "metadata.json").write_text(json.dumps(meta))
    _reseal(pkg)


def _reseal(pkg: Path) -> None:
    """Rehash metadata.json and the model files present; keep the lines of files deleted on purpose."""
    sums = dict(reversed(line.split("  ")) for line in (pkg / CHECKSUMS).read_text().splitlines())
    sums.update({p.name: sha256_file(p) for p in [pkg / "metadata.json", *pkg.glob("*.onnx")]})
    (pkg / CHECKSUMS).write_text("".join(f"{digest}  {name}\n" for name, digest in sums.items()))


def test_runtime_never_imports_torch(package: Path) -> None:
    code = ("import sys, numpy as np\n"
            "from ros_ssl.edge import EdgeModel\n"
            "import ros_ssl.edge.infer, ros_ssl.edge.overlay\n"
            f"m = EdgeModel({str(package)!r}, variant='int8')\n"
            "p = m.predict(np.zeros((240, 320, 3), np.uint8))\n"
            "print(p.shape, 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "False", "ros_ssl.edge imported torch"


def test_predict_shapes_single_batch_list_and_resize(model: EdgeModel, frames: np.ndarray) -> None:
    a, b = model.output_shape
    one = model.predict(frames[0])
    batch = model.predict(frames)
    assert one.shape == (a, b) and batch.shape == (len(frames), a, b)
    assert np.all((batch >= 0) & (batch <= 1))
    np.testing.assert_allclose(model.predict(list(frames)), batch, atol=1e-6)
    np.testing.assert_allclose(batch[0], one, atol=1e-6)
    # A frame at camera resolution (the training camera's aspect ratio) is resized like training frames.
    big = np.asarray(np.random.default_rng(0).integers(0, 256, (240, 320, 3)), np.uint8)
    np.testing.assert_allclose(model.predict(big), model.predict(resize_rgb(big, 80, 64)), atol=1e-7)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "bgra8", "rgba8", "mono8", "png", "jpeg"])
def test_every_encoding_matches_the_array_path(model: EdgeModel, frames: np.ndarray, encoding: str) -> None:
    rgb = frames[1]
    if encoding in ("png", "jpeg"):
        msg = M.compressed_msg(1, "camera_link", rgb, fmt=encoding, quality=95)
    else:
        msg = M.image_msg(1, "camera_link", rgb, encoding=encoding)
    if encoding == "mono8":
        gray = np.round(rgb @ np.array([0.299, 0.587, 0.114])).clip(0, 255).astype(np.uint8)
        rgb = np.repeat(gray[:, :, None], 3, axis=2)
    want = model.predict(rgb)
    got = model.predict_msg(msg)
    np.testing.assert_allclose(got, want, atol=0.06 if encoding in ("jpeg", "mono8") else 1e-6)
    np.testing.assert_allclose(model.predict(msg), got, atol=1e-7)


def test_variants_load_and_agree_with_fp32(package: Path, model: EdgeModel, frames: np.ndarray) -> None:
    ref = model.predict(frames)
    meta = load_package(package).metadata
    assert meta.variants == ["fp32", "fp16", "int8"]
    for variant, max_tol, mean_tol in (("fp16", 1e-2, 1e-3), ("int8", 0.5, 0.05)):
        diff = np.abs(EdgeModel(package, variant=variant, providers=["cpu"]).predict(frames) - ref)
        assert diff.max() < max_tol and diff.mean() < mean_tol, (variant, diff.max(), diff.mean())
        report = meta.files[variant].report
        assert report["accepted"] and report["median_ms"] > 0 and abs(report["auc_change"]) <= 0.05


def test_bad_frames_raise_message_errors(model: EdgeModel, frames: np.ndarray) -> None:
    with pytest.raises(MessageError, match="aspect"):
        model.predict(np.zeros((240, 640, 3), np.uint8))  # the training camera was 320x240
    with pytest.raises(MessageError, match="uint8"):
        model.predict(frames[0].astype(np.float32))
    with pytest.raises(MessageError, match="shape"):
        model.predict(frames[0][:, :, :2])
    with pytest.raises(MessageError, match="empty batch"):
        model.predict([])
    raw = M.image_msg(1, "camera_link", frames[0])
    raw.encoding = "yuv422"
    with pytest.raises(MessageError, match="yuv422"):
        model.predict_msg(raw)
    raw = M.image_msg(1, "camera_link", frames[0])
    raw.data = raw.data[:100]
    with pytest.raises(MessageError, match="does not fit"):
        model.predict_msg(raw)
    jpeg = M.compressed_msg(1, "camera_link", frames[0])
    jpeg.data = jpeg.data[:20]
    with pytest.raises(MessageError, match="could not be decoded"):
        model.predict_msg(jpeg)
    # The model keeps working after bad frames (a node survives them).
    assert model.predict(frames[0]).shape == model.output_shape


def test_missing_package_metadata_and_model_file(package: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelPackageError, match="not found"):
        EdgeModel(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelPackageError, match=r"metadata\.json not found"):
        EdgeModel(tmp_path / "empty")
    pkg = _copy(package, tmp_path)
    (pkg / "model_fp16.onnx").unlink()
    with pytest.raises(ModelPackageError, match=r"model_fp16\.onnx is missing"):
        EdgeModel(pkg, variant="fp16")
    _edit_metadata(pkg, lambda m: m["files"].pop("int8"))
    with pytest.raises(ModelPackageError, match="has no int8 variant"):
        EdgeModel(pkg, variant="int8")
    with pytest.raises(ModelPackageError, match="unknown model variant"):
        EdgeModel(pkg, variant="bf16")


def test_checksum_mismatch_and_corrupt_onnx(package: Path, tmp_path: Path) -> None:
    pkg = _copy(package, tmp_path)
    with open(pkg / "model.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelPackageError, match=r"model\.onnx has SHA-256 .* metadata says"):
        EdgeModel(pkg)
    (pkg / "model.onnx").write_bytes(b"this is not an onnx file")
    _edit_metadata(pkg, lambda m: m["files"]["fp32"].update(sha256=sha256_file(pkg / "model.onnx")))
    with pytest.raises(ModelPackageError, match=r"model\.onnx is not a loadable ONNX model"):
        EdgeModel(pkg)


def test_metadata_from_another_model_or_format(package: Path, tmp_path: Path) -> None:
    pkg = _copy(package, tmp_path)

    def other_geometry(m: dict) -> None:
        m["output"]["geometry"]["distances"] = m["output"]["geometry"]["distances"][:3]
        m["output"]["shape"][1] = 3

    _edit_metadata(pkg, other_geometry)
    with pytest.raises(ModelPackageError, match="belongs to another model"):
        EdgeModel(pkg)
    _edit_metadata(pkg, lambda m: m["input"].update(height=32, width=40))
    with pytest.raises(ModelPackageError, match="belongs to another model"):
        EdgeModel(pkg)
    _edit_metadata(pkg, lambda m: m["output"].update(shape=[5, 99]))
    with pytest.raises(ModelPackageError, match="disagrees with the geometry"):
        EdgeModel(pkg)
    _edit_metadata(pkg, lambda m: m["files"]["fp32"].update(path="../model.onnx"))
    with pytest.raises(ModelPackageError, match="plain file names"):
        EdgeModel(pkg)
    _edit_metadata(pkg, lambda m: m.update(format="ros_ssl.model/99"))
    with pytest.raises(ModelPackageError, match=r"ros_ssl\.model/99"):
        EdgeModel(pkg)
    (pkg / "metadata.json").write_text("{not json")
    _reseal(pkg)
    with pytest.raises(ModelPackageError, match="not valid JSON"):
        EdgeModel(pkg)


def test_provider_choice_and_tensorrt_options(tmp_path: Path) -> None:
    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(gpu) == gpu
    assert choose_providers(["CPUExecutionProvider", "AzureExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers(gpu, ["cuda", "cpu"]) == gpu[1:]
    with pytest.raises(ConfigError, match="onnxruntime-gpu"):
        choose_providers(["CPUExecutionProvider"], ["tensorrt"])
    cfg = EdgeConfig(tensorrt=TensorRtConfig(engine_cache_dir=str(tmp_path / "trt"), max_batch=4))
    opts = provider_options("TensorrtExecutionProvider", cfg, "image", (64, 80), "fp32-0123abcd")
    assert opts["trt_engine_cache_enable"] and (tmp_path / "trt" / "fp32-0123abcd").is_dir()
    # One engine folder per model file; the timing cache is shared.
    assert opts["trt_engine_cache_path"] == str(tmp_path / "trt" / "fp32-0123abcd")
    assert opts["trt_timing_cache_path"] == str(tmp_path / "trt")
    assert opts["trt_profile_max_shapes"] == "image:4x3x64x80"


def test_shipped_edge_config_loads_and_bad_configs_name_the_field(tmp_path: Path) -> None:
    cfg = load_edge_config(REPO / "edge" / "config.yaml")
    assert cfg.variant in ("fp32", "fp16", "int8") and cfg.tensorrt.engine_cache_dir.startswith("/")
    (tmp_path / "e.yaml").write_text("model: pkg\ntensorrt: {engine_cache_dir: cache}\n")
    rel = load_edge_config(tmp_path / "e.yaml")
    assert rel.model == str(tmp_path / "pkg") and rel.tensorrt.engine_cache_dir == str(tmp_path / "cache")
    for text, match in (("variant: fp8\n", "variant"), ("provider: [cpu]\n", "unknown key"),
                        ("providers: [npu]\n", "npu"), ("intra_op_threads: two\n", "intra_op_threads"),
                        ("tensorrt: {max_batch: 0}\n", "max_batch")):
        (tmp_path / "bad.yaml").write_text(text)
        with pytest.raises(ConfigError, match=match):
            load_edge_config(tmp_path / "bad.yaml")


def test_from_config_uses_package_variant_and_threads(package: Path, frames: np.ndarray) -> None:
    cfg = EdgeConfig(model=str(package), variant="fp16", providers=("cpu",), intra_op_threads=1)
    m = EdgeModel.from_config(cfg)
    assert m.variant == "fp16" and m.providers == ["CPUExecutionProvider"]
    with pytest.raises(ModelPackageError, match="no model package"):
        EdgeModel.from_config(EdgeConfig())


def test_overlay_puts_sensors_left_to_right_and_far_at_the_top() -> None:
    geometry = LabelGeometry.sensor_distance(["l", "c", "r"], [0.0, 0.1])
    probs = np.zeros((3, 2))
    probs[0, 1] = 1.0  # left sensor, far: top-left cell red
    assert cell_matrix(probs, geometry)[0, 0] == 1.0
    img = draw_overlay(np.zeros((64, 80, 3), np.uint8), probs, geometry)
    assert img.shape == (256, 320, 3)
    top_left, bottom_left = img[30, 53], img[200, 53]
    assert top_left[0] > top_left[1] and bottom_left[1] > bottom_left[0]
    grid = LabelGeometry.grid([0.1, 0.2], [-0.1, 0.1])
    g = np.zeros((2, 2))
    g[1, 1] = 1.0  # far ahead, left
    assert cell_matrix(g, grid)[0, 0] == 1.0


def test_infer_cli_on_a_small_bag_skips_bad_frames(package: Path, frames: np.ndarray, tmp_path: Path) -> None:
    from ros_ssl.bag import BagWriter

    topic, t0 = "/camera/image_raw/compressed", 1_700_000_000_000_000_000
    with BagWriter(tmp_path / "bag") as w:
        for i, rgb in enumerate(frames):
            t = t0 + i * 66_000_000
            w.write(topic, t, M.compressed_msg(t, "camera_link", rgb))
        broken = M.compressed_msg(t + 1, "camera_link", frames[0])
        broken.data = broken.data[:16]
        w.write(topic, t + 1, broken)
    cmd = [sys.executable, "-m", "ros_ssl", "infer", str(package), str(tmp_path / "bag"), "--out",
           str(tmp_path / "infer"), "--providers", "cpu"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert f"{len(frames)} frames predicted" in out.stdout and "1 skipped" in out.stdout
    pred = np.load(tmp_path / "infer" / "predictions.npz")
    assert pred["probabilities"].shape == (len(frames), *EdgeModel(package).output_shape)
    assert np.all(np.diff(pred["stamps_ns"]) > 0) and list(pred["index"]) == list(range(len(frames)))
    stored = LabelGeometry.from_dict(json.loads(str(pred["geometry"])))
    assert stored == load_package(package).metadata.output.geometry
    strip = cv2.imread(str(tmp_path / "infer" / "strip.png"))
    h, w = draw_overlay(frames[0], pred["probabilities"][0], stored).shape[:2]
    tiles, rest = divmod(strip.shape[1] + 4, w + 4)  # overlays 4 white pixels apart
    assert strip.shape[0] == h and rest == 0 and 2 <= tiles <= len(frames), strip.shape
    assert (strip[:, w:w + 4] == 255).all()
    video = tmp_path / "infer" / "overlay.mp4"
    if video.exists():
        capture = cv2.VideoCapture(str(video))
        shown = 0
        while capture.read()[0]:
            shown += 1
        capture.release()
        assert shown == len(frames)
    else:
        assert len(list((tmp_path / "infer" / "frames").glob("*.png"))) == len(frames)
    cmd = [sys.executable, "-m", "ros_ssl", "infer", str(tmp_path / "nope"), str(tmp_path / "bag"), "--out",
           str(tmp_path / "x")]
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "model package" in bad.stderr and "Traceback" not in bad.stderr
