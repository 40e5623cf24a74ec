"""Scoring a model package on the fixed held-out dataset, through the edge runtime the robot runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ros_ssl.data import Dataset
from ros_ssl.data.store import UNKNOWN_TRUTH
from ros_ssl.edge import EdgeModel
from ros_ssl.export.compare import predict_all
from ros_ssl.train.metrics import auc_table, mean_auc


def score_package(package: Path, holdout: Dataset) -> tuple[float, str]:
    """(mean AUC, metric name): against dense truth (``auc_truth``) where the held-out set has it, else
    against the known pseudo-labels (``auc``). The same ONNX file the detector will load is scored."""
    probs = predict_all(EdgeModel(package, providers=["CPUExecutionProvider"]), holdout.frames)
    if holdout.has_truth:
        truth = np.asarray(holdout.truth)
        return mean_auc(auc_table(probs, (truth == 1).astype(np.uint8), truth != UNKNOWN_TRUTH)), "auc_truth"
    return mean_auc(auc_table(probs, np.asarray(holdout.labels), np.asarray(holdout.mask))), "auc"
