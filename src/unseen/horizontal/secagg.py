"""Secure aggregation with dropouts: SecAgg (Bonawitz et al., CCS 2017) on SecAgg+'s sparse graph
(Bell, Bonawitz, Gascón, Lepoint, Raykova, CCS 2020).

The aggregator learns the sum of the surviving workers' vectors and nothing else about any one of them.
One run per round, among the round's selected workers, in four exchanges through the aggregator:

1. **keys**: each worker makes two fresh X25519 key pairs, ``c`` (to encrypt shares to a peer) and ``s``
   (to agree masks with a peer), and sends the public halves; the aggregator forwards them to everyone.
   A worker makes the pairs for its next round at the end of this one and sends their public halves with
   its reveal (step 4); when every participant of a round did so, the setup message carries the listing
   and this exchange is skipped. Each pair still serves one round only.
   The neighbourhood graph is public: each worker's ``neighbours`` peers on a random ring (a Harary graph
   over a permutation the aggregator draws), or all the others when ``neighbours == 0`` (plain SecAgg).
2. **shares**: each worker draws a 256-bit self-mask seed ``b`` and Shamir-shares ``b`` and its private
   ``s`` key among its neighbours (threshold ``t = k // 2 + 1`` of its ``k`` neighbours), each share pair
   sealed (ChaCha20-Poly1305, key from X25519 + HKDF) for its holder; the aggregator routes what it cannot
   read, each holder's shares with its unmask request (step 4), the first message it needs them for.
3. **masked**: each worker encodes its vector in fixed point in Z/2^k (clipped) and sends
   ``y = x + PRG(b) + sum_v +-PRG(s_uv)`` over its neighbours ``v`` that advertised keys in step 1
   (``+`` towards a larger party, ``-`` towards a smaller one, so pairwise masks cancel in the sum). PRG
   is ChaCha20 keyed with the whole 256-bit seed. It need not wait for the shares routed to it in step 2.
4. **unmask**: the aggregator names the survivors (sent ``y``), the dropped (shared, sent no ``y``) and the
   unshared (advertised keys, sent no valid shares); each survivor reveals, per neighbour, its share of
   ``b`` if that neighbour survived or its share of ``s`` if it dropped, never both, and, for an unshared
   neighbour, whose shares it never received, the pairwise seed ``s_uv`` itself. The aggregator rebuilds
   the survivors' ``b`` (removes their self-masks), the dropped workers' ``s`` keys (recomputes and removes
   the pairwise masks they left in the survivors' vectors) and removes the unshared pairs' masks: the result
   is the exact ring sum of the survivors' encodings.

Why revealing ``s_uv`` for an unshared ``v`` is safe: ``v``'s shares of its self-mask seed ``b_v`` never
reached anyone, so whatever ``y_v`` the aggregator may hold stays hidden under ``PRG(b_v)``; and the
survivor ``u`` gives away one pairwise seed, less than the standard protocol gives away about ``u``'s pairs
when a neighbour drops after sharing (that neighbour's whole ``s`` key). A worker refuses to reveal the
pairwise seed of a neighbour whose shares it holds.

**When.** The first two exchanges and the masks do not depend on the update, so they run while the worker
trains: the aggregator's ``begin`` fixes the round (participants, graph, keys) and returns the setup, which
travels inside each worker's order; ``collect``, called once the orders are out, runs the key and share
exchanges among the workers the orders reached, while they train. A worker calls ``prepare`` with the
setup from its order; it runs keys and shares in a background thread and expands its whole mask
(``PRG(b) + sum_v +-PRG(s_uv)``) as soon as it has its neighbours' keys, while the shares go round. After
training only the masked vector (one addition of the encoding to the ready mask) and the unmask exchange
remain. Without them (the final evaluation, direct callers) the setup is a message of its own and the
four exchanges run in turn; what crosses the wire is otherwise the same.

Threat model: semi-honest (honest-but-curious) aggregator and workers, as in the papers' semi-honest
setting; no signatures or consistency checks, so an actively malicious aggregator that lies about who
dropped can unmask a worker. A round fails, naming the missing workers, when fewer than ``minimum``
workers remain at any stage or a worker's secret has fewer than ``t`` surviving holders.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from unseen.crypto import masking, shamir
from unseen.horizontal.summation import RoundFailedError, Summed, too_few
from unseen.runtime.federation import broadcast_concurrently
from unseen.runtime.parties import PartyRef
from unseen.values import JsonValue, Value

if TYPE_CHECKING:
    from unseen.runtime.context import Context

MASK_PURPOSE = b"unseen/secagg/v1/pairwise-mask"
SHARE_PURPOSE = b"unseen/secagg/v1/share-channel"
_MAX_HEX = 1024
_PAIR = 2 * shamir.SHARE_BYTES
MAX_LENGTH = 1 << 28  # a worker refuses to prepare a mask longer than this (2 GiB of uint64) for an aggregator
_T = TypeVar("_T")
UNMASK_CONCURRENCY = 8  # unmask requests (each with its holder's shares) in flight at once


ENCODING_DEFAULTS: dict[int, tuple[int, float]] = {64: (32, 65536.0), 32: (18, 256.0)}
"""Per ring, the default (fraction bits, clip). In 2^64: a resolution of 2^-32 and room for 2^14 workers at
+-65536. In 2^32, half the bytes and mask work: 2^-18 (3.8e-6, the resolution of Flower's SecAgg+
defaults) and +-256, room for 31 workers; more need a smaller clip or fewer fraction bits."""


def encoding_for(ring_bits: int, frac_bits: int | None = None, clip: float | None = None) -> tuple[int, float]:
    """``(frac_bits, clip)``: those given, the ring's defaults for the others."""
    masking.ring_dtype(ring_bits)  # refuses any other ring
    default_frac, default_clip = ENCODING_DEFAULTS[ring_bits]
    return default_frac if frac_bits is None else frac_bits, default_clip if clip is None else clip


