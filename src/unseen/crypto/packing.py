"""Several signed fixed-point integers in one Paillier plaintext: fewer ciphertexts to re-randomise, send, decrypt.

A plaintext of an ``N``-bit key holds ``k = floor((N - 1) / B)`` slots of ``B`` bits. Slot ``j`` carries
``value_j + 2**G`` at bit ``j B``, where ``|value_j| < 2**G`` and ``B = G + 1``: the offset makes every slot
non-negative and below ``2**B``, so no slot borrows from or carries into its neighbour, and the packed integer
stays below ``2**(k B) <= 2**(N - 1) < n``, so it is never reduced mod n. Packing is exact: unpacking gives back
the same integers, so a protocol that packs decodes exactly what it would have decoded without packing.

Packing works on ciphertexts whose plaintexts already are the values (homomorphically, Horner's rule):
``[[sum_j v_j 2**(jB)]] = (...([[v_{k-1}]]^(2**B) [[v_{k-2}]])^(2**B) ...) [[v_0]]``, ``(k - 1) B`` modular
squarings per packed ciphertext (about one full exponentiation), then one plaintext addition for the offsets
and whatever the caller adds in clear. The caller must guarantee the bound ``G``; a value outside it would spill
into the next slot (of the same party's vector: nothing of anyone else's), which is why callers derive ``G`` from
bounds they enforce on their own inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import gmpy2  # type: ignore[import-untyped]

from unseen.crypto.paillier_keys import PublicKey


@dataclass(frozen=True)
class SlotLayout:
    """How many ``magnitude_bits``-bounded signed values fit one plaintext of ``key_bits``, and where."""

    magnitude_bits: int
    key_bits: int

    def __post_init__(self) -> None:
        if self.magnitude_bits < 1 or self.per_ciphertext < 1:
            raise ValueError(f"{self.magnitude_bits}-bit values do not fit a {self.key_bits}-bit plaintext")

    @property
    def slot_bits(self) -> int:
        return self.magnitude_bits + 1

    @property
    def per_ciphertext(self) -> int:
        return (self.key_bits - 1) // self.slot_bits

    def ciphertexts_for(self, count: int) -> int:
        return math.ceil(count / self.per_ciphertext) if count else 0

    def groups(self, count: int) -> list[range]:
        """Which values go into which packed plaintext: consecutive runs of ``per_ciphertext``."""
        k = self.per_ciphertext
        return [range(start, min(start + k, count)) for start in range(0, count, k)]

    def packed_clear(self, values: Sequence[int]) -> int:
        """The packed integer of ``values`` (each offset by ``2**G``), as packing the ciphertexts would give it."""
        offset, total = 1 << self.magnitude_bits, 0
        for value in reversed(values):
            if not -offset < value < offset:
                raise ValueError(f"a value of {abs(value).bit_length()} bits exceeds the slot's {self.magnitude_bits}")
            total = (total << self.slot_bits) + value + offset
        return total

    def unpack(self, packed: int, count: int) -> list[int]:
        """The ``count`` signed values of one packed plaintext (a non-negative integer below ``2**(k B)``)."""
        if not 0 <= packed < 1 << (count * self.slot_bits) or count > self.per_ciphertext:
            raise ValueError("the packed plaintext is out of range for its slots: a value overflowed its slot")
        mask, offset = (1 << self.slot_bits) - 1, 1 << self.magnitude_bits
        return [((packed >> (j * self.slot_bits)) & mask) - offset for j in range(count)]


def layout_for(public_key: PublicKey, magnitude_bits: int) -> SlotLayout:
    """The slot layout of this key (``N`` = the bit length of n, so the packed integer is below ``n``)."""
    return SlotLayout(magnitude_bits, int(public_key.n).bit_length())


def pack_ciphertexts(
    public_key: PublicKey, ciphertexts: Sequence[int], layout: SlotLayout, clear: Sequence[int]
) -> list[int]:
    """``[[sum_j (m_j + clear_j + 2**G) 2**(jB)]]`` per group, from ciphertexts ``[[m_j]]``.

    ``clear`` are values the caller knows and adds into the same slots (its own part of a sum); the caller
    guarantees ``|m_j + clear_j| < 2**G``. The result carries no fresh randomness: re-randomise it before it
    leaves the party.
    """
    if len(ciphertexts) != len(clear):
        raise ValueError(f"{len(ciphertexts)} ciphertexts but {len(clear)} clear values")
    nsq = gmpy2.mpz(public_key.nsquare)
    shift = gmpy2.mpz(1) << layout.slot_bits
    packed, offsets = [], []
    for group in layout.groups(len(ciphertexts)):
        acc = gmpy2.mpz(ciphertexts[group[-1]])
        for j in reversed(group[:-1]):
            acc = gmpy2.powmod(acc, shift, nsq) * ciphertexts[j] % nsq
        packed.append(int(acc))
        offsets.append(_offsets(layout, [clear[j] for j in group]) % int(public_key.n))
    return public_key.raw_add_plain(packed, offsets)


def _offsets(layout: SlotLayout, clear: Sequence[int]) -> int:
    """``sum_j (clear_j + 2**G) 2**(jB)`` without a range check (the clear part alone may exceed a slot)."""
    offset, total = 1 << layout.magnitude_bits, 0
    for value in reversed(clear):
        total = (total << layout.slot_bits) + value + offset
    return total


__all__ = ["SlotLayout", "layout_for", "pack_ciphertexts"]
