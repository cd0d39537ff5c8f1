"""``toy_secure_sum``: the first job a newcomer runs, and a real secure-sum protocol.

Guest and every host each hold ``data_num`` values of 1.0 spread over ``partitions``; together they
compute the total by additive secret sharing (see ``unseen.crypto.secure_sum``), so no message carries a
party's values or its partial sum in clear. The guest logs the total as the metric ``secure_sum``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from unseen.components.spec import ComponentSpec
from unseen.runtime.parties import Role

if TYPE_CHECKING:
    from unseen.runtime.context import Context


class ToySecureSumParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_num: int = Field(1000, ge=1, le=100_000_000, description="values of 1.0 each party holds")
    partitions: int = Field(4, ge=1, le=1024, description="partitions the values are spread over")


def local_partitions(params: ToySecureSumParams) -> list[np.ndarray]:
    """The party's own data: ``data_num`` ones split as evenly as possible over ``partitions``."""
    return [
        np.ones(len(part), dtype=np.float64) for part in np.array_split(np.arange(params.data_num), params.partitions)
    ]


def run(ctx: Context, params: ToySecureSumParams) -> None:
    from unseen.crypto.secure_sum import secure_sum

    partition_sums = [float(part.sum()) for part in local_partitions(params)]
    local_sum = float(np.sum(partition_sums))
    ctx.logger.info("holding %d values over %d partitions", params.data_num, params.partitions)
    total = secure_sum(ctx, local_sum)
    ctx.logger.info("secure sum computed: %s", total)
    ctx.metrics.log("secure_sum", total)


SPEC = ComponentSpec(
    name="toy_secure_sum",
    roles=frozenset({Role.GUEST, Role.HOST}),
    params=ToySecureSumParams,
    run=run,
    description="secure sum of values held by guest and hosts, by additive secret sharing",
)