@dataclass(frozen=True)
class SecAggConfig:
    neighbours: int = 0  # k: masks against k others (SecAgg+, even); 0 = against every other worker
    ring_bits: int = 64
    frac_bits: int = 32
    clip: float = 65536.0  # every coordinate of a (weighted) contribution is clipped to +-clip
    weight_cap: float = 10_000.0  # a worker's weight is min(n, cap) / cap, so that it fits the encoding
    threshold: int = 0  # t of Shamir's t-of-k among a worker's k neighbours; 0 = k // 2 + 1
    stage_deadline_s: float = 60.0  # the exchanges after the first (which waits for local training)
    wait_s: float = 900.0  # a worker's bound on each wait for the aggregator

    def __post_init__(self) -> None:
        masking.ring_dtype(self.ring_bits)
        if self.neighbours < 0 or self.neighbours % 2:
            raise ValueError("neighbours must be 0 (all) or a positive even number")
        if not (math.isfinite(self.weight_cap) and self.weight_cap > 0):
            raise ValueError("weight_cap must be a positive number")
        masking.check_capacity(1, self.clip, self.frac_bits, self.ring_bits)
        if self.threshold != 0 and self.threshold < 2:
            raise ValueError("secure_aggregation.threshold must be 0 (k // 2 + 1) or at least 2")
        if self.neighbours:
            check_threshold(self.threshold, self.neighbours)

    @classmethod
    def in_ring(
        cls, ring_bits: int, frac_bits: int | None = None, clip: float | None = None, **settings: Any
    ) -> SecAggConfig:
        """A config in the 2^``ring_bits`` ring, with that ring's encoding defaults for what is not given."""
        frac, bound = encoding_for(ring_bits, frac_bits, clip)
        return cls(ring_bits=ring_bits, frac_bits=frac, clip=bound, **settings)

    def threshold_for(self, holders: int) -> int:
        """The shares needed to rebuild a secret shared among ``holders`` neighbours."""
        return self.threshold or threshold(holders)

    def public(self) -> dict[str, JsonValue]:
        return {
            "threshold": self.threshold,
            "neighbours": self.neighbours,
            "ring_bits": self.ring_bits,
            "frac_bits": self.frac_bits,
            "clip": self.clip,
        }


def neighbourhoods(participants: list[PartyRef], neighbours: int, seed: int) -> dict[PartyRef, list[PartyRef]]:
    """The public masking graph: each party's ``neighbours`` closest on a ring permuted by ``seed``."""
    count = len(participants)
    if neighbours == 0 or neighbours >= count - 1:
        return {p: [q for q in participants if q != p] for p in participants}
    order = [participants[i] for i in np.random.default_rng(seed).permutation(count)]
    position = {p: i for i, p in enumerate(order)}
    half = neighbours // 2
    return {
        p: sorted({order[(position[p] + step) % count] for step in range(-half, half + 1) if step != 0})
        for p in participants
    }


def threshold(holders: int) -> int:
    """The default t: a strict majority of the holders."""
    return holders // 2 + 1


