"""feature_scale: each party's own columns rescaled, ids and label untouched, nothing sent."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from unseen.components.feature_scale import FeatureScaleParams, fit_scaler, run
from unseen.runtime.context import Context
from unseen.runtime.metrics import MemoryMetricSink, Metrics
from unseen.runtime.parties import PartyRef, Role
from unseen.storage.models_store import ModelStore
from unseen.storage.tables import Table, TableStore


class NoWire:
    def send(self, *_: object) -> None:
        raise AssertionError("feature_scale must not send anything")

    def recv(self, *_: object) -> None:
        raise AssertionError("feature_scale must not receive anything")


def context(tmp_path: Path) -> Context:
    return Context(
        job_id="j", component="scale_0", me=PartyRef(Role.GUEST, 1), parties={Role.GUEST: [1]},
        federation=NoWire(), metrics=Metrics(MemoryMetricSink()), logger=logging.getLogger("t"),
        tables=TableStore(tmp_path / "tables"), models=ModelStore(tmp_path / "models"),
        inputs={"data": "reader_0.data"},
    )  # fmt: skip


@pytest.mark.parametrize("method", ["standard", "min_max"])
def test_features_are_rescaled_and_ids_and_label_kept(tmp_path: Path, method: str) -> None:
    ctx = context(tmp_path)
    table = Table(
        {"id": np.array(["a", "b", "c", "d"]), "y": np.array([0, 1, 1, 0]),
         "x0": np.array([1.0, 2.0, 3.0, 4.0]), "x1": np.array([1000.0, 3000.0, 2000.0, 4000.0]),
         "flat": np.array([7.0, 7.0, 7.0, 7.0])},
        "id", "y",
    )  # fmt: skip
    assert ctx.tables is not None
    ctx.tables.write(ctx.output_table_name("data", "reader_0"), table)
    run(ctx, FeatureScaleParams(method=method))
    out = ctx.tables.read(ctx.output_table_name("data"))
    assert out.ids.tolist() == ["a", "b", "c", "d"] and out["y"].tolist() == [0, 1, 1, 0]
    if method == "standard":
        np.testing.assert_allclose(out.features()[:, :2].mean(axis=0), 0, atol=1e-12)
        np.testing.assert_allclose(out.features()[:, :2].std(axis=0), 1)
    else:
        assert out.features()[:, :2].min() == 0 and out.features()[:, :2].max() == 1
    assert out["flat"].tolist() == [0.0] * 4
    model = ModelStore(tmp_path / "models").load("j", "scale_0", "model")
    assert model.meta["features"] == ["x0", "x1", "flat"] and model.arrays["scale"].shape == (3,)


def test_constant_columns_do_not_divide_by_zero() -> None:
    offset, scale = fit_scaler(np.ones((5, 2)), "standard")
    assert offset.tolist() == [1.0, 1.0] and scale.tolist() == [1.0, 1.0]
