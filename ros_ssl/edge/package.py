"""Model package: a directory with ONNX model file(s) and ``metadata.json``, the preprocessing contract.

Layout::

    metadata.json      format, input and output contract, sha256 per model file, producing run
    checksums.sha256   SHA-256 of metadata.json and of every model file (``sha256sum -c`` reads it)
    model.onnx         fp32, sigmoid included (outputs are probabilities), dynamic batch dimension
    model_fp16.onnx    optional: fp16 weights and compute, fp32 inputs and outputs
    model_int8.onnx    optional: static INT8 (QDQ) calibrated on dataset frames, fp32 inputs and outputs

Everything here is plain JSON and hashing: no torch, no onnxruntime, so a robot checks a package
with nothing but numpy. ``check_io`` compares metadata with a graph's inputs and outputs as reported
by onnxruntime, which catches metadata copied from another model.

A package is checked whole before it runs: ``load_package`` refuses it unless ``checksums.sha256``
matches ``metadata.json`` and names every model file with the hash the metadata gives, and every
metadata field is valid (finite mean and std > 0, positive consistent shapes, a known channel order, a
geometry whose layout and shape match the output); each model file is hashed when it is used. The
checksums catch accidental damage and edits, not deliberate forgery (whoever edits can recompute them).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ros_ssl.checksum import sha256_file
from ros_ssl.config.geometry import GeometryKind, LabelGeometry
from ros_ssl.errors import ConfigError, ModelPackageError
from ros_ssl.fsync import write_atomic

FORMAT = "ros_ssl.model/1"
METADATA = "metadata.json"
CHECKSUMS = "checksums.sha256"
VARIANTS = ("fp32", "fp16", "int8")
MODEL_FILES = {"fp32": "model.onnx", "fp16": "model_fp16.onnx", "int8": "model_int8.onnx"}
LAYOUTS = tuple(k.value for k in GeometryKind)


@dataclass(frozen=True)
class InputSpec:
    """How to turn an RGB uint8 frame into the model's input tensor: ((x * scale) - mean) / std, NCHW."""

    name: str
    height: int
    width: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    scale: float = 1.0 / 255.0
    channels: str = "RGB"
    dtype: str = "float32"
    layout: str = "NCHW"
    # Camera resolution the training frames were resized from (0 = unknown); sets the accepted aspect ratio.
    source_width: int = 0
    source_height: int = 0


@dataclass(frozen=True)
class OutputSpec:
    """What the model returns: (N, A, B) probabilities, A x B = sensors x distances or grid x x grid y."""

    name: str
    layout: str
    shape: tuple[int, int]
    # As in the dataset manifest (stored there and in metadata.json as ``LabelGeometry.to_dict()``).
    geometry: LabelGeometry
    values: str = "probabilities"


@dataclass(frozen=True)
class ModelFile:
    path: str
    sha256: str
    # Export-time figures for this variant (test AUC, change vs fp32, latency), empty if not measured.
    report: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelMetadata:
    input: InputSpec
    output: OutputSpec
    files: dict[str, ModelFile]
    # Producing run: {"dir", "model", "epoch", "val_auc"}.
    run: dict[str, Any]
    created: str
    ros_ssl_version: str
    opset: int
    format: str = FORMAT

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["output"]["geometry"] = self.output.geometry.to_dict()
        return {"format": out.pop("format"), **out}

    @property
    def variants(self) -> list[str]:
        return [v for v in VARIANTS if v in self.files]


@dataclass(frozen=True)
class ModelPackage:
    path: Path
    metadata: ModelMetadata

    def model_file(self, variant: str = "fp32") -> Path:
        """Path of a variant's ONNX file; raises if the package lacks it."""
        if variant not in VARIANTS:
            raise ModelPackageError(f"unknown model variant {variant!r}; expected one of "
                                    f"{', '.join(VARIANTS)}")
        if variant not in self.metadata.files:
            raise ModelPackageError(f"model package {self.path} has no {variant} variant (it has "
                                    f"{', '.join(self.metadata.variants)}); export it with --variants")
        file = self.path / self.metadata.files[variant].path
        if not file.is_file():
            raise ModelPackageError(f"model file {file} is missing; re-export the package or copy it whole")
        return file

    def verify(self, variant: str = "fp32") -> Path:
        """Return the variant's file after checking its SHA-256 against the metadata."""
        file = self.model_file(variant)
        digest = sha256_file(file)
        if digest != self.metadata.files[variant].sha256:
            raise ModelPackageError(f"model file {file} has SHA-256 {digest[:12]}..., metadata says "
                                    f"{self.metadata.files[variant].sha256[:12]}...; the file was changed "
                                    f"or belongs to another export")
        return file


