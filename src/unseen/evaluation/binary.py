"""Binary classification metrics: how well a score separates positives (label 1) from negatives (label 0).

Two kinds of metric, because users ask two questions:

- *ranking* metrics, independent of any cut-off: AUC (the probability that a random positive scores above a
  random negative) and KS (the largest gap between the true- and false-positive rates over all thresholds,
  the figure credit-risk teams report), with the ROC and KS curves for the board;
- *calibration*: log loss (the mean negative log-likelihood of the labels, the figure click-through-rate models are
  judged by), when the scores are probabilities (all in [0, 1]); scores are clipped to [1e-15, 1 - 1e-15] first,
  as scikit-learn did, so one confident mistake costs about 34.5, not infinity;
- *decision* metrics at one threshold (a row is predicted positive when ``score >= threshold``): accuracy,
  precision, recall, F1 and the confusion matrix ``[[tn, fp], [fn, tp]]``.

The arithmetic is scikit-learn's; this module adds input checks with messages a user can act on, KS (computed
from the ROC curve: at each threshold ``TPR - FPR`` is exactly the gap between the two classes' empirical score
distributions), and curves small enough to store as metrics.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn import metrics as skm

from unseen.evaluation.multiclass import ConfusionMatrix, check_same_length, confusion_matrix

MAX_CURVE_POINTS = 200
"""Curves are stored as metrics and drawn by the board: a few hundred points draw the same picture as 100,000."""


@dataclass(frozen=True)
class KolmogorovSmirnov:
    """The KS statistic ``max(TPR - FPR)`` and the threshold that attains it.

    Predicting positive when ``score >= threshold`` gives exactly ``TPR - FPR == statistic``; of several
    thresholds that tie, the highest is reported (the first reached scanning the ROC curve).
    """

    statistic: float
    threshold: float


@dataclass(frozen=True)
class RocCurve:
    """ROC points in order of decreasing threshold, from ``(fpr, tpr) = (0, 0)`` to ``(1, 1)``.

    ``thresholds[i]`` is the cut-off of point ``i`` (positive when ``score >= threshold``). The first point's
    threshold is the smallest float above every score, where scikit-learn puts infinity: JSON has no infinity,
    and the value still means "nothing is predicted positive". ``ks_index`` is the KS point's position.
    """

    fpr: tuple[float, ...]
    tpr: tuple[float, ...]
    thresholds: tuple[float, ...]
    ks_index: int

    def roc_dict(self) -> dict[str, list[float]]:
        """The metric ``roc``: ``{"fpr": [...], "tpr": [...], "thresholds": [...]}``."""
        return {"fpr": list(self.fpr), "tpr": list(self.tpr), "thresholds": list(self.thresholds)}

    def ks_dict(self) -> dict[str, list[float]]:
        """The metric ``ks_curve``: both rates against the threshold, whose widest gap is the KS."""
        return {"threshold": list(self.thresholds), "tpr": list(self.tpr), "fpr": list(self.fpr)}


@dataclass(frozen=True)
class ThresholdMetrics:
    """Decision metrics at one threshold. Precision is 0 when nothing is predicted positive (0/0)."""

    threshold: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    confusion_matrix: ConfusionMatrix


@dataclass(frozen=True)
class BinaryMetrics:
    rows: int
    positives: int
    auc: float
    ks: KolmogorovSmirnov
    at_threshold: ThresholdMetrics
    curve: RocCurve
    log_loss: float | None = None  # None when the scores are not probabilities

    def scalars(self) -> dict[str, float]:
        """Every scalar metric by the name it is logged under."""
        calibration = {} if self.log_loss is None else {"log_loss": self.log_loss}
        return {
            "auc": self.auc,
            **calibration,
            "ks": self.ks.statistic,
            "ks_threshold": self.ks.threshold,
            "accuracy": self.at_threshold.accuracy,
            "precision": self.at_threshold.precision,
            "recall": self.at_threshold.recall,
            "f1": self.at_threshold.f1,
        }


def binary_inputs(
    y_true: npt.ArrayLike, y_score: npt.ArrayLike, *, both_classes: bool = True
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Labels as 0/1 integers and scores as finite floats, or a ValueError naming the problem.

    ``both_classes`` is required by the ranking metrics: with one class only, AUC and KS are undefined, and
    saying so beats returning NaN that the metric store would refuse anyway.
    """
    labels = np.asarray(y_true)
    scores = np.asarray(y_score)
    if labels.ndim != 1 or scores.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D vectors; got shapes {labels.shape} and {scores.shape}")
    check_same_length(len(labels), len(scores), "scores")
    if scores.dtype.kind not in "biuf":
        raise ValueError(f"scores must be numbers; got values of type {scores.dtype}")
    scores = scores.astype(np.float64)
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"scores hold {int(np.sum(~np.isfinite(scores)))} missing or infinite values")
    if labels.dtype.kind not in "biuf":
        raise ValueError(f"labels must be 0 or 1; got values of type {labels.dtype}")
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        raise ValueError(f"labels hold {int(np.sum(~np.isfinite(labels)))} missing or infinite values")
    others = np.setdiff1d(labels.astype(np.float64), [0.0, 1.0])
    if others.size:
        raise ValueError(
            f"a binary task needs labels 0 and 1; found also {others[:5].tolist()} "
            "(set task_type: multiclass or regression if that is what the labels are)"
        )
    binary = labels.astype(np.int64)
    if both_classes and (binary.min() == binary.max()):
        raise ValueError(
            f"every label is {int(binary[0])}: AUC, KS and the ROC curve need both positives and negatives"
        )
    return binary, scores


