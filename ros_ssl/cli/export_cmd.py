"""``ros-ssl export`` (training run -> ONNX model package) and ``ros-ssl infer`` (package + bag -> overlays).

Example::

    ros-ssl export runs/demo/train --out runs/demo/model --variants fp32,fp16,int8
    ros-ssl infer runs/demo/model runs/demo/sim.bag --out runs/demo/infer

``export`` checks ONNX against PyTorch on real frames and each variant's test AUC against fp32, and
refuses a variant that loses more than ``--auc-tolerance`` unless ``--force``. ``infer`` needs no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ros_ssl.cli.app import app
from ros_ssl.cli.common import BagArg, ConfigOpt, check_writable


@app.command("export")
def export(
    run: Annotated[Path, typer.Argument(help="Training run directory (config.yaml, checkpoints/best.pt).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New model package directory.")],
    variants: Annotated[str, typer.Option(help="Comma-separated: fp32, fp16, int8 (fp32 is always written).")]
    = "fp32",
    dataset: Annotated[Path | None, typer.Option(help="Dataset for parity, INT8 calibration and the "
                                                         "test AUC check. Default: the run's own.")] = None,
    auc_tolerance: Annotated[float, typer.Option(help="Largest test-AUC drop of a variant against fp32.")]
    = 0.01,
    force: Annotated[bool, typer.Option(help="Keep variants beyond the AUC tolerance or that cannot be "
                                             "checked.")] = False,
    opset: Annotated[int, typer.Option(help="ONNX opset (17 suits TensorRT 8.5 on JetPack 5 and later).")]
    = 17,
) -> None:
    """Export RUN's best checkpoint to an ONNX model package with metadata and optional fp16/int8 variants."""
    from ros_ssl.export.run import export_run

    names = tuple(v.strip() for v in variants.split(",") if v.strip())
    check_writable(out)
    report = export_run(run, out, variants=names, dataset=dataset, auc_tolerance=auc_tolerance, force=force,
                        opset=opset)
    typer.echo(f"model package: {report.path}  (ONNX vs PyTorch max abs diff {report.parity_max_diff:.1e})")
    typer.echo(report.table())


@app.command("infer")
def infer(
    model: Annotated[Path, typer.Argument(help="Model package directory (from 'ros-ssl export').")],
    bag: BagArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory: predictions.npz, strip.png, "
                                                          "overlay.mp4.")],
    config: ConfigOpt = None,
    variant: Annotated[str, typer.Option(help="Model variant: fp32, fp16 or int8.")] = "fp32",
    providers: Annotated[str, typer.Option(help="Comma-separated providers (tensorrt, cuda, cpu). Default: "
                                                "the best installed.")] = "",
    edge_config: Annotated[Path | None, typer.Option(help="Edge runtime YAML (threads, TensorRT cache).")]
    = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Frames per inference call.")] = 32,
    no_video: Annotated[bool, typer.Option("--no-video", help="Skip overlay.mp4 (faster).")] = False,
) -> None:
    """Predict every camera frame of BAG and draw the predictions over the frames."""
    from ros_ssl.bag.reader import BagReader
    from ros_ssl.bag.streams import camera_topic
    from ros_ssl.config import load_profile
    from ros_ssl.edge.config import EdgeConfig, load_edge_config
    from ros_ssl.edge.infer import infer_bag
    from ros_ssl.edge.runtime import EdgeModel

    profile = load_profile(config)
    cfg = load_edge_config(edge_config) if edge_config else EdgeConfig()
    names = [p.strip() for p in providers.split(",") if p.strip()]
    edge = EdgeModel(model, variant=variant, providers=names or None, config=cfg)
    with BagReader(bag) as reader:
        topic = camera_topic(reader, profile)
    result = infer_bag(edge, bag, topic, out, batch_size=batch_size, fps=profile.camera.rate_hz,
                       video=not no_video)
    typer.echo(f"{result.frames} frames predicted on {', '.join(edge.providers)}, {result.skipped} skipped")
    for err in result.errors:
        typer.echo(f"  skipped {err}")
    typer.echo(f"predictions: {result.predictions}\nstrip: {result.strip}"
               + (f"\nvideo: {result.video}" if result.video else ""))
