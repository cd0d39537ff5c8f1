"""Named weights as the algorithms see them, and the flat float64 vectors they are summed as.

A model is ``dict[str, np.ndarray]`` (a PyTorch ``state_dict`` or a Keras weight list with names). Updates and
gradients are computed in float64 and cast back to each tensor's own dtype when applied, so a float16 model
does not accumulate rounding in the aggregator and an integer buffer (BatchNorm's ``num_batches_tracked``)
stays an integer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

import numpy as np

Weights: TypeAlias = dict[str, np.ndarray]


def check_same_layout(reference: Mapping[str, np.ndarray], other: Mapping[str, np.ndarray], what: str) -> None:
    """Refuse a set of tensors whose names or shapes differ from the model's (a worker's bug or attack)."""
    if list(reference) != list(other):
        missing = sorted(set(reference) - set(other))[:5]
        extra = sorted(set(other) - set(reference))[:5]
        raise ValueError(f"{what} does not match the model's tensors: missing {missing}, unexpected {extra}")
    for name, tensor in reference.items():
        if np.shape(other[name]) != np.shape(tensor):
            raise ValueError(f"{what}: tensor {name} has shape {np.shape(other[name])}, expected {np.shape(tensor)}")


def size_of(weights: Mapping[str, np.ndarray]) -> int:
    return int(sum(np.size(t) for t in weights.values()))


def flatten(weights: Mapping[str, np.ndarray]) -> np.ndarray:
    """All tensors, in the mapping's order, as one float64 vector."""
    if not weights:
        return np.zeros(0, dtype=np.float64)
    return np.concatenate([np.asarray(t, dtype=np.float64).reshape(-1) for t in weights.values()])


def unflatten(vector: np.ndarray, like: Mapping[str, np.ndarray]) -> Weights:
    """The float64 tensors of ``vector`` shaped as those of ``like`` (same order)."""
    if vector.shape != (size_of(like),):
        raise ValueError(f"a vector of {vector.shape} cannot hold {size_of(like)} weights")
    out: Weights = {}
    offset = 0
    for name, tensor in like.items():
        count = int(np.size(tensor))
        out[name] = vector[offset : offset + count].reshape(np.shape(tensor))
        offset += count
    return out


def difference(new: Mapping[str, np.ndarray], old: Mapping[str, np.ndarray]) -> Weights:
    """``new - old`` per tensor, in float64."""
    return {n: np.asarray(new[n], dtype=np.float64) - np.asarray(old[n], dtype=np.float64) for n in old}


def add_scaled(weights: Mapping[str, np.ndarray], step: Mapping[str, np.ndarray], scale: float) -> Weights:
    """``weights + scale * step``, each result in its tensor's own dtype (integers rounded)."""
    out: Weights = {}
    for name, tensor in weights.items():
        value = np.asarray(tensor, dtype=np.float64) + scale * np.asarray(step[name], dtype=np.float64)
        dtype = np.asarray(tensor).dtype
        out[name] = (np.rint(value) if dtype.kind in "iub" else value).astype(dtype)
    return out


def l2_norm(weights: Mapping[str, np.ndarray]) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(np.asarray(t, dtype=np.float64)))) for t in weights.values())))
