"""``psi``: align the guest's and hosts' tables on the ids they share, without revealing the others.

Each party intersects its table's ids with the partners' by ECDH-PSI (``unseen.vertical.psi``) and keeps
its own rows of the intersection, in an order every party shares, so row ``i`` is the same user at every
party. No id crosses the wire; each party learns the intersection and the partners' set sizes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from unseen.components.spec import ComponentSpec
from unseen.runtime.parties import Role

if TYPE_CHECKING:
    from unseen.runtime.context import Context


class PsiParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(65_536, ge=1024, le=1 << 20, description="ids per message, bounding memory per batch")
    workers: int | None = Field(
        None,
        ge=1,
        le=256,
        description="processes for group operations (default: all cores; small sets are done in the task itself)",
    )


def run(ctx: Context, params: PsiParams) -> None:
    from unseen.vertical.psi import psi_guest, psi_host

    table = ctx.read_input("data")
    ids = table.ids.tolist()
    side = psi_guest if ctx.role == Role.GUEST else psi_host
    result = side(ctx, ids, batch_size=params.batch_size, workers=params.workers)
    aligned = table.take(result.positions)
    ctx.write_output("data", aligned)
    ctx.metrics.log("intersection_size", result.size)
    ctx.metrics.log("own_count", result.own_count)
    ctx.logger.info(
        "psi: %d of %d rows kept, aligned with %s",
        result.size,
        result.own_count,
        ", ".join(f"{peer} ({count} ids)" for peer, count in result.peer_counts.items()),
    )


SPEC = ComponentSpec(
    name="psi",
    roles=frozenset({Role.GUEST, Role.HOST}),
    params=PsiParams,
    run=run,
    inputs=("data",),
    outputs=("data",),
    description="ECDH private set intersection; aligns each party's rows on the shared ids",
)