def check_threshold(chosen: int, holders: int) -> None:
    """Refuse a t under which the protocol's security argument or its dropout recovery cannot hold.

    Each honest holder reveals, per owner, a share of ``b`` or of ``s``, never both; only with t above half
    the k holders can no aggregator gather t of each kind for one worker (and so rebuild its self-mask seed
    and its mask key, and unmask it). Above k the secrets could never be rebuilt at all. Between, a larger t
    tolerates fewer dropped holders (k - t) and more colluding ones."""
    low = threshold(holders)
    if chosen == 0:
        return
    fix = f"set threshold between {low} and {holders}, or 0 for {low}"
    if chosen < low:
        raise ValueError(
            f"secure_aggregation.threshold {chosen} is too low: with {holders} neighbours it must be at least "
            f"{low} (k // 2 + 1), or an aggregator could rebuild both a worker's self-mask seed and its mask key; "
            + fix
        )
    if chosen > holders:
        raise ValueError(
            f"secure_aggregation.threshold {chosen} is too high: with {holders} neighbours it must be at most "
            f"{holders} (each secret has {holders} holders); " + fix
        )


def _sign(me: PartyRef, other: PartyRef) -> int:
    return 1 if me < other else -1


def _hex(value: object, size: int | None = None) -> bytes:
    if not isinstance(value, str) or len(value) > _MAX_HEX:
        raise ValueError("expected a hex string")
    raw = bytes.fromhex(value)
    if size is not None and len(raw) != size:
        raise ValueError(f"expected {size} bytes")
    return raw


class _ExitRoundError(Exception):
    """The aggregator left this worker out of the round: the worker returns and hears why next round."""


class _Background(Generic[_T]):
    """``work`` in a daemon thread; ``result`` gives its value or raises what it raised. The work bounds its
    own waits (every exchange has a deadline), and ``result`` bounds the join as well."""

    def __init__(self, ctx: Context, work: Callable[[], _T], name: str) -> None:
        self.ctx = ctx
        self._value: _T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], _T]) -> None:
        try:
            self._value = work()
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc

    def result(self, timeout: float) -> _T:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RoundFailedError(f"secure aggregation: the key and share exchanges did not end in {timeout:.0f} s")
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


class SecAggServer:
    secure = True

    def __init__(self, config: SecAggConfig | None = None) -> None:
        self.config = config or SecAggConfig()
        self.last_ring_total: np.ndarray | None = None  # the exact ring sum of the last round, for tests
        self._prepared: _ServerRound | None = None  # begun, its setup sent with the orders, not yet collected
        self._advertised: dict[PartyRef, tuple[bytes, bytes]] = {}  # workers' public keys for their next round

    def begin(self, ctx: Context, workers: list[PartyRef], length: int, minimum: int) -> dict[str, JsonValue] | None:
        """Fix the round's participants, graph and keys and return its setup, which the aggregator sends in each
        worker's order (not as a message of its own); ``collect`` with the same ``ctx`` runs the key and share
        exchanges while the workers train. Raises ``RoundFailedError``, before any order leaves, when the
        round's neighbourhoods do not fit the threshold or its sum could wrap the ring."""
        self._prepared = None
        participants = sorted(set(workers))
        if len(participants) < 2:
            return None
        run = _ServerRound(ctx, self.config, participants, length, minimum, self._advertised_for(participants), False)
        self._prepared = run
        return run.setup

    def _advertised_for(self, workers: list[PartyRef]) -> dict[PartyRef, tuple[bytes, bytes]] | None:
        """The public keys every one of ``workers`` advertised for its next round (each used once), or
        ``None`` when one did not: then the round exchanges keys afresh."""
        if not all(p in self._advertised for p in workers):
            return None
        return {p: self._advertised.pop(p) for p in workers}

    def collect(self, ctx: Context, workers: list[PartyRef], length: int, deadline_s: float, minimum: int) -> Summed:
        """The sum over ``workers`` (those the round's orders reached). After ``begin`` the keys and shares
        go round first, while the workers train; without it every exchange runs now, the setup included."""
        run, self._prepared = self._prepared, None
        if run is not None and run.ctx is not ctx:
            run = None  # begun for a round that never collected: its workers time out alone
        reached = sorted(set(workers))
        begun = run is not None
        if run is None and len(reached) < 2:  # the "sum" of one vector is that vector: refuse rather than pretend
            reason = _too_few_to_hide(len(reached))
            ctx.sub("secagg").broadcast("setup", {"excluded": reason}, workers)
            raise RoundFailedError(reason)
        started = time.monotonic()
        if run is not None:  # the setup went out with the orders
            run.missing |= {p: "could not be reached" for p in run.participants if p not in reached}
            u2 = run.shares(run.keys(self.config.stage_deadline_s))
            masked_deadline_s = deadline_s
        else:  # the first exchange waits for the workers' training
            run = _ServerRound(ctx, self.config, reached, length, minimum, self._advertised_for(reached), True)
            u2 = run.shares(run.keys(deadline_s))
            masked_deadline_s = self.config.stage_deadline_s
        if len(u2) < 2:
            reason = _too_few_to_hide(len(u2))
            run.sctx.broadcast("unmask", {"abort": reason}, u2)  # where the workers next listen
            raise RoundFailedError(reason)
        ready = time.monotonic()
        u3, total = run.masked(u2, masked_deadline_s)
        arrived = time.monotonic()
        dropped = [p for p in u2 if p not in u3]
        total = run.unmask(u3, dropped, total)
        self._advertised.update(run.next_keys)
        self.last_ring_total = total
        done = time.monotonic()
        ctx.logger.info(
            "secure aggregation of %d workers (%d dropped) in %.2f s: keys and shares %.3f s%s, masked vectors "
            "%.3f s, unmasking %.3f s (of which reveal %.3f s)",
            len(u3),
            len(dropped),
            done - started,
            ready - started,
            " (during training)" if begun else "",
            arrived - ready,
            done - arrived,
            run.reveal_s,
        )
        return Summed(masking.decode(total, self.config.frac_bits, self.config.ring_bits), u3, run.missing)


