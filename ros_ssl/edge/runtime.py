"""``EdgeModel``: run an exported model package with ONNX Runtime; no torch anywhere below this import.

Example::

    from ros_ssl.edge import EdgeModel
    model = EdgeModel("runs/demo/model")            # TensorRT > CUDA > CPU, whichever is installed
    p = model.predict(rgb)                           # (sensors, distances) probabilities
    p = model.predict_msg(image_or_compressed_msg)   # any encoding ros_ssl.msgs.images decodes
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from ros_ssl.edge.config import EdgeConfig
from ros_ssl.edge.package import ModelMetadata, check_io, load_package
from ros_ssl.edge.preprocess import FrameInput, to_input
from ros_ssl.edge.providers import choose_providers, provider_options
from ros_ssl.errors import ModelPackageError
from ros_ssl.msgs.images import decode_image

log = logging.getLogger(__name__)


class EdgeModel:
    """A verified model package loaded into an ONNX Runtime session.

    ``providers`` (short or full names) overrides ``config.providers``; ``config`` also sets threads and
    the TensorRT engine cache. The SHA-256 of the model file is checked before it is loaded.
    """

    def __init__(self, package_dir: str | Path, variant: str = "fp32", providers: Sequence[str] | None = None,
                 config: EdgeConfig | None = None) -> None:
        cfg = (config or EdgeConfig()).validate()
        self.package = load_package(package_dir)
        self.metadata: ModelMetadata = self.package.metadata
        self.variant = variant
        self.file = self.package.verify(variant)
        spec = self.metadata.input
        names = choose_providers(ort.get_available_providers(), providers or cfg.providers or None)
        key = f"{variant}-{self.metadata.files[variant].sha256[:16]}"
        chosen = [(n, provider_options(n, cfg, spec.name, (spec.height, spec.width), key)) for n in names]
        options = ort.SessionOptions()
        if cfg.intra_op_threads:
            options.intra_op_num_threads = cfg.intra_op_threads
        self.session = _open_session(self.file, options, chosen)
        self._frame_input = FrameInput(spec)
        self._output_names = [self.metadata.output.name]
        self.providers: list[str] = self.session.get_providers()
        check_io(self.metadata, self.file,
                 [(i.name, i.shape, i.type) for i in self.session.get_inputs()],
                 [(o.name, o.shape, o.type) for o in self.session.get_outputs()])
        dropped = [n for n in names if n not in self.providers]
        if dropped:
            log.warning("%s: providers %s failed to start (see onnxruntime's log); running on %s",
                        self.file.name, dropped, self.providers)
        log.info("loaded %s (%s) on %s", self.file, variant, ", ".join(self.providers))

    @classmethod
    def from_config(cls, config: EdgeConfig, package_dir: str | Path | None = None) -> EdgeModel:
        """Model named by ``config.model`` (or ``package_dir``), with its variant and providers."""
        path = package_dir or config.model
        if not path:
            raise ModelPackageError("no model package given: set 'model' in the edge config or pass one")
        return cls(path, variant=config.variant, config=config)

    @property
    def input_hw(self) -> tuple[int, int]:
        return self.metadata.input.height, self.metadata.input.width

    @property
    def output_shape(self) -> tuple[int, int]:
        return self.metadata.output.shape

    def preprocess(self, frames: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """(N, 3, H, W) float32 input from a batch (N, h, w, 3) uint8 array or a list of H x W x 3 frames."""
        return to_input(frames, self.metadata.input)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Probabilities (N, A, B) for an already preprocessed (N, 3, H, W) float32 batch."""
        (out,) = self.session.run([self.metadata.output.name], {self.metadata.input.name: x})
        return np.asarray(out, np.float32)

    def predict(self, images: Any) -> np.ndarray:
        """Probabilities shaped like the labels: (A, B) for one frame or image message, (N, A, B) for a batch.

        ``images``: an H x W x 3 uint8 RGB array, a batch (N, H, W, 3) array or list of frames, or a
        sensor_msgs Image / CompressedImage. Frames of another size are resized (same aspect ratio).
        """
        if hasattr(images, "data") and (hasattr(images, "encoding") or hasattr(images, "format")):
            return self.predict_msg(images)
        if isinstance(images, np.ndarray) and images.ndim == 3:
            return self._predict_frame(images)
        return self.run(self.preprocess(images))

    def predict_msg(self, msg: Any) -> np.ndarray:
        """(A, B) probabilities for one Image or CompressedImage message (MessageError if undecodable)."""
        return self._predict_frame(decode_image(msg))

    def _predict_frame(self, rgb: np.ndarray) -> np.ndarray:
        """(A, B) probabilities for one H x W x 3 frame: a batch of one, through reused input buffers."""
        (out,) = self.session.run(self._output_names, {self.metadata.input.name: self._frame_input(rgb)})
        return np.asarray(out[0], np.float32)


def _open_session(file: Path, options: ort.SessionOptions, providers: list[tuple[str, dict[str, Any]]]
                  ) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(file), sess_options=options, providers=providers)
    except Exception as err:  # onnxruntime raises its own pybind exception types for bad graphs
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelPackageError(f"model file {file} is not a loadable ONNX model ({first[:200]})") from err
