"""Edge runtime: load an exported model package and run it with ONNX Runtime. Never imports torch.

Example::

    from ros_ssl.edge import EdgeModel
    model = EdgeModel("runs/demo/model", variant="fp32")   # checks SHA-256, picks TensorRT > CUDA > CPU
    probs = model.predict(rgb)                             # (sensors, distances), probabilities
"""

from ros_ssl.checksum import sha256_file
from ros_ssl.edge.config import EdgeConfig, TensorRtConfig, edge_config_from_dict, load_edge_config
from ros_ssl.edge.package import (
    CHECKSUMS,
    FORMAT,
    MODEL_FILES,
    VARIANTS,
    InputSpec,
    ModelFile,
    ModelMetadata,
    ModelPackage,
    OutputSpec,
    load_package,
    write_checksums,
    write_metadata,
)
from ros_ssl.edge.runtime import EdgeModel

__all__ = [
    "CHECKSUMS",
    "FORMAT",
    "MODEL_FILES",
    "VARIANTS",
    "EdgeConfig",
    "EdgeModel",
    "InputSpec",
    "ModelFile",
    "ModelMetadata",
    "ModelPackage",
    "OutputSpec",
    "TensorRtConfig",
    "edge_config_from_dict",
    "load_edge_config",
    "load_package",
    "sha256_file",
    "write_checksums",
    "write_metadata",
]
