"""``replay`` (tests only): a guest task replays its own message to a host task of the same party's node.

Messages between two tasks of one party never cross TLS, but they pass the same checks. The guest sends a
message with a sequence number of its choosing, then the same message again and an older number, straight
through its node's task channel (with its real token), and logs what the node answered. The host reads the
one copy the node kept and checks that no second copy is waiting; it never reads 'extra', which the node
drops when the job ends.
"""

from __future__ import annotations

import grpc
from pydantic import BaseModel, ConfigDict

from unseen.components.spec import ComponentSpec
from unseen.runtime.channel import NodeChannel
from unseen.runtime.context import Context
from unseen.runtime.parties import Role
from unseen.transport import codec
from unseen.transport.proto import federation_pb2 as pb


class ReplayParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _send_raw(ctx: Context, channel: NodeChannel, seq: int) -> str:
    """Send JSON ``"pay"`` under the tag 'once' with number ``seq``; the node's refusal, or 'accepted'."""
    encoded = codec.encode("pay")
    host = ctx.hosts[0]
    envelope = pb.Envelope(
        job_id=ctx.job_id,
        component=ctx.component,
        tag="once",
        src_party=ctx.party_id,
        src_role=ctx.role.value,
        dst_party=host.party_id,
        dst_role=host.role.value,
        seq=seq,
        payload=encoded.header,
    )
    small = pb.Small(header=envelope, data=bytes(encoded.body))
    try:
        channel._send_one(small, metadata=channel._metadata, timeout=30)
    except grpc.RpcError as error:
        return f"{error.code().name}: {error.details()}"
    return "accepted"


def run(ctx: Context, params: ReplayParams) -> None:
    if ctx.role == Role.GUEST:
        channel = ctx._federation
        assert isinstance(channel, NodeChannel)
        for seq in (1000, 1000, 999):
            ctx.logger.info("seq %d: %s", seq, _send_raw(ctx, channel, seq))
        ctx.send("extra", "never read", to=ctx.hosts[0])  # still unread when the job succeeds
        ctx.send("done", True, to=ctx.hosts[0])  # the task's own counter: another stream, a low number
        return
    first = ctx.recv("once", frm=ctx.guest)
    ctx.recv("done", frm=ctx.guest)
    try:
        second = ctx.recv("once", frm=ctx.guest, timeout=1.0)
    except TimeoutError:
        ctx.logger.info("received %r once, and no other copy", first)
        return
    raise ValueError(f"a replayed copy was delivered: {second!r}")


SPEC = ComponentSpec(
    name="replay",
    roles=frozenset({Role.GUEST, Role.HOST}),
    params=ReplayParams,
    run=run,
    description="the guest replays its own message to a host of the same party (tests only)",
)
