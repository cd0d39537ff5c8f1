"""Evaluation metrics: pure functions from labels and predictions (numpy vectors) to typed results.

They know nothing of jobs or parties, so the ``evaluation`` component, benchmarks and tests all compute metrics
the same way. Which family applies is the caller's choice, or :func:`infer_task_type`'s guess from the labels.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from unseen.evaluation.binary import (
    MAX_CURVE_POINTS,
    BinaryMetrics,
    KolmogorovSmirnov,
    RocCurve,
    ThresholdMetrics,
    binary_metrics,
    downsample_indices,
    ks_statistic,
    log_loss,
    roc_auc,
    roc_curve_points,
    threshold_metrics,
)
from unseen.evaluation.multiclass import MAX_CLASSES, ConfusionMatrix, MulticlassMetrics, multiclass_metrics
from unseen.evaluation.regression import RegressionMetrics, regression_metrics

TaskType = Literal["binary", "multiclass", "regression"]

AUTO_MAX_CLASSES = 20
"""``infer_task_type`` calls integer labels with at most this many distinct values classes, beyond it a target."""


def infer_task_type(labels: npt.ArrayLike) -> TaskType:
    """Guess the task from the labels alone: binary if they are all 0 or 1, multiclass if they are integers with
    few distinct values, regression otherwise.

    It is a guess: an integer count target with few values (0..5 children) looks multiclass, so the component
    lets the user name the task, and its messages say so.
    """
    values = np.asarray(labels)
    if values.dtype.kind == "b":
        return "binary"
    if values.dtype.kind not in "iuf":
        raise ValueError(f"labels must be numbers; got values of type {values.dtype}")
    if values.size == 0:
        raise ValueError("no rows to evaluate: the labels are empty")
    floats = values.astype(np.float64)
    if not np.all(np.isfinite(floats)):
        raise ValueError(f"labels hold {int(np.sum(~np.isfinite(floats)))} missing or infinite values")
    distinct = np.unique(floats)
    if np.all(np.isin(distinct, [0.0, 1.0])):
        return "binary"
    if np.all(distinct == np.round(distinct)) and len(distinct) <= AUTO_MAX_CLASSES:
        return "multiclass"
    return "regression"


__all__ = [
    "AUTO_MAX_CLASSES",
    "MAX_CLASSES",
    "MAX_CURVE_POINTS",
    "BinaryMetrics",
    "ConfusionMatrix",
    "KolmogorovSmirnov",
    "MulticlassMetrics",
    "RegressionMetrics",
    "RocCurve",
    "TaskType",
    "ThresholdMetrics",
    "binary_metrics",
    "log_loss",
    "downsample_indices",
    "infer_task_type",
    "ks_statistic",
    "multiclass_metrics",
    "regression_metrics",
    "roc_auc",
    "roc_curve_points",
    "threshold_metrics",
]