def load_package(path: str | Path) -> ModelPackage:
    """Read ``metadata.json`` of a package directory after checking it against ``checksums.sha256``, and
    validate it (model files are hashed on use, against the same checksums)."""
    path = Path(path)
    file = path / METADATA
    if not path.is_dir():
        raise ModelPackageError(f"model package {path} not found (make one with 'ros-ssl export RUN "
                                f"--out DIR')")
    if not file.is_file():
        raise ModelPackageError(f"{path} is not a model package: {METADATA} not found")
    sums = read_checksums(path)
    raw = file.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if sums.get(METADATA) != digest:
        raise ModelPackageError(f"{file} has SHA-256 {digest[:12]}..., {CHECKSUMS} says "
                                f"{sums.get(METADATA, '')[:12]}...; {METADATA} was edited or damaged after "
                                f"export (re-export the package)")
    try:
        data = json.loads(raw.decode())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelPackageError(f"{file} is not valid JSON ({err})") from err
    meta = metadata_from_dict(data, file)
    for entry in meta.files.values():
        if sums.get(entry.path) != entry.sha256:
            listed = f"gives SHA-256 {sums[entry.path][:12]}..." if entry.path in sums else "does not list it"
            raise ModelPackageError(f"{path / CHECKSUMS} {listed} for model file {entry.path}, {METADATA} "
                                    f"says {entry.sha256[:12]}...; the package was changed after export")
    return ModelPackage(path, meta)


def read_checksums(path: Path) -> dict[str, str]:
    """File name -> SHA-256 from a package's ``checksums.sha256`` (``sha256sum`` format)."""
    file = path / CHECKSUMS
    if not file.is_file():
        raise ModelPackageError(f"{file} not found: nothing vouches for {METADATA} and the model files; "
                                f"re-export the package with 'ros-ssl export'")
    sums: dict[str, str] = {}
    try:
        lines = file.read_text().splitlines()
    except UnicodeDecodeError as err:
        raise ModelPackageError(f"{file} is not text ({err.reason})") from err
    for number, line in enumerate(lines, 1):
        match = _CHECKSUM_LINE.fullmatch(line)
        if match is None:
            raise ModelPackageError(f"{file} line {number} is not '<sha256>  <file name>'")
        sums[match[2]] = match[1].lower()
    return sums


_CHECKSUM_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](\S+)")


def write_metadata(path: str | Path, metadata: ModelMetadata) -> Path:
    """Write ``metadata.json``, then seal it with the model files in ``checksums.sha256``; each atomically
    (a reader never sees half a file; between the two it sees a package that fails its check)."""
    file = Path(path) / METADATA
    write_atomic(file, json.dumps(metadata.to_dict(), indent=1))
    write_checksums(path, [f.path for f in metadata.files.values()])
    return file


def write_checksums(path: str | Path, model_files: Iterable[str]) -> Path:
    """Write ``checksums.sha256`` over ``metadata.json`` and ``model_files`` (names inside ``path``)."""
    path = Path(path)
    names = [METADATA, *model_files]
    return write_atomic(path / CHECKSUMS, "".join(f"{sha256_file(path / n)}  {n}\n" for n in names))


def metadata_from_dict(data: Any, where: str | Path) -> ModelMetadata:
    """Validate a parsed ``metadata.json``; every error names ``where`` and the bad field."""
    if not isinstance(data, dict):
        raise ModelPackageError(f"{where}: expected a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise ModelPackageError(f"{where}: format {data.get('format')!r} is not {FORMAT!r}; this ros_ssl "
                                f"reads only {FORMAT} packages (re-export with this version)")
    try:
        inp, out = dict(data["input"]), dict(data["output"])
        spec_in = InputSpec(**{**inp, "mean": _triple(inp["mean"]), "std": _triple(inp["std"])})
        spec_out = OutputSpec(**{**out, "shape": tuple(int(v) for v in out["shape"]),
                                 "geometry": LabelGeometry.from_dict(out["geometry"], "output.geometry")})
        files = {k: ModelFile(**v) for k, v in dict(data["files"]).items()}
        meta = ModelMetadata(input=spec_in, output=spec_out, files=files, run=dict(data["run"]),
                             created=str(data["created"]), ros_ssl_version=str(data["ros_ssl_version"]),
                             opset=int(data["opset"]))
    except (KeyError, TypeError, ValueError) as err:
        raise ModelPackageError(f"{where}: missing or malformed field ({type(err).__name__}: {err})") from err
    except ConfigError as err:
        raise ModelPackageError(f"{where}: {err}") from err
    _validate(meta, where)
    return meta


