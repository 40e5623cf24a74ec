"""Export (torch side): a trained run -> ONNX model package, metadata, parity check, fp16/int8 variants.

Example::

    from ros_ssl.export import export_run
    report = export_run("runs/demo/train", "runs/demo/model", variants=("fp32", "fp16", "int8"))
    print(report.table())
"""

from ros_ssl.export.compare import VariantReport, format_table, latency_ms
from ros_ssl.export.onnx_export import ExportData, ExportReport, export_onnx, package_model
from ros_ssl.export.run import export_run

__all__ = ["ExportData", "ExportReport", "VariantReport", "export_onnx", "export_run", "format_table",
           "latency_ms", "package_model"]
