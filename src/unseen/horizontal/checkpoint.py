"""Checkpoint and resume of the global model: npz of plain arrays, loaded without pickle.

One file holds the global weights (``w:<name>``), the strategy's state (``s:<name>``, an optimizer's
moments) and a small JSON header (``meta``: next round, early-stopping counters), written to a temporary
file and renamed so that a crash mid-write leaves the previous checkpoint whole.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from unseen.horizontal.weights import Weights
from unseen.values import TENSOR_NAME

_MAX_META = 1 << 20


@dataclass
class Checkpoint:
    weights: Weights
    state: Weights
    meta: dict[str, Any]


def save(path: Path, weights: Mapping[str, np.ndarray], state: Mapping[str, np.ndarray], meta: dict[str, Any]) -> None:
    arrays = {f"w:{n}": np.asarray(t) for n, t in weights.items()}
    arrays |= {f"s:{n}": np.asarray(t) for n, t in state.items()}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub wants a str key type
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load(path: Path) -> Checkpoint:
    """Read a checkpoint; object arrays (pickles) are refused by numpy itself (``allow_pickle=False``)."""
    weights: Weights = {}
    state: Weights = {}
    meta: dict[str, Any] = {}
    with np.load(path, allow_pickle=False) as archive:
        for key in archive.files:
            array = archive[key]
            if key == "meta":
                if array.dtype != np.uint8 or array.size > _MAX_META:
                    raise ValueError(f"checkpoint {path.name}: its meta entry is not a small JSON text")
                loaded = json.loads(array.tobytes().decode("utf-8"))
                if not isinstance(loaded, dict):
                    raise ValueError(f"checkpoint {path.name}: meta is not a JSON object")
                meta = loaded
                continue
            kind, _, name = key.partition(":")
            if kind not in ("w", "s") or not TENSOR_NAME.fullmatch(name):
                raise ValueError(f"checkpoint {path.name} holds an unexpected entry {key[:64]!r}")
            (weights if kind == "w" else state)[name] = array
    return Checkpoint(weights, state, meta)
