"""``reader``: a party's stored table becomes the job's data at that party.

Every party reads its own table (name it per role with ``role_params``); nothing crosses the wire. The
table's id and label columns travel with it to the components downstream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from unseen.components.spec import ComponentSpec
from unseen.runtime.parties import Role

if TYPE_CHECKING:
    from unseen.runtime.context import Context


class ReaderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    table: str = Field(description="the table to read at this party, namespace.name")


def run(ctx: Context, params: ReaderParams) -> None:
    if ctx.tables is None:
        raise RuntimeError("reader needs the node's table storage")
    table = ctx.tables.read(params.table)
    ctx.logger.info(
        "read %s: %d rows, %d features%s",
        params.table,
        table.rows,
        len(table.feature_names),
        f", label '{table.label_column}'" if table.label_column else "",
    )
    ctx.write_output("data", table)
    ctx.metrics.log("rows", table.rows)


SPEC = ComponentSpec(
    name="reader",
    roles=frozenset({Role.GUEST, Role.HOST}),
    params=ReaderParams,
    run=run,
    outputs=("data",),
    description="reads a stored table at each party",
)
