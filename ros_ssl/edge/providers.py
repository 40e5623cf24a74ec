"""Execution provider choice: TensorRT > CUDA > CPU among those this onnxruntime build offers.

``onnxruntime`` (CPU) and ``onnxruntime-gpu`` cannot be installed side by side; both are supported, and
what a build offers is read from ``onnxruntime.get_available_providers()`` at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ros_ssl.edge.config import PROVIDER_NAMES, EdgeConfig
from ros_ssl.errors import ConfigError

PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def choose_providers(available: Sequence[str], requested: Sequence[str] | None = None) -> list[str]:
    """Full provider names to ask for, best first.

    No request: every preferred provider that is available. A request (short or full names) is strict:
    one that this build lacks is an error, so a robot meant to run on TensorRT does not quietly use the CPU.
    """
    if not requested:
        return [p for p in PREFERENCE if p in available] or ["CPUExecutionProvider"]
    names = [PROVIDER_NAMES.get(r.lower(), r) for r in requested]
    missing = [n for n in names if n not in available]
    if missing:
        raise ConfigError(f"execution provider(s) {missing} requested but this onnxruntime offers "
                          f"{list(available)}; install onnxruntime-gpu (CUDA/TensorRT) instead of "
                          f"onnxruntime, or change providers")
    return names


def provider_options(name: str, cfg: EdgeConfig, input_name: str, input_hw: tuple[int, int],
                     model_key: str) -> dict[str, Any]:
    """Options for one provider: GPU index, and for TensorRT the engine cache and the batch profile.

    onnxruntime names cached engines after the model's *path*, not its weights, so a re-export into the
    same directory would silently reuse the old engine. Engines therefore go to a folder per model file
    (``model_key``: variant and SHA-256 prefix); the shared timing cache holds kernel timings only.
    """
    if name == "CUDAExecutionProvider":
        return {"device_id": cfg.device_id}
    if name != "TensorrtExecutionProvider":
        return {}
    trt = cfg.tensorrt
    root = Path(trt.engine_cache_dir).expanduser()
    engines = root / model_key
    engines.mkdir(parents=True, exist_ok=True)
    h, w = input_hw
    return {
        "device_id": cfg.device_id,
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(engines),
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(root),
        "trt_fp16_enable": trt.fp16,
        "trt_max_workspace_size": trt.workspace_mb << 20,
        # An explicit profile: one engine serves every batch size up to max_batch without rebuilding.
        "trt_profile_min_shapes": f"{input_name}:1x3x{h}x{w}",
        "trt_profile_opt_shapes": f"{input_name}:1x3x{h}x{w}",
        "trt_profile_max_shapes": f"{input_name}:{trt.max_batch}x3x{h}x{w}",
    }
