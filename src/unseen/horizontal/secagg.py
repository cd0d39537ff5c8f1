"""Secure aggregation with dropouts: SecAgg (Bonawitz et al., CCS 2017) on SecAgg+'s sparse graph
(Bell, Bonawitz, Gascón, Lepoint, Raykova, CCS 2020).

The aggregator learns the sum of the surviving workers' vectors and nothing else about any one of them.
One run per round, among the round's selected workers, in four exchanges through the aggregator:

1. **keys**: each worker makes two fresh X25519 key pairs, ``c`` (to encrypt shares to a peer) and ``s``
   (to agree masks with a peer), and sends the public halves; the aggregator forwards them to everyone.
   The neighbourhood graph is public: each worker's ``neighbours`` peers on a random ring (a Harary graph
   over a permutation the aggregator draws), or all the others when ``neighbours == 0`` (plain SecAgg).
2. **shares**: each worker draws a 256-bit self-mask seed ``b`` and Shamir-shares ``b`` and its private
   ``s`` key among its neighbours (threshold ``t = k // 2 + 1`` of its ``k`` neighbours), each share pair
   sealed (ChaCha20-Poly1305, key from X25519 + HKDF) for its holder; the aggregator routes what it cannot
   read.
3. **masked**: each worker encodes its vector in fixed point in Z/2^k (clipped) and sends
   ``y = x + PRG(b) + sum_v +-PRG(s_uv)`` over its neighbours ``v`` that sent it shares (``+`` towards a
   larger party, ``-`` towards a smaller one, so pairwise masks cancel in the sum). PRG is ChaCha20 keyed
   with the whole 256-bit seed.
4. **unmask**: the aggregator names the survivors and the dropped; each survivor reveals, per neighbour,
   its share of ``b`` if that neighbour survived or its share of ``s`` if it dropped, never both. The
   aggregator rebuilds the survivors' ``b`` (removes their self-masks) and the dropped workers' ``s`` keys
   (recomputes and removes the pairwise masks they left in the survivors' vectors): the result is the exact
   ring sum of the survivors' encodings.

Threat model: semi-honest (honest-but-curious) aggregator and workers, as in the papers' semi-honest
setting; no signatures or consistency checks, so an actively malicious aggregator that lies about who
dropped can unmask a worker. A round fails, naming the missing workers, when fewer than ``minimum``
workers remain at any stage or a worker's secret has fewer than ``t`` surviving holders.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from unseen.crypto import masking, shamir
from unseen.horizontal.summation import RoundFailedError, Summed, too_few
from unseen.runtime.parties import PartyRef
from unseen.values import JsonValue

if TYPE_CHECKING:
    from unseen.runtime.context import Context

MASK_PURPOSE = b"unseen/secagg/v1/pairwise-mask"
SHARE_PURPOSE = b"unseen/secagg/v1/share-channel"
_MAX_HEX = 1024
_PAIR = 2 * shamir.SHARE_BYTES


@dataclass(frozen=True)
class SecAggConfig:
    neighbours: int = 0  # k: masks against k others (SecAgg+, even); 0 = against every other worker
    ring_bits: int = 64
    frac_bits: int = 32
    clip: float = 65536.0  # every coordinate of a (weighted) contribution is clipped to +-clip
    weight_cap: float = 10_000.0  # a worker's weight is min(n, cap) / cap, so that it fits the encoding
    stage_deadline_s: float = 60.0  # the exchanges after the first (which waits for local training)
    wait_s: float = 900.0  # a worker's bound on each wait for the aggregator

    def __post_init__(self) -> None:
        masking.ring_dtype(self.ring_bits)
        if self.neighbours < 0 or self.neighbours % 2:
            raise ValueError("neighbours must be 0 (all) or a positive even number")
        if not (math.isfinite(self.weight_cap) and self.weight_cap > 0):
            raise ValueError("weight_cap must be a positive number")
        masking.check_capacity(1, self.clip, self.frac_bits, self.ring_bits)

    def public(self) -> dict[str, JsonValue]:
        return {
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
    return holders // 2 + 1


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


class SecAggServer:
    secure = True

    def __init__(self, config: SecAggConfig | None = None) -> None:
        self.config = config or SecAggConfig()
        self.last_ring_total: np.ndarray | None = None  # the exact ring sum of the last round, for tests

    def collect(self, ctx: Context, workers: list[PartyRef], length: int, deadline_s: float, minimum: int) -> Summed:
        if len(set(workers)) < 2:  # the "sum" of one vector is that vector: refuse rather than pretend
            reason = f"secure aggregation needs at least 2 workers, this round has {len(set(workers))}"
            ctx.sub("secagg").broadcast("setup", {"excluded": reason}, workers)
            raise RoundFailedError(reason)
        run = _ServerRound(ctx, self.config, sorted(workers), length, minimum)
        started = time.monotonic()
        u1 = run.keys(deadline_s)
        u2 = run.shares(u1)
        u3, total = run.masked(u2)
        dropped = [p for p in u2 if p not in u3]
        total = run.unmask(u3, dropped, total)
        self.last_ring_total = total
        ctx.logger.info(
            "secure aggregation of %d workers (%d dropped) in %.2f s", len(u3), len(dropped), time.monotonic() - started
        )
        return Summed(masking.decode(total, self.config.frac_bits, self.config.ring_bits), u3, run.missing)


class _ServerRound:
    def __init__(self, ctx: Context, cfg: SecAggConfig, participants: list[PartyRef], length: int, minimum: int):
        masking.check_capacity(len(participants), cfg.clip, cfg.frac_bits, cfg.ring_bits)
        self.ctx, self.sctx, self.cfg, self.length, self.minimum = ctx, ctx.sub("secagg"), cfg, length, minimum
        self.participants = participants
        seed = secrets.randbits(62)
        self.graph = neighbourhoods(participants, cfg.neighbours, seed)
        self.names = {str(p): p for p in participants}
        self.index = {p: i + 1 for i, p in enumerate(participants)}
        self.public_keys: dict[PartyRef, tuple[bytes, bytes]] = {}
        setup: dict[str, JsonValue] = {"participants": list(self.names), "graph_seed": seed, "length": length}
        self.missing: dict[PartyRef, str] = dict(self.sctx.broadcast("setup", setup | cfg.public(), participants))

    def _stage(self, tag: str, stage: str, kept: list[PartyRef], waiting: list[PartyRef]) -> None:
        """Tell those left out that they are, or everyone waiting that the round failed, under ``tag``."""
        if len(kept) < self.minimum:
            error = too_few(stage, len(kept), self.minimum, self.missing)
            self.sctx.broadcast(tag, {"abort": str(error)[:2000]}, waiting)
            raise error
        left_out = [p for p in waiting if p not in kept]
        if left_out:
            self.sctx.broadcast(tag, {"excluded": "left out of this round's secure aggregation"}, left_out)

    def keys(self, deadline_s: float) -> list[PartyRef]:
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
        self._stage("peer_keys", "key exchange", u1, alive)
        listing: dict[str, JsonValue] = {str(p): [k[0].hex(), k[1].hex()] for p, k in self.public_keys.items()}
        self.sctx.broadcast("peer_keys", listing, u1)
        return u1

    def shares(self, u1: list[PartyRef]) -> list[PartyRef]:
        """Route each worker's sealed shares to their holders, unread."""
        gathered = self.sctx.gather("shares", u1, timeout=self.cfg.stage_deadline_s)
        self.missing |= gathered.missing
        routed: dict[PartyRef, dict[str, JsonValue]] = {p: {} for p in u1}
        for sender, value in gathered.values.items():
            expected = {str(v) for v in self.graph[sender] if v in self.public_keys}
            enough = len(expected) >= threshold(len(self.graph[sender]))
            if not (isinstance(value, dict) and set(value) == expected and enough):
                self.missing[sender] = "sent shares that do not match its neighbourhood"
            elif not all(isinstance(c, str) and len(c) <= _MAX_HEX for c in value.values()):
                self.missing[sender] = "sent an oversized share"
            else:
                for holder_name, sealed in value.items():
                    routed[self.names[holder_name]][str(sender)] = sealed
        u2 = [p for p in u1 if p in gathered.values and p not in self.missing]
        self._stage("your_shares", "share exchange", u2, u1)
        for holder in u2:
            mine = {s: c for s, c in routed[holder].items() if self.names[s] in u2}
            self.sctx.send("your_shares", mine, to=holder)
        return u2

    def masked(self, u2: list[PartyRef]) -> tuple[list[PartyRef], np.ndarray]:
        dtype = masking.ring_dtype(self.cfg.ring_bits)
        gathered = self.sctx.gather("masked", u2, timeout=self.cfg.stage_deadline_s)
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
        self.sctx.broadcast("unmask", {"survivors": survivors, "dropped": dropped}, u3)
        return u3, total

    def _revealed(self, u3: list[PartyRef], dropped: list[PartyRef]) -> tuple[dict[PartyRef, dict[int, bytes]], ...]:
        b_shares: dict[PartyRef, dict[int, bytes]] = {p: {} for p in u3}
        sk_shares: dict[PartyRef, dict[int, bytes]] = {p: {} for p in dropped}
        gathered = self.sctx.gather("reveal", u3, timeout=self.cfg.stage_deadline_s)
        self.missing |= gathered.missing
        for holder, value in gathered.values.items():
            try:
                if not isinstance(value, dict):
                    raise ValueError("not an object")
                for kind, store in (("b", b_shares), ("sk", sk_shares)):
                    revealed = value.get(kind)
                    if not isinstance(revealed, dict):
                        raise ValueError(f"no {kind} shares")
                    for owner_name, share in revealed.items():
                        owner = self.names.get(owner_name)
                        if owner is None or owner not in store or holder not in self.graph[owner]:
                            raise ValueError(f"a share of {owner_name[:64]} it cannot hold")
                        store[owner][self.index[holder]] = _hex(share, shamir.SHARE_BYTES)
            except ValueError as exc:
                self.ctx.logger.warning("secure aggregation: %s sent invalid shares (%s); ignored", holder, exc)
        return b_shares, sk_shares

    def unmask(self, u3: list[PartyRef], dropped: list[PartyRef], total: np.ndarray) -> np.ndarray:
        """Remove the survivors' self-masks and the pairwise masks the dropped left behind."""
        b_shares, sk_shares = self._revealed(u3, dropped)
        short = [p for p in u3 if len(b_shares[p]) < threshold(len(self.graph[p]))]
        short += [p for p in dropped if len(sk_shares[p]) < threshold(len(self.graph[p]))]
        if short:
            raise RoundFailedError(
                f"unmasking: too few shares survive to recover {', '.join(map(str, short))}; missing: "
                + ", ".join(f"{p} ({why})" for p, why in sorted(self.missing.items()))
            )
        scratch = np.empty_like(total)
        for owner in u3:
            seed_b = shamir.combine(b_shares[owner], threshold(len(self.graph[owner])))
            masking.add_mask(total, seed_b, -1, scratch)
        for gone in dropped:
            private = X25519PrivateKey.from_private_bytes(
                shamir.combine(sk_shares[gone], threshold(len(self.graph[gone])))
            )
            for peer in self.graph[gone]:
                if peer in u3:
                    seed = masking.agree(private, self.public_keys[peer][1], MASK_PURPOSE)
                    masking.add_mask(total, seed, -_sign(peer, gone), scratch)
        return total