def _triple(values: Any) -> tuple[float, float, float]:
    v = [float(x) for x in values]
    if len(v) != 3:
        raise ValueError(f"expected 3 per-channel values, got {len(v)}")
    return v[0], v[1], v[2]


def _finite(values: Iterable[float]) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(v) for v in values)


def _validate(meta: ModelMetadata, where: str | Path) -> None:
    i, o = meta.input, meta.output
    source = (i.source_width, i.source_height)
    checks = [
        (i.height > 0 and i.width > 0, "input.height/width", (i.height, i.width), "> 0"),
        (all(isinstance(v, int) and v >= 0 for v in source) and (min(source) > 0 or max(source) == 0),
         "input.source_width/source_height", source, "both > 0, or both 0 (unknown)"),
        (i.channels == "RGB", "input.channels", i.channels, "'RGB'"),
        (i.layout == "NCHW", "input.layout", i.layout, "'NCHW'"),
        (i.dtype == "float32", "input.dtype", i.dtype, "'float32'"),
        (_finite(i.mean), "input.mean", i.mean, "finite numbers"),
        (_finite(i.std) and all(s > 0 for s in i.std), "input.std", i.std, "finite numbers > 0"),
        (_finite([i.scale]) and i.scale > 0, "input.scale", i.scale, "a finite number > 0"),
        (meta.opset > 0, "opset", meta.opset, "> 0"),
        (all(_SHA256.fullmatch(str(f.sha256)) for f in meta.files.values()), "files[].sha256",
         [f.sha256 for f in meta.files.values()], "64 lowercase hex digits each"),
        (o.layout in LAYOUTS, "output.layout", o.layout, f"one of {LAYOUTS}"),
        (o.layout == o.geometry.kind, "output.geometry.kind", o.geometry.kind.value, repr(o.layout)),
        (len(o.shape) == 2 and min(o.shape) > 0, "output.shape", o.shape, "two positive sizes"),
        (o.values == "probabilities", "output.values", o.values, "'probabilities'"),
        (bool(meta.files) and set(meta.files) <= set(VARIANTS), "files", sorted(meta.files),
         f"a non-empty subset of {VARIANTS}"),
        (all(f.path == Path(f.path).name and f.path not in ("", ".", "..") for f in meta.files.values()),
         "files[].path", [f.path for f in meta.files.values()], "plain file names inside the package"),
    ]
    for ok, name, value, expected in checks:
        if not ok:
            raise ModelPackageError(f"{where}: field {name} is {value!r}; expected {expected}")
    if o.geometry.shape != tuple(o.shape):
        rows, columns = o.geometry.axis_keys
        raise ModelPackageError(f"{where}: output.shape {tuple(o.shape)} disagrees with the geometry's "
                                f"{rows} x {columns} = {o.geometry.shape}")


_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_io(meta: ModelMetadata, file: str | Path, inputs: Sequence[tuple[str, Sequence[Any], str]],
             outputs: Sequence[tuple[str, Sequence[Any], str]]) -> None:
    """Check a graph's (name, shape, type) inputs and outputs against the metadata's contract.

    Shapes come from onnxruntime: a dynamic dimension is a string or None. The batch must be dynamic.
    """
    i, o = meta.input, meta.output
    want_in = ("tensor(float)", [3, i.height, i.width])
    want_out = ("tensor(float)", list(o.shape))
    for kind, io, name, want in (("input", inputs, i.name, want_in), ("output", outputs, o.name, want_out)):
        if len(io) != 1:
            raise ModelPackageError(f"model file {file} has {len(io)} {kind}s; expected exactly one "
                                    f"({name!r})")
        got_name, shape, dtype = io[0]
        if not shape or isinstance(shape[0], int):
            raise ModelPackageError(f"model file {file} {kind} {got_name!r} has shape {list(shape)}; "
                                    f"expected a dynamic batch dimension first (re-export with "
                                    f"'ros-ssl export')")
        got = (dtype, list(shape[1:]))
        if got_name != name or got != want:
            dims = ", ".join(map(str, want[1]))
            raise ModelPackageError(f"model file {file} {kind} is {got_name!r} {dtype} {list(shape)}, but "
                                    f"{METADATA} says {name!r} {want[0]} [batch, {dims}]; the metadata "
                                    f"belongs to another model")
