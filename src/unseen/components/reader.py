"""``reader``: a party's stored table becomes the job's data at that party.

Every party reads its own table (name it per role with ``role_params``); nothing crosses the wire. The
table's id and label columns travel with it to the components downstream. A CIFAR-10 or Criteo table (uploaded
with ``--format cifar10-bin|criteo-tsv``) is not loaded: the output is a link to its stored file, which a
component such as ``homo_nn`` streams.
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
    from unseen.datasets.record_tables import stored_format

    if ctx.tables.exists(params.table):
        kind = stored_format(ctx.tables.path(params.table))
        if kind is not None:
            info = ctx.tables.link(params.table, ctx.output_table_name("data"))
            ctx.logger.info("read %s: a %s table of %d rows, passed on unloaded", params.table, kind, info.rows)
            ctx.metrics.log("rows", info.rows)
            return
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