def _too_few_to_hide(count: int) -> str:
    return f"secure aggregation needs at least 2 workers, this round has {count}"


class _ServerRound:
    def __init__(
        self,
        ctx: Context,
        cfg: SecAggConfig,
        participants: list[PartyRef],
        length: int,
        minimum: int,
        advertised: dict[PartyRef, tuple[bytes, bytes]] | None,
        announce: bool,
    ):
        """``announce``: send the setup as a message now; otherwise the caller sends ``self.setup`` (with the
        round's orders), and a round whose neighbourhoods break the threshold raises before anything is sent."""
        self.ctx, self.sctx, self.cfg, self.length, self.minimum = ctx, ctx.sub("secagg"), cfg, length, minimum
        self.participants = participants
        seed = secrets.randbits(62)
        self.graph = neighbourhoods(participants, cfg.neighbours, seed)
        self.names = {str(p): p for p in participants}
        self.index = {p: i + 1 for i, p in enumerate(participants)}
        self.public_keys: dict[PartyRef, tuple[bytes, bytes]] = dict(advertised or {})
        self.next_keys: dict[PartyRef, tuple[bytes, bytes]] = {}  # advertised with the reveal, for next round
        self.u1: list[PartyRef] = []
        self.routed: dict[PartyRef, dict[str, JsonValue]] = {}  # per holder, the sealed shares it is sent
        self.reveal_s = 0.0  # the reveal's, for the log line
        try:
            masking.check_capacity(len(participants), cfg.clip, cfg.frac_bits, cfg.ring_bits)
            for holders in {len(n) for n in self.graph.values()}:
                check_threshold(cfg.threshold, holders)
        except ValueError as exc:  # the round's size does not fit the encoding or t: every worker hears why
            if announce:
                self.sctx.broadcast("setup", {"abort": str(exc)}, participants)
            raise RoundFailedError(str(exc)) from None
        setup: dict[str, JsonValue] = {"participants": list(self.names), "graph_seed": seed, "length": length}
        if advertised is not None:
            setup["peer_keys"] = self._listing()
        self.setup: dict[str, JsonValue] = setup | cfg.public()
        self.missing: dict[PartyRef, str] = {}
        if announce:
            self.missing |= self.sctx.broadcast("setup", self.setup, participants)

    def _stage(self, tag: str, stage: str, kept: list[PartyRef], waiting: list[PartyRef]) -> None:
        """Tell those left out that they are, or everyone waiting that the round failed, under ``tag``."""
        if len(kept) < self.minimum:
            error = too_few(stage, len(kept), self.minimum, self.missing)
            self.sctx.broadcast(tag, {"abort": str(error)[:2000]}, waiting)
            raise error
        left_out = [p for p in waiting if p not in kept]
        if left_out:
            self.sctx.broadcast(tag, {"excluded": "left out of this round's secure aggregation"}, left_out)

    def _listing(self) -> dict[str, JsonValue]:
        return {str(p): [k[0].hex(), k[1].hex()] for p, k in self.public_keys.items()}

    def keys(self, deadline_s: float) -> list[PartyRef]:
        if self.public_keys:  # advertised last round and listed in the setup: no exchange needed
            self.u1 = sorted(self.public_keys)
            return self.u1
        alive = [p for p in self.participants if p not in self.missing]
        gathered = self.sctx.gather("keys", alive, timeout=deadline_s)
        self.missing |= gathered.missing
        for party, value in gathered.values.items():
            try:
                if not isinstance(value, dict):
                    raise ValueError("not an object")
                self.public_keys[party] = (_hex(value.get("c"), 32), _hex(value.get("s"), 32))
            except ValueError:
                self.missing[party] = "sent invalid public keys"
        u1 = sorted(self.public_keys)
        self.u1 = u1
        self._stage("peer_keys", "key exchange", u1, alive)
        self.sctx.broadcast("peer_keys", self._listing(), u1)
        return u1

    def shares(self, u1: list[PartyRef]) -> list[PartyRef]:
        """Route each worker's sealed shares to their holders, unread."""
        # Not from those the orders did not reach: they advertised keys last round (so their neighbours mask
        # against them) but will send nothing; they end up unshared, their pairwise masks removed below.
        gathered = self.sctx.gather("shares", [p for p in u1 if p not in self.missing], self.cfg.stage_deadline_s)
        self.missing |= gathered.missing
        routed: dict[PartyRef, dict[str, JsonValue]] = {p: {} for p in u1}
        for sender, value in gathered.values.items():
            expected = {str(v) for v in self.graph[sender] if v in self.public_keys}
            enough = len(expected) >= self.cfg.threshold_for(len(self.graph[sender]))
            if not (isinstance(value, dict) and set(value) == expected and enough):
                self.missing[sender] = "sent shares that do not match its neighbourhood"
            elif not all(isinstance(c, str) and len(c) <= _MAX_HEX for c in value.values()):
                self.missing[sender] = "sent an oversized share"
            else:
                for holder_name, sealed in value.items():
                    routed[self.names[holder_name]][str(sender)] = sealed
        u2 = [p for p in u1 if p in gathered.values and p not in self.missing]
        # Those left out hear it where every worker next listens (the unmask request); each survivor's shares
        # travel with its unmask request, since a worker needs them only to answer it.
        self._stage("unmask", "share exchange", u2, u1)
        self.routed = {h: {s: c for s, c in routed[h].items() if self.names[s] in u2} for h in u2}
        return u2

    def masked(self, u2: list[PartyRef], deadline_s: float) -> tuple[list[PartyRef], np.ndarray]:
        dtype = masking.ring_dtype(self.cfg.ring_bits)
        gathered = self.sctx.gather("masked", u2, timeout=deadline_s)
        self.missing |= gathered.missing
        total = np.zeros(self.length, dtype=dtype)
        u3: list[PartyRef] = []
        for party in u2:
            value = gathered.values.get(party)
            if value is None:
                continue
            if not (isinstance(value, np.ndarray) and value.dtype == dtype and value.shape == (self.length,)):
                self.missing[party] = f"sent a masked vector that is not {self.length} uint{self.cfg.ring_bits}"
                continue
            total += value
            u3.append(party)
        self._stage("unmask", "masked input", u3, u2)
        dropped: list[JsonValue] = [str(p) for p in u2 if p not in u3]
        survivors: list[JsonValue] = [str(p) for p in u3]
        unshared: list[JsonValue] = [str(p) for p in self.u1 if p not in u2]
        listing: dict[str, JsonValue] = {"survivors": survivors, "dropped": dropped, "unshared": unshared}

        def send(tag: str, _listing: Value, holder: PartyRef) -> None:
            self.sctx.send(tag, listing | {"shares": self.routed[holder]}, to=holder)

        broadcast_concurrently(send, "unmask", listing, u3, UNMASK_CONCURRENCY)
        return u3, total

    def _revealed(
        self, u3: list[PartyRef], dropped: list[PartyRef], unshared: list[PartyRef]
    ) -> tuple[dict[PartyRef, dict[int, bytes]], ...]:
        """Per owner, what its holders revealed, by holder index: shares of ``b`` (survivors), of ``s``
        (dropped), and pairwise seeds (unshared; 32 bytes each)."""
        b_shares: dict[PartyRef, dict[int, bytes]] = {p: {} for p in u3}
        sk_shares: dict[PartyRef, dict[int, bytes]] = {p: {} for p in dropped}
        pair_seeds: dict[PartyRef, dict[int, bytes]] = {p: {} for p in unshared}
        gathered = self.sctx.gather("reveal", u3, timeout=self.cfg.stage_deadline_s)
        self.missing |= gathered.missing
        kinds = (("b", b_shares, shamir.SHARE_BYTES), ("sk", sk_shares, shamir.SHARE_BYTES), ("pair", pair_seeds, 32))
        for holder, value in gathered.values.items():
            try:
                if not isinstance(value, dict):
                    raise ValueError("not an object")
                for kind, store, size in kinds:
                    revealed = value.get(kind, {})
                    if not isinstance(revealed, dict):
                        raise ValueError(f"no {kind} shares")
                    for owner_name, share in revealed.items():
                        owner = self.names.get(owner_name)
                        if owner is None or owner not in store or holder not in self.graph[owner]:
                            raise ValueError(f"a share of {owner_name[:64]} it cannot hold")
                        store[owner][self.index[holder]] = _hex(share, size)
            except ValueError as exc:
                self.ctx.logger.warning("secure aggregation: %s sent invalid shares (%s); ignored", holder, exc)
                continue
            upcoming = value.get("next")
            if isinstance(upcoming, dict):
                with contextlib.suppress(ValueError):  # if invalid, this worker's next round exchanges keys afresh
                    self.next_keys[holder] = (_hex(upcoming.get("c"), 32), _hex(upcoming.get("s"), 32))
        return b_shares, sk_shares, pair_seeds

    def unmask(self, u3: list[PartyRef], dropped: list[PartyRef], total: np.ndarray) -> np.ndarray:
        """Remove the survivors' self-masks and the pairwise masks the dropped left behind."""
        asked = time.monotonic()
        unshared = [p for p in self.u1 if p not in u3 and p not in dropped]
        b_shares, sk_shares, pair_seeds = self._revealed(u3, dropped, unshared)
        self.reveal_s = time.monotonic() - asked
        short = [p for p in u3 if len(b_shares[p]) < self.cfg.threshold_for(len(self.graph[p]))]
        short += [p for p in dropped if len(sk_shares[p]) < self.cfg.threshold_for(len(self.graph[p]))]
        owed = {p: [u for u in self.graph[p] if u in u3] for p in unshared}  # who masked against p
        short += [p for p in unshared if len(pair_seeds[p]) < len(owed[p])]
        if short:
            raise RoundFailedError(
                f"unmasking: too few shares survive to recover {', '.join(map(str, short))}; missing: "
                + ", ".join(f"{p} ({why})" for p, why in sorted(self.missing.items()))
            )
        removals = [
            (shamir.combine(b_shares[owner], self.cfg.threshold_for(len(self.graph[owner]))), -1) for owner in u3
        ]
        for gone in dropped:
            private = X25519PrivateKey.from_private_bytes(
                shamir.combine(sk_shares[gone], self.cfg.threshold_for(len(self.graph[gone])))
            )
            for peer in self.graph[gone]:
                if peer in u3:
                    seed = masking.agree(private, self.public_keys[peer][1], MASK_PURPOSE)
                    removals.append((seed, -_sign(peer, gone)))
        for never in unshared:
            removals += [(pair_seeds[never][self.index[u]], -_sign(u, never)) for u in owed[never]]
        masking.add_masks(total, removals)
        return total


