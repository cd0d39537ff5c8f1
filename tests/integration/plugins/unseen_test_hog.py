"""``hog``: every party's task allocates ``megabytes`` of memory and touches it: a job that asks a node for
more memory than its operator allows one task (``task_memory_mb``), as a hostile or careless partner might."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from unseen.components.spec import ComponentSpec
from unseen.runtime.context import Context
from unseen.runtime.parties import Role


class HogParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    megabytes: int = Field(ge=1, le=1 << 20)


def run(ctx: Context, params: HogParams) -> None:
    block = np.ones(params.megabytes * 1024 * 1024, dtype=np.uint8)  # every page written, not just reserved
    ctx.logger.info("held %d MiB", block.nbytes >> 20)


SPEC = ComponentSpec(
    name="hog",
    roles=frozenset({Role.GUEST, Role.HOST}),
    params=HogParams,
    run=run,
    description="allocates memory on demand (tests only)",
)
