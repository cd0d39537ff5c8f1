"""``keep_all`` (tests only): the host keeps every large array it receives, and checks them all at the end.

Large bodies reach a task through receive files it reuses once nothing refers to the value decoded from
them. Here each array has its own values and the host holds every one of them, some only through a view,
so a file reused too early would show up as an array with another round's values.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from unseen.components.spec import ComponentSpec
from unseen.runtime.context import Context
from unseen.runtime.parties import Role


class KeepAllParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    elements: int = Field(1024 * 1024, ge=1)
    rounds: int = Field(4, ge=1, le=50)


def run(ctx: Context, params: KeepAllParams) -> None:
    if ctx.role == Role.GUEST:
        for index, it in ctx.iterations(params.rounds):
            it.send("array", np.full(params.elements, float(index), dtype=np.float64), to=ctx.hosts[0])
        return
    kept: list[np.ndarray] = []
    for index, it in ctx.iterations(params.rounds):
        array = it.recv("array", frm=ctx.guest)
        assert isinstance(array, np.ndarray)
        kept.append(array[-3:] if index % 2 else array)  # odd rounds: only a view keeps the value alive
        del array
    for index, value in enumerate(kept):
        if not np.all(value == float(index)):
            raise ValueError(f"the array of round {index} changed after it was received: {value[:3]}")
    ctx.logger.info("all %d arrays kept their values", len(kept))


SPEC = ComponentSpec(
    name="keep_all",
    roles=frozenset({Role.GUEST, Role.HOST}),
    params=KeepAllParams,
    run=run,
    description="the host keeps every array it receives and checks them at the end (tests only)",
)