class SecAggClient:
    secure = True

    def __init__(self, config: SecAggConfig | None = None) -> None:
        self.config = config or SecAggConfig()
        self._prepared: _Background[tuple[_ClientRound, np.ndarray]] | None = None
        self.next_keys: tuple[X25519PrivateKey, X25519PrivateKey] | None = None  # advertised, not yet used
        self.last_wait_s = 0.0  # how long the last contribution waited, trained, for its exchanges and mask

    def weight(self, num_samples: int) -> float:
        return min(float(num_samples), self.config.weight_cap) / self.config.weight_cap

    def prepare(self, ctx: Context, aggregator: PartyRef, setup: JsonValue = None) -> None:
        """Exchange keys and shares and expand this round's mask while the worker trains. ``setup`` is what
        the aggregator sent with the order (checked like the message it replaces); ``None``: it comes as one."""
        run = _ClientRound(self, ctx, aggregator, setup)
        self._prepared = _Background(ctx, run.prepare, "secagg-prepare")

    def contribute(self, ctx: Context, aggregator: PartyRef, vector: np.ndarray) -> None:
        prepared, self._prepared = self._prepared, None
        values = np.asarray(vector, dtype=np.float64).reshape(-1)
        try:
            if prepared is not None and prepared.ctx is ctx:
                waited = time.monotonic()
                run, mask = prepared.result(self.config.wait_s * 3 + 60.0)
                self.last_wait_s = time.monotonic() - waited
            else:
                run = _ClientRound(self, ctx, aggregator)
                run, mask = run.prepare()
            if run.length != values.size:
                raise ValueError(
                    f"the aggregator asked for {run.length} values, this worker's update has {values.size}"
                )
            masking.add_encoded(mask, values, self.config.clip, self.config.frac_bits, self.config.ring_bits)
            self._send_masked(run.sctx, aggregator, mask)
            run.reveal()
        except _ExitRoundError as exc:
            ctx.logger.warning("secure aggregation: %s", exc)

    def _send_shares(self, sctx: Context, aggregator: PartyRef, sealed: dict[str, JsonValue]) -> None:
        sctx.send("shares", sealed, to=aggregator)

    def _send_masked(self, sctx: Context, aggregator: PartyRef, masked: np.ndarray) -> None:
        sctx.send("masked", masked, to=aggregator)


