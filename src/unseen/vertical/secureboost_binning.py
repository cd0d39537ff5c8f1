"""Quantile binning of one party's features, done once before training, at that party only.

Each feature gets at most ``max_bin - 1`` cut points (so at most ``max_bin`` bins of values): the midpoints
between distinct values when there are few, else quantiles of the values (ties merged). A value's bin is the
number of cut points at or below it, so "bin <= t" is exactly "x < cut[t]": the threshold a split stores. Missing
values (NaN) get their own bin, index ``max_bin``, whose rows a split sends to whichever side gains more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Binned:
    """Bins (rows x features, uint16), the cut points of each feature, and the missing-value bin index."""

    bins: npt.NDArray[np.uint16]
    cuts: list[npt.NDArray[np.float64]]
    max_bin: int

    @property
    def missing_bin(self) -> int:
        return self.max_bin

    @property
    def width(self) -> int:
        """Bins per feature in a histogram: the value bins and the missing bin."""
        return self.max_bin + 1


def feature_cuts(column: npt.NDArray[np.float64], max_bin: int) -> npt.NDArray[np.float64]:
    """At most ``max_bin - 1`` increasing cut points for one column (NaN ignored)."""
    values = column[~np.isnan(column)]
    if values.size == 0:
        return np.zeros(0)
    distinct = np.unique(values)
    if distinct.size <= max_bin:
        return (distinct[:-1] + distinct[1:]) / 2.0
    quantiles = np.quantile(values, np.linspace(0.0, 1.0, max_bin + 1)[1:-1], method="linear")
    # a cut at the very minimum would leave an empty first bin; drop it and merge ties
    cuts = np.unique(quantiles[quantiles > distinct[0]])
    return cuts.astype(np.float64)


def bin_features(x: npt.ArrayLike, max_bin: int) -> Binned:
    """Bin every column of ``x`` (rows x features); vectorised per column, no loop over rows."""
    matrix = np.asarray(x, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"expected a (rows, features) matrix, got shape {matrix.shape}")
    if np.isinf(matrix).any():
        raise ValueError("features must be finite numbers or NaN (missing)")
    bins = np.empty(matrix.shape, dtype=np.uint16)
    cuts: list[npt.NDArray[np.float64]] = []
    for j in range(matrix.shape[1]):
        column = matrix[:, j]
        cut = feature_cuts(column, max_bin)
        index = np.searchsorted(cut, column, side="right")
        index[np.isnan(column)] = max_bin
        bins[:, j] = index
        cuts.append(cut)
    return Binned(bins, cuts, max_bin)


def goes_left(values: npt.NDArray[np.float64], threshold: float, missing_left: bool) -> npt.NDArray[np.bool_]:
    """The rule of a stored split on raw values: ``x < threshold``, missing values to the side it chose."""
    missing = np.isnan(values)
    with np.errstate(invalid="ignore"):
        left = values < threshold
    return np.where(missing, missing_left, left)


def threshold_of(binned: Binned, feature: int, cut: int) -> float:
    """The stored threshold of "bin <= cut": the cut point, or +inf for "every value" (the is-missing split)."""
    cuts = binned.cuts[feature]
    return float(cuts[cut]) if cut < len(cuts) else float("inf")
