"""Additive secret sharing over the integers modulo 2^64, with fixed-point encoding of reals.

A secret ``s`` is split into ``n`` shares that are uniformly random given any ``n - 1`` of them and add up to
``s`` mod 2^64, so a party holding fewer than all shares learns nothing about ``s``. The randomness comes
from the operating system's CSPRNG (``secrets``); the arithmetic is numpy's wrapping uint64 arithmetic.
"""

from __future__ import annotations

import secrets

import numpy as np

FRACTION_BITS = 24


def encode_fixed(values: np.ndarray, fraction_bits: int = FRACTION_BITS, terms: int = 1) -> np.ndarray:
    """Reals to ring elements: round(x * 2^f) in two's complement.

    ``terms`` is how many such values will be added up: the sum must stay below 2^63 in magnitude to decode
    with the right sign, so each value must stay below 2^(63-f) / terms. Past that the total would wrap
    silently; refusing here turns a wrong answer into a clear error.
    """
    reals = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(reals)):
        raise ValueError("NaN or infinite values cannot be encoded in fixed point")
    scaled = np.round(reals * float(2**fraction_bits))
    limit = float(2**63) / terms
    if np.any(np.abs(scaled) >= limit):
        raise OverflowError(
            f"values must stay below {limit / 2**fraction_bits:.6g} in magnitude to be summed over {terms} "
            f"parties in fixed point with {fraction_bits} fraction bits"
        )
    return scaled.astype(np.int64).view(np.uint64)


def decode_fixed(ring: np.ndarray, fraction_bits: int = FRACTION_BITS) -> np.ndarray:
    reals = np.asarray(ring, dtype=np.uint64).view(np.int64).astype(np.float64) / float(2**fraction_bits)
    return np.asarray(reals)  # a 0-d input stays an array, not a numpy scalar


def random_ring_elements(shape: tuple[int, ...]) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64))
    return np.frombuffer(secrets.token_bytes(8 * count), dtype=np.uint64).reshape(shape).copy()


def split(secret: np.ndarray, parts: int) -> list[np.ndarray]:
    """``parts`` shares of a uint64 secret: all but one uniformly random, the last completing the sum."""
    if parts < 1:
        raise ValueError("a secret needs at least one share")
    secret = np.asarray(secret, dtype=np.uint64)
    shares = [random_ring_elements(secret.shape) for _ in range(parts - 1)]
    last = secret.copy()
    for share in shares:
        last -= share
    return [*shares, last]


def combine(shares: list[np.ndarray]) -> np.ndarray:
    total = np.zeros_like(np.asarray(shares[0], dtype=np.uint64))
    for share in shares:
        total += np.asarray(share, dtype=np.uint64)
    return total
