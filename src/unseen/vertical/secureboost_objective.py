"""The losses SecureBoost boosts: gradients, hessians, the starting score and the validation metric, at the guest.

``binary``: logistic loss on labels in {0, 1}, raw score = log-odds. ``multiclass``: softmax over ``num_class``
raw scores, one tree per class per round (as XGBoost and LightGBM do), with LightGBM's hessian
``K / (K - 1) * p (1 - p)`` (XGBoost uses ``2 p (1 - p)``; the factor only rescales the Newton step).
``regression``: squared error, hessian 1. The starting score is the best constant (log-odds of the mean, log of
class frequencies, the mean).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from unseen.vertical.secureboost import Objective

FloatArray = npt.NDArray[np.float64]
_EPS = 1e-15


def check_labels(objective: Objective, labels: npt.ArrayLike, num_class: int) -> FloatArray:
    """The labels as floats, refused if they do not fit the objective (a clear message, not a wrong model)."""
    y = np.asarray(labels, dtype=np.float64)
    if y.ndim != 1 or not np.all(np.isfinite(y)):
        raise ValueError("labels must be a 1-D vector of finite numbers")
    if objective == "binary" and not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("objective 'binary' needs labels 0 and 1")
    if objective == "multiclass" and (not np.isin(y, np.arange(num_class)).all()):
        raise ValueError(f"objective 'multiclass' needs integer labels 0..{num_class - 1} (num_class={num_class})")
    return y


def base_score(objective: Objective, y: FloatArray, num_class: int) -> FloatArray:
    """The raw score every row starts from, one per output (1, or num_class)."""
    if objective == "binary":
        p = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
        return np.array([np.log(p / (1 - p))])
    if objective == "multiclass":
        freq = np.bincount(y.astype(np.int64), minlength=num_class) / len(y)
        return np.log(np.clip(freq, 1e-6, None))
    return np.array([float(y.mean())])


def gradients(objective: Objective, y: FloatArray, raw: FloatArray, k: int) -> tuple[FloatArray, FloatArray]:
    """g and h of output ``k`` at the raw scores ``raw`` (rows x outputs)."""
    if objective == "binary":
        p = 1.0 / (1.0 + np.exp(-raw[:, 0]))
        return p - y, np.maximum(p * (1.0 - p), 1e-16)
    if objective == "multiclass":
        p = softmax(raw)[:, k]
        target = (y == k).astype(np.float64)
        factor = raw.shape[1] / (raw.shape[1] - 1.0)
        return p - target, np.maximum(factor * p * (1.0 - p), 1e-16)
    return raw[:, 0] - y, np.ones(len(y))


def softmax(raw: FloatArray) -> FloatArray:
    shifted = raw - raw.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    out: FloatArray = e / e.sum(axis=1, keepdims=True)
    return out


def transform(objective: Objective, raw: FloatArray) -> FloatArray:
    """Raw scores to what a user reads: P(y=1), class probabilities, or the value itself."""
    if objective == "binary":
        out: FloatArray = 1.0 / (1.0 + np.exp(-raw[:, 0]))
        return out
    if objective == "multiclass":
        return softmax(raw)
    return raw[:, 0].copy()


def loss(objective: Objective, y: FloatArray, raw: FloatArray) -> float:
    """Mean log-loss, multi-class log-loss, or root mean squared error: the metric early stopping watches."""
    if len(y) == 0:
        return 0.0
    if objective == "binary":
        p = np.clip(transform(objective, raw), _EPS, 1 - _EPS)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    if objective == "multiclass":
        p = np.clip(softmax(raw), _EPS, 1.0)
        return float(-np.mean(np.log(p[np.arange(len(y)), y.astype(np.int64)])))
    return float(np.sqrt(np.mean((raw[:, 0] - y) ** 2)))
