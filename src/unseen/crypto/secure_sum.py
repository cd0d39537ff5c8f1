"""Secure sum: the total of values held by guest and hosts, with no party's value ever sent in clear.

Protocol (additive secret sharing, as FATE's toy example does):

1. each participant encodes its value in fixed point and splits it into one share per participant;
2. it sends every other participant one share and keeps its own;
3. each participant adds the shares it holds and sends that partial sum to the guest
   (a sum of shares from everyone, which is uniformly random to the guest unless every other
   participant's shares are known);
4. the guest adds the partial sums, decodes the total and sends it to the hosts.

What it reveals: the total, to every participant. With two participants the total minus one's own value
is the other's value, so two-party secure sum hides the messages, not the arithmetic; with three or more,
no single party learns another's value (colluding parties learn the sum of the others'). It is secure
against semi-honest parties; a malicious one can change the total by changing its shares.
"""

from __future__ import annotations

from typing import overload

import numpy as np

from unseen.crypto.sharing import combine, decode_fixed, encode_fixed, split
from unseen.runtime.context import Context
from unseen.runtime.parties import PartyRef, Role


@overload
def secure_sum(ctx: Context, value: float) -> float: ...


@overload
def secure_sum(ctx: Context, value: np.ndarray) -> np.ndarray: ...


def secure_sum(ctx: Context, value: float | np.ndarray) -> float | np.ndarray:
    """The sum over the job's guest and hosts of ``value`` (a number or an array of one shape everywhere)."""
    members: list[PartyRef] = ctx.members(Role.GUEST) + ctx.members(Role.HOST)
    others = [party for party in members if party != ctx.me]
    ctx = ctx.sub("secure_sum")

    shares = split(encode_fixed(np.asarray(value, dtype=np.float64), terms=len(members)), len(members))
    for party, share in zip(members, shares, strict=True):
        if party != ctx.me:
            ctx.send("share", share, to=party)
    held = [shares[members.index(ctx.me)], *(_ring(ctx.recv("share", frm=party)) for party in others)]
    partial = combine(held)

    if ctx.me == ctx.guest:
        partials = [
            partial,
            *(_ring(ctx.recv("partial", frm=party)) for party in others if party != ctx.guest),
        ]
        total = decode_fixed(combine(partials))
        ctx.send("total", total, to=[party for party in others])
    else:
        ctx.send("partial", partial, to=ctx.guest)
        total = np.asarray(ctx.recv("total", frm=ctx.guest), dtype=np.float64)
    return float(total) if np.ndim(value) == 0 else total


def _ring(received: object) -> np.ndarray:
    if not isinstance(received, np.ndarray) or received.dtype != np.uint64:
        raise TypeError(f"expected a uint64 share, got {type(received).__name__}")
    return received
