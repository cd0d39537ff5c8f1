"""Shamir secret sharing (Shamir, "How to share a secret", CACM 1979) of 256-bit secrets over a prime field.

A secret ``s`` becomes the constant term of a random polynomial ``f`` of degree ``t - 1`` over GF(p); the
holder with index ``x`` (1, 2, ...) gets ``f(x)``. Any ``t`` shares give ``s`` back by Lagrange
interpolation at 0; fewer than ``t`` are uniformly distributed whatever ``s`` is. The field is the smallest
prime above 2**256 (2**256 + 297), so any 32-byte key or seed is one field element and is shared whole.

Why our own: the maintained libraries we looked at do not fit: pycryptodome's ``Shamir`` shares only
16-byte secrets over GF(2^128), and the PyPI ``secretsharing`` packages are unmaintained. This is the
textbook scheme in a few lines, with Python's exact integers and the OS CSPRNG (``secrets``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence

PRIME = (1 << 256) + 297
SHARE_BYTES = 33  # a field element below 2**257
SECRET_BYTES = 32


def split(secret: bytes, threshold: int, holders: Sequence[int]) -> dict[int, bytes]:
    """Shares of a 32-byte ``secret`` for the holder indices ``holders`` (distinct, 1 <= x < p)."""
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"a secret must be {SECRET_BYTES} bytes, got {len(secret)}")
    if len(set(holders)) != len(holders) or not all(0 < x < PRIME for x in holders):
        raise ValueError("holder indices must be distinct and in 1..p-1")
    if not 1 <= threshold <= len(holders):
        raise ValueError(f"threshold {threshold} must be between 1 and the {len(holders)} holders")
    coefficients = [int.from_bytes(secret, "big")] + [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    shares: dict[int, bytes] = {}
    for x in holders:
        value = 0
        for coefficient in reversed(coefficients):  # Horner
            value = (value * x + coefficient) % PRIME
        shares[x] = value.to_bytes(SHARE_BYTES, "big")
    return shares


def combine(shares: Mapping[int, bytes], threshold: int) -> bytes:
    """The secret from at least ``threshold`` shares (the first ``threshold`` by holder index are used)."""
    if len(shares) < threshold:
        raise ValueError(f"{len(shares)} shares cannot reconstruct a secret shared with threshold {threshold}")
    points: list[tuple[int, int]] = []
    for x, share in sorted(shares.items())[:threshold]:
        if len(share) != SHARE_BYTES or not 0 < x < PRIME:
            raise ValueError("a share must be a 33-byte field element held at an index in 1..p-1")
        y = int.from_bytes(share, "big")
        if y >= PRIME:
            raise ValueError("a share is not an element of the field")
        points.append((x, y))
    secret = 0
    for i, (xi, yi) in enumerate(points):
        numerator, denominator = 1, 1
        for j, (xj, _) in enumerate(points):
            if i != j:
                numerator = numerator * xj % PRIME
                denominator = denominator * (xj - xi) % PRIME
        secret = (secret + yi * numerator * pow(denominator, -1, PRIME)) % PRIME
    if secret >= 1 << (8 * SECRET_BYTES):
        raise ValueError("the shares do not reconstruct a 32-byte secret (inconsistent shares)")
    return secret.to_bytes(SECRET_BYTES, "big")
