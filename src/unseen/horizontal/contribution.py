"""A worker's contribution to a round as one float64 vector, so that plain and secure aggregation sum alike.

Layout: the weighted change (or gradient), tensor by tensor in the model's order, then five statistics:

    weight, weight * train_loss, eval_weight, eval_weight * eval_loss, eval_weight * eval_accuracy

so the sum gives the aggregator the total weight (FedAvg's denominator) and weighted means of the workers'
losses and accuracies, and never one worker's figure when the sum is computed securely.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from unseen.horizontal.weights import Weights, flatten, size_of, unflatten

STATS = 5


@dataclass(frozen=True)
class RoundStats:
    """What the sum of the contributions says about the round."""

    total_weight: float
    train_loss: float | None
    eval_loss: float | None
    eval_accuracy: float | None


def length(like: Mapping[str, np.ndarray] | None) -> int:
    return (size_of(like) if like else 0) + STATS


def pack(
    change: Mapping[str, np.ndarray] | None,
    weight: float,
    train_loss: float = 0.0,
    eval_weight: float = 0.0,
    eval_loss: float = 0.0,
    eval_accuracy: float = 0.0,
) -> np.ndarray:
    """``change`` must already be multiplied by ``weight``."""
    stats = np.array(
        [weight, weight * train_loss, eval_weight, eval_weight * eval_loss, eval_weight * eval_accuracy],
        dtype=np.float64,
    )
    vector = np.concatenate([flatten(change) if change else np.zeros(0), stats])
    if not np.all(np.isfinite(vector)):
        raise ValueError("a contribution must be finite (the local training diverged?)")
    return vector


def unpack(total: np.ndarray, like: Mapping[str, np.ndarray] | None) -> tuple[Weights, RoundStats]:
    if total.shape != (length(like),):
        raise ValueError(f"a summed contribution of shape {total.shape} does not fit the model")
    body, stats = total[:-STATS], total[-STATS:]
    weight, train, eval_weight, eval_loss, eval_acc = (float(v) for v in stats)
    change = unflatten(body, like) if like else {}
    return change, RoundStats(
        total_weight=weight,
        train_loss=train / weight if weight > 0 else None,
        eval_loss=eval_loss / eval_weight if eval_weight > 0 else None,
        eval_accuracy=eval_acc / eval_weight if eval_weight > 0 else None,
    )
