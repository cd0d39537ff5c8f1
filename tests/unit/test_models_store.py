"""Model parts round-trip through JSON and pickle-free npz; nothing that needs code to load is accepted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unseen.storage.models_store import ModelPart, ModelStore


def test_a_model_part_round_trips(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    part = ModelPart({"kind": "hetero_lr", "features": ["x0", "x1"]}, {"coef": np.array([0.5, -1.0])})
    store.save("job1", "lr_0", "model", part)
    back = store.load("job1", "lr_0", "model")
    assert back.meta == part.meta
    np.testing.assert_array_equal(back.arrays["coef"], part.arrays["coef"])


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="pickle"):
        ModelStore(tmp_path).save("j", "c", "m", ModelPart({}, {"bad": np.array([{"a": 1}], dtype=object)}))


def test_a_missing_model_and_path_tricks_are_clear_errors(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    with pytest.raises(FileNotFoundError, match="no model 'model' of lr_0 in job j"):
        store.load("j", "lr_0", "model")
    with pytest.raises(ValueError, match="cannot name a model folder"):
        store.folder("..", "x", "y")