class _ClientRound:
    def __init__(self, client: SecAggClient, ctx: Context, aggregator: PartyRef, setup: JsonValue = None) -> None:
        self.client, self.cfg, self.ctx, self.sctx = client, client.config, ctx, ctx.sub("secagg")
        self.announced = setup
        self.aggregator = aggregator
        self.me = ctx.me
        keys, client.next_keys = client.next_keys, None  # a pair serves one round at most
        self.channel_key, self.mask_key = keys or (X25519PrivateKey.generate(), X25519PrivateKey.generate())
        self.listed: dict[str, JsonValue] | None = None
        self.self_seed = secrets.token_bytes(32)
        self.peers: dict[PartyRef, tuple[bytes, bytes]] = {}
        self.pair_seeds: dict[PartyRef, bytes] = {}
        self.length = 0

    def prepare(self) -> tuple[_ClientRound, np.ndarray]:
        """Everything before the update is needed: the setup, keys, this worker's shares, the whole mask."""
        self.setup()
        self.send_shares()
        return self, self.mask()

    def _recv(self, tag: str) -> dict[str, JsonValue]:
        value = self.sctx.recv(tag, frm=self.aggregator, timeout=self.cfg.wait_s)
        if not isinstance(value, dict):
            raise ValueError(f"secure aggregation: '{tag}' from the aggregator is not a JSON object")
        if "abort" in value:
            raise RoundFailedError(f"the aggregator stopped the round: {str(value['abort'])[:2000]}")
        if "excluded" in value:
            raise _ExitRoundError(str(value["excluded"])[:200])
        return value

    def setup(self) -> None:
        if self.announced is None:
            setup = self._recv("setup")
        elif isinstance(self.announced, dict):
            setup = self.announced
        else:
            raise ValueError("secure aggregation: the setup in the aggregator's order is not a JSON object")
        if any(setup.get(k) != v for k, v in self.cfg.public().items()):
            raise ValueError("the aggregator's secure-aggregation parameters differ from this worker's")
        length = setup.get("length")
        if not (isinstance(length, int) and 0 < length <= MAX_LENGTH):
            raise ValueError(f"the aggregator's vector length is not an integer in 1..{MAX_LENGTH}")
        self.length = length
        listed, seed = setup.get("participants"), setup.get("graph_seed")
        known = {str(p): p for p in [*self.ctx.everyone_else(), self.me]}
        if not (isinstance(listed, list) and isinstance(seed, int) and all(str(n) in known for n in listed)):
            raise ValueError("the aggregator's participant list names parties outside the job")
        participants = sorted({known[str(n)] for n in listed})
        if self.me not in participants:
            raise ValueError("the aggregator's participant list leaves out this worker")
        masking.check_capacity(len(participants), self.cfg.clip, self.cfg.frac_bits, self.cfg.ring_bits)
        self.participants = participants
        self.names = {str(p): p for p in participants}
        self.index = {p: i + 1 for i, p in enumerate(participants)}
        self.neighbours = neighbourhoods(participants, self.cfg.neighbours, seed)[self.me]
        listed = setup.get("peer_keys")
        if listed is not None and not isinstance(listed, dict):
            raise ValueError("the aggregator's key listing is not a JSON object")
        self.listed = listed

    def send_shares(self) -> None:
        """Advertise keys, learn the neighbours', share the self-mask seed and the mask key among them."""
        mine = [masking.public_bytes(self.channel_key).hex(), masking.public_bytes(self.mask_key).hex()]
        if self.listed is None:
            self.sctx.send("keys", {"c": mine[0], "s": mine[1]}, to=self.aggregator)
            listing = self._recv("peer_keys")
        elif self.listed.get(str(self.me)) != mine:
            raise ValueError("the aggregator's setup lists keys for this worker that it did not advertise")
        else:
            listing = self.listed
        for name, pair in listing.items():
            peer = self.names.get(name)
            if peer in self.neighbours and isinstance(pair, list) and len(pair) == 2:
                self.peers[peer] = (_hex(pair[0], 32), _hex(pair[1], 32))
        holders = sorted(self.peers)
        check_threshold(self.cfg.threshold, len(self.neighbours))
        needed = self.cfg.threshold_for(len(self.neighbours))
        if len(holders) < needed:
            raise _ExitRoundError(f"only {len(holders)} of {len(self.neighbours)} neighbours remain, {needed} needed")
        at = [self.index[h] for h in holders]
        b_shares = shamir.split(self.self_seed, needed, at)
        sk_shares = shamir.split(masking.private_bytes(self.mask_key), needed, at)
        sealed: dict[str, JsonValue] = {}
        for holder in holders:
            key = masking.agree(self.channel_key, self.peers[holder][0], SHARE_PURPOSE)
            plain = b_shares[self.index[holder]] + sk_shares[self.index[holder]]
            sealed[str(holder)] = masking.seal(key, plain, f"{self.me}>{holder}".encode()).hex()
        self.client._send_shares(self.sctx, self.aggregator, sealed)

    def open_shares(self, routed: JsonValue) -> dict[PartyRef, tuple[bytes, bytes]]:
        """The shares of their ``b`` and ``s`` that neighbours sent this worker, checked and opened."""
        if not isinstance(routed, dict):
            raise ValueError("the aggregator's unmask request carries no shares")
        held: dict[PartyRef, tuple[bytes, bytes]] = {}
        for name, ciphertext in routed.items():
            sender = self.names.get(name)
            if sender is None or sender not in self.peers:
                raise ValueError("the aggregator routed shares from a party outside this worker's neighbourhood")
            key = masking.agree(self.channel_key, self.peers[sender][0], SHARE_PURPOSE)
            try:
                plain = masking.unseal(key, _hex(ciphertext), f"{sender}>{self.me}".encode())
            except InvalidTag:
                raise ValueError(f"the shares from {sender} were altered or misaddressed") from None
            if len(plain) != _PAIR:
                raise ValueError(f"the shares from {sender} have the wrong size")
            held[sender] = (plain[: shamir.SHARE_BYTES], plain[shamir.SHARE_BYTES :])
        return held

    def mask(self) -> np.ndarray:
        """``PRG(b) + sum_v +-PRG(s_uv)`` against exactly the neighbours that advertised keys (they mask
        against this worker too); the update is added to it later (``masking.add_encoded``)."""
        self.pair_seeds = {v: masking.agree(self.mask_key, self.peers[v][1], MASK_PURPOSE) for v in sorted(self.peers)}
        mask = np.zeros(self.length, dtype=masking.ring_dtype(self.cfg.ring_bits))
        masking.add_masks(
            mask, [(self.self_seed, 1), *((seed, _sign(self.me, v)) for v, seed in self.pair_seeds.items())]
        )
        return mask

    def reveal(self) -> None:
        unmask = self._recv("unmask")
        held = self.open_shares(unmask.get("shares"))
        survivors, dropped, unshared = unmask.get("survivors"), unmask.get("dropped"), unmask.get("unshared", [])
        if not (isinstance(survivors, list) and isinstance(dropped, list) and isinstance(unshared, list)):
            raise ValueError("the aggregator's unmask request is malformed")
        alive, gone, never = {str(p) for p in survivors}, {str(p) for p in dropped}, {str(p) for p in unshared}
        if alive & gone or alive & never or gone & never or str(self.me) not in alive:
            raise ValueError("the aggregator names a worker in two of survived, dropped, unshared: refusing to unmask")
        if any(str(p) in never for p in held):
            raise ValueError("the aggregator calls unshared a neighbour whose shares this worker holds: refusing")
        reveal: dict[str, JsonValue] = {
            "b": {str(p): s[0].hex() for p, s in held.items() if str(p) in alive},
            "sk": {str(p): s[1].hex() for p, s in held.items() if str(p) in gone},
            "pair": {str(p): seed.hex() for p, seed in self.pair_seeds.items() if str(p) in never},
        }
        upcoming = X25519PrivateKey.generate(), X25519PrivateKey.generate()
        self.client.next_keys = upcoming
        reveal["next"] = {"c": masking.public_bytes(upcoming[0]).hex(), "s": masking.public_bytes(upcoming[1]).hex()}
        self.sctx.send("reveal", reveal, to=self.aggregator)
