"""``feature_scale``: each party rescales its own feature columns, locally.

Gradient-based training (hetero LR) converges in few iterations only when features are on comparable
scales, and fixed-point encryption needs bounded values. Each party scales only its own columns with its
own statistics; nothing crosses the wire. Ids and the label are left as they are. The statistics are kept
as this party's model part, so the same transformation can be applied to new data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from unseen.components.spec import ComponentSpec
from unseen.runtime.parties import Role
from unseen.storage.models_store import ModelPart
from unseen.storage.tables import Table

if TYPE_CHECKING:
    from unseen.runtime.context import Context


class FeatureScaleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["standard", "min_max"] = Field(
        "standard", description="standard: (x - mean) / std; min_max: (x - min) / (max - min)"
    )


def fit_scaler(features: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-column offset and scale; a constant column gets scale 1 so it maps to 0 instead of NaN."""
    if method == "standard":
        offset, scale = features.mean(axis=0), features.std(axis=0)
    else:
        offset, scale = features.min(axis=0), features.max(axis=0) - features.min(axis=0)
    return offset, np.where(scale > 0, scale, 1.0)


def run(ctx: Context, params: FeatureScaleParams) -> None:
    table = ctx.read_input("data")
    names = table.feature_names
    features = table.features()
    if table.rows == 0:
        raise ValueError("feature_scale got an empty table; check the upstream component's output")
    offset, scale = fit_scaler(features, params.method)
    scaled = (features - offset) / scale
    columns = dict(table.columns)
    for index, name in enumerate(names):
        columns[name] = scaled[:, index]
    ctx.write_output("data", Table(columns, table.id_column, table.label_column))
    ctx.write_model(
        "model",
        ModelPart({"method": params.method, "features": names}, {"offset": offset, "scale": scale}),
    )
    ctx.logger.info("scaled %d features of %d rows (%s)", len(names), table.rows, params.method)


SPEC = ComponentSpec(
    name="feature_scale",
    roles=frozenset({Role.GUEST, Role.HOST}),
    params=FeatureScaleParams,
    run=run,
    inputs=("data",),
    outputs=("data", "model"),
    description="each party standardises (or min-max scales) its own features, locally",
)
