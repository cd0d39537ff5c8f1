"""Models at rest, in formats that run no code when loaded: JSON for structure, npz (no pickle) or safetensors
for arrays (``ModelPart.tensors``; neural networks use safetensors, which any framework loads without code).

Each party stores only its own part of a federated model (its own coefficients, its own trees), under
the job and component that trained it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from unseen import ids

_PART_NAME = "part.json"
_ARRAYS_NAME = "arrays.npz"
_TENSORS_NAME = "tensors.safetensors"


@dataclass
class ModelPart:
    """One party's share of a model: metadata (JSON) and named arrays."""

    meta: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    tensors: Literal["npz", "safetensors"] = "npz"


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, job_id: str, component: str, slot: str) -> Path:
        """``models/<job>/<component>/<slot>``, from identifiers that match their grammars (``unseen.ids``) only."""
        for grammar, part in ((ids.JOB_ID, job_id), (ids.COMPONENT, component), (ids.SLOT, slot)):
            if not grammar.matches(part):
                raise ValueError(f"{ids.safe(part)} cannot name a model folder: {grammar.rule}")
        return self.root / job_id / component / slot

    def save(self, job_id: str, component: str, slot: str, part: ModelPart) -> Path:
        folder = self.folder(job_id, component, slot)
        folder.mkdir(parents=True, exist_ok=True)
        for array in part.arrays.values():
            if array.dtype == object:
                raise TypeError("object arrays cannot be stored: they would need pickle to load")
        _atomic_write(folder / _PART_NAME, json.dumps(part.meta, allow_nan=False).encode())
        if part.tensors == "safetensors":
            from safetensors.numpy import save

            contiguous = {name: np.ascontiguousarray(array) for name, array in part.arrays.items()}
            _atomic_write(folder / _TENSORS_NAME, save(contiguous))
            (folder / _ARRAYS_NAME).unlink(missing_ok=True)
            return folder
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".npz", delete=False) as handle:
            np.savez(handle, allow_pickle=False, **part.arrays)
        os.replace(handle.name, folder / _ARRAYS_NAME)
        (folder / _TENSORS_NAME).unlink(missing_ok=True)
        return folder

    def slots(self, job_id: str) -> list[tuple[str, str]]:
        """Every (component, slot) of the job that stored a model part at this party."""
        root = self.root / job_id
        if not root.is_dir():
            return []
        return sorted((part.parent.parent.name, part.parent.name) for part in root.glob(f"*/*/{_PART_NAME}"))

    def load(self, job_id: str, component: str, slot: str) -> ModelPart:
        folder = self.folder(job_id, component, slot)
        if not (folder / _PART_NAME).is_file():
            raise FileNotFoundError(f"no model '{slot}' of {component} in job {job_id} at this party")
        meta = json.loads((folder / _PART_NAME).read_text())
        if (folder / _TENSORS_NAME).is_file():
            from safetensors.numpy import load_file

            return ModelPart(meta, dict(load_file(folder / _TENSORS_NAME)), "safetensors")
        with np.load(folder / _ARRAYS_NAME, allow_pickle=False) as arrays:
            return ModelPart(meta, {name: arrays[name] for name in arrays.files})


def _atomic_write(path: Path, content: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
        handle.write(content)
    os.replace(handle.name, path)
