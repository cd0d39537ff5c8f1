"""``demo_source``, a component the board's browser tests plug into real nodes through UNSEEN_COMPONENTS.

It writes a small made-up table at each party, the input of ``metrics_demo`` (one ``SPEC`` per module, as
the registry expects).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from unseen.components.spec import ComponentSpec
from unseen.runtime.context import Context
from unseen.runtime.parties import Role

ROWS = 40


class SourceParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: int = Field(ROWS, ge=1, le=10_000)


def run_source(ctx: Context, params: SourceParams) -> None:
    ids = np.arange(params.rows, dtype=np.int64)
    ctx.write_output("data", {"id": ids, "x0": np.sin(ids / 3.0), "x1": np.cos(ids / 5.0)})
    ctx.logger.info("demo_source: wrote %d rows", params.rows)


SPEC = ComponentSpec(
    name="demo_source",
    roles=frozenset({Role.GUEST, Role.HOST}),
    params=SourceParams,
    run=run_source,
    outputs=("data",),
    description="writes a small made-up table at each party (tests only)",
)
