"""``gather_record`` (tests only): the arbiter broadcasts a large tensor record (float32 and bfloat16) to the
guest and the host through real nodes, then gathers one answer from each under one deadline. The party
named in ``silent_role`` never answers: the gather must name it as missing and keep the other's value."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from unseen.components.spec import ComponentSpec
from unseen.runtime.context import Context
from unseen.runtime.parties import Role
from unseen.values import TensorRecord


class GatherParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    elements: int = Field(1024 * 1024, ge=1, le=1 << 24)
    deadline_s: float = Field(5.0, gt=0, le=120)
    silent_role: Role | None = None


def _record(elements: int) -> TensorRecord:
    weights = {
        "layer.0/kernel:0": np.linspace(-1, 1, elements, dtype=np.float32),
        "emb": np.arange(8, dtype=np.float32),
    }
    return TensorRecord.from_floats(weights, bfloat16=["emb"])


def run(ctx: Context, params: GatherParams) -> None:
    workers = ctx.members(Role.GUEST) + ctx.members(Role.HOST)
    if ctx.role == Role.ARBITER:
        unreachable = ctx.broadcast("weights", _record(params.elements), to=workers)
        gathered = ctx.gather("answer", workers, timeout=params.deadline_s)
        ctx.logger.info(
            "unreachable %s; answered %s; missing %s",
            sorted(map(str, unreachable)),
            [f"{p}={gathered.values[p]}" for p in gathered.answered],
            gathered.describe_missing(),
        )
        return
    received = ctx.recv("weights", frm=ctx.arbiter)
    if received != _record(params.elements) or not isinstance(received, TensorRecord):
        raise RuntimeError("the tensor record arrived altered")
    if received.dtype_name("emb") != "bfloat16":
        raise RuntimeError("the bfloat16 tag was lost")
    if ctx.role != params.silent_role:
        ctx.send("answer", ctx.party_id, to=ctx.arbiter)


SPEC = ComponentSpec(
    name="gather_record",
    roles=frozenset({Role.GUEST, Role.HOST, Role.ARBITER}),
    params=GatherParams,
    run=run,
    description="broadcast a tensor record, gather answers under one deadline (tests only)",
)
