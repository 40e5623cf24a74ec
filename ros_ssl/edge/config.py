"""On-robot runtime settings (``edge/config.yaml``): which package and variant, which providers, TensorRT.

Read by ``EdgeModel.from_config`` and the detector node. Relative paths resolve against the YAML file's
folder, so a config shipped beside its model package works from any working directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ros_ssl.config.schema import build, check, load_yaml
from ros_ssl.errors import ConfigError

PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


@dataclass(frozen=True)
class TensorRtConfig:
    # Built engines are kept here: the first start builds them (minutes on a Jetson), later starts load them.
    engine_cache_dir: str = "~/.cache/ros_ssl/tensorrt"
    # Let TensorRT choose fp16 kernels for fp32 layers (about 2x on Jetson; check AUC with the fp16 variant).
    fp16: bool = False
    # Scratch memory TensorRT may use while building, MiB.
    workspace_mb: int = 1024
    # Engines are built for batches 1..max_batch (one optimisation profile, tuned for batch 1).
    max_batch: int = 8


@dataclass(frozen=True)
class EdgeConfig:
    # Model package directory (``ros-ssl export --out``); empty = given on the command line instead.
    model: str = ""
    # Model file to run: fp32, fp16 or int8 (must be in the package).
    variant: str = "fp32"
    # Providers in order of preference (tensorrt, cuda, cpu); empty = every one installed, in that order.
    providers: tuple[str, ...] = ()
    # onnxruntime intra-op threads; 0 = its default (one per core).
    intra_op_threads: int = 0
    # GPU index for the CUDA and TensorRT providers.
    device_id: int = 0
    tensorrt: TensorRtConfig = field(default_factory=TensorRtConfig)

    def validate(self) -> EdgeConfig:
        check(self.variant in ("fp32", "fp16", "int8"), "edge config", "variant", self.variant,
              "fp32, fp16 or int8")
        for p in self.providers:
            if p not in PROVIDER_NAMES and p not in PROVIDER_NAMES.values():
                raise ConfigError(f"edge config field providers has {p!r}; expected any of "
                                  f"{', '.join(PROVIDER_NAMES)}")
        limits = (("intra_op_threads", self.intra_op_threads, 0), ("device_id", self.device_id, 0),
                  ("tensorrt.workspace_mb", self.tensorrt.workspace_mb, 1),
                  ("tensorrt.max_batch", self.tensorrt.max_batch, 1))
        for name, value, low in limits:
            check(value >= low, "edge config", name, value, f">= {low}")
        return self


def load_edge_config(path: str | Path) -> EdgeConfig:
    """Load and validate an edge config YAML; relative ``model`` and cache paths resolve beside the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"edge config {path} not found")
    data = load_yaml(path, str(path))
    try:
        cfg = edge_config_from_dict({} if data is None else data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err
    base = path.resolve().parent
    trt = replace(cfg.tensorrt, engine_cache_dir=_beside(base, cfg.tensorrt.engine_cache_dir))
    return replace(cfg, model=_beside(base, cfg.model) if cfg.model else "", tensorrt=trt)


def edge_config_from_dict(data: Any) -> EdgeConfig:
    """Build and validate an EdgeConfig from a plain mapping (parsed YAML or ROS parameters)."""
    return build(EdgeConfig, data, "edge config").validate()


def _beside(base: Path, value: str) -> str:
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else base / p)