def downsample_indices(length: int, max_points: int = MAX_CURVE_POINTS, keep: Iterable[int] = ()) -> list[int]:
    """Indices of at most ``max_points`` points of a curve of ``length`` points, evenly spread by index.

    The first and last points and every index in ``keep`` are always kept, so a plotted curve still starts and
    ends where it should and shows its KS point exactly.
    """
    kept = {0, length - 1, *keep} if length else set()
    if any(not 0 <= index < length for index in kept):
        raise ValueError(f"indices to keep {sorted(kept)} are outside a curve of {length} points")
    if length <= max_points:
        return list(range(length))
    if len(kept) > max_points:
        raise ValueError(f"cannot keep {len(kept)} points within max_points={max_points}")
    # The grid includes both endpoints, so the union has at most (grid) + (kept - 2) == max_points points.
    grid = np.rint(np.linspace(0, length - 1, max_points - (len(kept) - 2))).astype(np.int64)
    return sorted(kept.union(int(index) for index in grid))


def _full_roc(
    labels: npt.NDArray[np.int64], scores: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """scikit-learn's ROC curve with the infinite first threshold made finite.

    Collinear points are dropped (``drop_intermediate``): they add nothing to the plot, and KS loses nothing
    either, since ``TPR - FPR`` is linear along a straight segment and so peaks at one of its ends.
    """
    fpr, tpr, thresholds = skm.roc_curve(labels, scores, drop_intermediate=True)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    thresholds[~np.isfinite(thresholds)] = np.nextafter(scores.max(), np.inf)
    return np.asarray(fpr, dtype=np.float64), np.asarray(tpr, dtype=np.float64), thresholds


def _ks_index(fpr: npt.NDArray[np.float64], tpr: npt.NDArray[np.float64]) -> int:
    return int(np.argmax(tpr - fpr))


def roc_auc(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> float:
    """Area under the ROC curve: 1 is a perfect ranking, 0.5 a random one."""
    labels, scores = binary_inputs(y_true, y_score)
    return float(skm.roc_auc_score(labels, scores))


def ks_statistic(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> KolmogorovSmirnov:
    """KS: the largest ``TPR - FPR`` over all thresholds, i.e. the two-sample Kolmogorov-Smirnov statistic
    between the score distributions of positives and negatives (one-sided: positives scoring higher)."""
    labels, scores = binary_inputs(y_true, y_score)
    fpr, tpr, thresholds = _full_roc(labels, scores)
    index = _ks_index(fpr, tpr)
    return KolmogorovSmirnov(float(tpr[index] - fpr[index]), float(thresholds[index]))


def roc_curve_points(y_true: npt.ArrayLike, y_score: npt.ArrayLike, max_points: int = MAX_CURVE_POINTS) -> RocCurve:
    """The ROC curve downsampled to at most ``max_points`` points, endpoints and the KS point included."""
    labels, scores = binary_inputs(y_true, y_score)
    return _curve(*_full_roc(labels, scores), max_points=max_points)


def _curve(
    fpr: npt.NDArray[np.float64],
    tpr: npt.NDArray[np.float64],
    thresholds: npt.NDArray[np.float64],
    max_points: int,
) -> RocCurve:
    ks_full = _ks_index(fpr, tpr)
    chosen = downsample_indices(len(fpr), max_points, keep=(ks_full,))
    return RocCurve(
        fpr=tuple(float(fpr[i]) for i in chosen),
        tpr=tuple(float(tpr[i]) for i in chosen),
        thresholds=tuple(float(thresholds[i]) for i in chosen),
        ks_index=chosen.index(ks_full),
    )


def threshold_metrics(y_true: npt.ArrayLike, y_score: npt.ArrayLike, threshold: float = 0.5) -> ThresholdMetrics:
    """Accuracy, precision, recall, F1 and the confusion matrix when ``score >= threshold`` predicts 1."""
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number; got {threshold}")
    labels, scores = binary_inputs(y_true, y_score, both_classes=False)
    predicted = (scores >= threshold).astype(np.int64)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        labels, predicted, labels=[0, 1], pos_label=1, average="binary", zero_division=0.0
    )
    return ThresholdMetrics(
        threshold=float(threshold),
        accuracy=float(skm.accuracy_score(labels, predicted)),
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        confusion_matrix=confusion_matrix(labels, predicted, [0, 1]),
    )


LOG_LOSS_EPS = 1e-15


def log_loss(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> float:
    """Mean ``-(y log p + (1 - y) log(1 - p))`` of probabilities ``p`` clipped to ``[eps, 1 - eps]``."""
    labels, scores = binary_inputs(y_true, y_score, both_classes=False)
    if scores.size and (scores.min() < 0 or scores.max() > 1):
        raise ValueError("log loss needs probabilities: scores in [0, 1]")
    p = np.clip(scores, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log1p(-p)))


def binary_metrics(
    y_true: npt.ArrayLike, y_score: npt.ArrayLike, threshold: float = 0.5, max_curve_points: int = MAX_CURVE_POINTS
) -> BinaryMetrics:
    """Every binary metric at once, computing the ROC curve a single time."""
    labels, scores = binary_inputs(y_true, y_score)
    fpr, tpr, thresholds = _full_roc(labels, scores)
    index = _ks_index(fpr, tpr)
    return BinaryMetrics(
        rows=len(labels),
        positives=int(labels.sum()),
        auc=float(skm.roc_auc_score(labels, scores)),
        ks=KolmogorovSmirnov(float(tpr[index] - fpr[index]), float(thresholds[index])),
        at_threshold=threshold_metrics(labels, scores, threshold),
        curve=_curve(fpr, tpr, thresholds, max_curve_points),
        log_loss=log_loss(labels, scores) if scores.min() >= 0 and scores.max() <= 1 else None,
    )
