"""Multi-class classification metrics over predicted labels, and the confusion matrix every classifier shares.

Classes are integers (a label column stores them as numbers, and a confusion matrix must be JSON for the
board). Averages are *macro* averages: the mean over classes of the per-class score, so a rare class weighs
as much as a common one; that is what tells a user the model ignores a minority class, which accuracy hides.
The class set is the union of the true and the predicted labels (scikit-learn's convention), and a score
whose denominator is zero (a class never predicted has no precision) counts as 0 rather than raising.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn import metrics as skm

MAX_CLASSES = 100
"""More classes than this are refused: their confusion matrix (classes squared) is no longer a small metric."""


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of rows by (true class, predicted class): ``matrix[i][j]`` rows of class ``labels[i]``
    predicted as ``labels[j]``. For a binary task that is ``[[tn, fp], [fn, tp]]``."""

    labels: tuple[int, ...]
    matrix: tuple[tuple[int, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the board reads: ``{"labels": [...], "matrix": [[...], ...]}``, plain ints only."""
        return {"labels": list(self.labels), "matrix": [list(row) for row in self.matrix]}


@dataclass(frozen=True)
class MulticlassMetrics:
    rows: int
    accuracy: float
    precision_macro: float
    recall_macro: float
    f1_macro: float
    confusion_matrix: ConfusionMatrix

    def scalars(self) -> dict[str, float]:
        """Every scalar metric by the name it is logged under."""
        return {
            "accuracy": self.accuracy,
            "precision_macro": self.precision_macro,
            "recall_macro": self.recall_macro,
            "f1_macro": self.f1_macro,
        }


def class_labels(values: npt.ArrayLike, name: str) -> npt.NDArray[np.int64]:
    """``values`` as a 1-D integer vector, or a ValueError saying what is wrong with it.

    Integer-valued floats (``2.0``) are accepted because a Parquet column with a null, or a CSV read without a
    schema, stores integers as floats; anything fractional, non-finite or non-numeric is refused.
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector; got shape {array.shape}")
    if array.dtype.kind == "b":
        return array.astype(np.int64)
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold integer class labels; got values of type {array.dtype}")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} holds {int(np.sum(~np.isfinite(array)))} missing or infinite values")
        fractional = array[array != np.round(array)]
        if fractional.size:
            raise ValueError(f"{name} must hold integer class labels; found {fractional[:5].tolist()}")
    return array.astype(np.int64)


def check_same_length(rows_true: int, rows_other: int, other: str) -> None:
    """Labels and predictions must describe the same rows; a mismatch means a misaligned join upstream."""
    if rows_true != rows_other:
        raise ValueError(f"labels have {rows_true} rows but {other} has {rows_other}; they must be aligned row by row")
    if rows_true == 0:
        raise ValueError("no rows to evaluate: the labels are empty")


def confusion_matrix(
    y_true: npt.NDArray[np.int64], y_pred: npt.NDArray[np.int64], labels: list[int]
) -> ConfusionMatrix:
    """The confusion matrix over ``labels`` (in that order), as plain ints."""
    counts = skm.confusion_matrix(y_true, y_pred, labels=labels)
    return ConfusionMatrix(
        labels=tuple(int(label) for label in labels),
        matrix=tuple(tuple(int(count) for count in row) for row in counts),
    )


def multiclass_metrics(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> MulticlassMetrics:
    """Accuracy, macro precision/recall/F1 and the confusion matrix of predicted class labels."""
    truth = class_labels(y_true, "labels")
    predicted = class_labels(y_pred, "predicted labels")
    check_same_length(len(truth), len(predicted), "predicted labels")
    labels = np.union1d(truth, predicted).tolist()
    if len(labels) > MAX_CLASSES:
        raise ValueError(
            f"{len(labels)} distinct classes; at most {MAX_CLASSES} are supported "
            "(is this a regression target? set task_type: regression)"
        )
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        truth, predicted, labels=labels, average="macro", zero_division=0.0
    )
    return MulticlassMetrics(
        rows=len(truth),
        accuracy=float(skm.accuracy_score(truth, predicted)),
        precision_macro=float(precision),
        recall_macro=float(recall),
        f1_macro=float(f1),
        confusion_matrix=confusion_matrix(truth, predicted, labels),
    )
