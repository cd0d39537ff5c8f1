"""Regression metrics: how far predicted values are from the true ones.

MAE and RMSE are in the target's own unit (RMSE weighs large errors more); MSE is what least-squares training
minimises; R² and explained variance compare the model with always predicting the mean (1 is perfect, 0 is no
better than the mean, negative is worse). Explained variance ignores a constant bias that R² penalises, so a
gap between the two points at a shifted model. The arithmetic is scikit-learn's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn import metrics as skm

from unseen.evaluation.multiclass import check_same_length


@dataclass(frozen=True)
class RegressionMetrics:
    """When every true value is the same, R² and explained variance are 1 for exact predictions and 0 otherwise
    (scikit-learn's ``force_finite``), since the ratio they are defined by is 0/0 or x/0 there."""

    rows: int
    mae: float
    mse: float
    rmse: float
    r2: float
    explained_variance: float

    def scalars(self) -> dict[str, float]:
        """Every scalar metric by the name it is logged under."""
        return {
            "mae": self.mae,
            "mse": self.mse,
            "rmse": self.rmse,
            "r2": self.r2,
            "explained_variance": self.explained_variance,
        }


def _values(values: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector; got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numbers; got values of type {array.dtype}")
    floats = array.astype(np.float64)
    if not np.all(np.isfinite(floats)):
        raise ValueError(f"{name} hold {int(np.sum(~np.isfinite(floats)))} missing or infinite values")
    return floats


def regression_metrics(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> RegressionMetrics:
    """MAE, MSE, RMSE, R² and explained variance of predicted values. Needs at least two rows: R² of one
    row is undefined."""
    truth = _values(y_true, "labels")
    predicted = _values(y_pred, "predicted values")
    check_same_length(len(truth), len(predicted), "predicted values")
    if len(truth) < 2:
        raise ValueError("regression metrics need at least 2 rows; R² of a single row is undefined")
    mse = float(skm.mean_squared_error(truth, predicted))
    return RegressionMetrics(
        rows=len(truth),
        mae=float(skm.mean_absolute_error(truth, predicted)),
        mse=mse,
        rmse=float(skm.root_mean_squared_error(truth, predicted)),
        r2=float(skm.r2_score(truth, predicted)),
        explained_variance=float(skm.explained_variance_score(truth, predicted)),
    )
