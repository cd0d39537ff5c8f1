"""Tests for unseen.horizontal.checkpoint: npz without pickle, atomic replace, hostile files refused."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from unseen.horizontal import checkpoint


def test_checkpoint_roundtrips_weights_state_and_meta(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    weights: dict[str, np.ndarray] = {
        "layer.0/kernel:0": np.arange(6, dtype=np.float16).reshape(2, 3),
        "n": np.array(3, dtype=np.int64),
    }
    state = {"m/layer.0/kernel:0": np.ones((2, 3))}
    checkpoint.save(path, weights, state, {"next_round": 4})
    loaded = checkpoint.load(path)
    assert loaded.meta == {"next_round": 4}
    assert list(loaded.weights) == list(weights)
    for name, tensor in weights.items():
        assert loaded.weights[name].dtype == tensor.dtype
        np.testing.assert_array_equal(loaded.weights[name], tensor)
    np.testing.assert_array_equal(loaded.state["m/layer.0/kernel:0"], state["m/layer.0/kernel:0"])
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temporary file left behind


def test_a_checkpoint_holding_a_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, **{"w:x": np.array([{"a": 1}], dtype=object)})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pickle"):
        checkpoint.load(path)


def test_a_checkpoint_with_an_unexpected_entry_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as archive, archive.open("../x.npy", "w") as member:
        np.lib.format.write_array(member, np.zeros(1))
    with pytest.raises(ValueError, match="unexpected entry"):
        checkpoint.load(path)