class SecAggClient:
    secure = True

    def __init__(self, config: SecAggConfig | None = None) -> None:
        self.config = config or SecAggConfig()

    def weight(self, num_samples: int) -> float:
        return min(float(num_samples), self.config.weight_cap) / self.config.weight_cap

    def contribute(self, ctx: Context, aggregator: PartyRef, vector: np.ndarray) -> None:
        run = _ClientRound(self, ctx, aggregator)
        try:
            run.setup(np.asarray(vector, dtype=np.float64).size)
            held = run.share()
            self._send_masked(run.sctx, aggregator, run.masked(np.asarray(vector, dtype=np.float64), held))
            run.reveal(held)
        except _ExitRoundError as exc:
            ctx.logger.warning("secure aggregation: %s", exc)

    def _send_masked(self, sctx: Context, aggregator: PartyRef, masked: np.ndarray) -> None:
        sctx.send("masked", masked, to=aggregator)


class _ClientRound:
    def __init__(self, client: SecAggClient, ctx: Context, aggregator: PartyRef) -> None:
        self.cfg, self.ctx, self.sctx, self.aggregator = client.config, ctx, ctx.sub("secagg"), aggregator
        self.me = ctx.me
        self.channel_key, self.mask_key = X25519PrivateKey.generate(), X25519PrivateKey.generate()
        self.self_seed = secrets.token_bytes(32)
        self.peers: dict[PartyRef, tuple[bytes, bytes]] = {}

    def _recv(self, tag: str) -> dict[str, JsonValue]:
        value = self.sctx.recv(tag, frm=self.aggregator, timeout=self.cfg.wait_s)
        if not isinstance(value, dict):
            raise ValueError(f"secure aggregation: '{tag}' from the aggregator is not a JSON object")
        if "abort" in value:
            raise RoundFailedError(f"the aggregator stopped the round: {str(value['abort'])[:2000]}")
        if "excluded" in value:
            raise _ExitRoundError(str(value["excluded"])[:200])
        return value

    def setup(self, length: int) -> None:
        setup = self._recv("setup")
        if any(setup.get(k) != v for k, v in self.cfg.public().items()) or setup.get("length") != length:
            raise ValueError("the aggregator's secure-aggregation parameters differ from this worker's")
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

    def share(self) -> dict[PartyRef, tuple[bytes, bytes]]:
        """Advertise keys, share the self-mask seed and the mask key; returns the shares this worker holds."""
        public: dict[str, JsonValue] = {
            "c": masking.public_bytes(self.channel_key).hex(),
            "s": masking.public_bytes(self.mask_key).hex(),
        }
        self.sctx.send("keys", public, to=self.aggregator)
        for name, pair in self._recv("peer_keys").items():
            peer = self.names.get(name)
            if peer in self.neighbours and isinstance(pair, list) and len(pair) == 2:
                self.peers[peer] = (_hex(pair[0], 32), _hex(pair[1], 32))
        holders = sorted(self.peers)
        needed = threshold(len(self.neighbours))
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
        self.sctx.send("shares", sealed, to=self.aggregator)

        held: dict[PartyRef, tuple[bytes, bytes]] = {}
        for name, ciphertext in self._recv("your_shares").items():
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

    def masked(self, vector: np.ndarray, held: dict[PartyRef, tuple[bytes, bytes]]) -> np.ndarray:
        """Mask against exactly the neighbours that shared with this worker (they mask against it too)."""
        encoded = masking.encode(vector, self.cfg.clip, self.cfg.frac_bits, self.cfg.ring_bits)
        pairs = [
            (masking.agree(self.mask_key, self.peers[v][1], MASK_PURPOSE), _sign(self.me, v)) for v in sorted(held)
        ]
        return masking.apply_masks(encoded, self.self_seed, pairs, self.cfg.ring_bits)

    def reveal(self, held: dict[PartyRef, tuple[bytes, bytes]]) -> None:
        unmask = self._recv("unmask")
        survivors, dropped = unmask.get("survivors"), unmask.get("dropped")
        if not (isinstance(survivors, list) and isinstance(dropped, list)):
            raise ValueError("the aggregator's unmask request is malformed")
        alive, gone = {str(p) for p in survivors}, {str(p) for p in dropped}
        if alive & gone or str(self.me) not in alive:
            raise ValueError("the aggregator names a worker both survived and dropped: refusing to unmask")
        reveal: dict[str, JsonValue] = {
            "b": {str(p): s[0].hex() for p, s in held.items() if str(p) in alive},
            "sk": {str(p): s[1].hex() for p, s in held.items() if str(p) in gone},
        }
        self.sctx.send("reveal", reveal, to=self.aggregator)
