"""Recipes for masking a vector in secure aggregation (Bonawitz et al., CCS 2017; Bell et al., CCS 2020).

* :func:`encode` / :func:`decode`: reals to the ring Z/2^k (k = 32 or 64, numpy's wrapping unsigned
  arithmetic) in fixed point, each value clipped to ``[-clip, clip]`` first so that a sum of ``n`` encodings
  cannot wrap: ``n * clip * 2^f < 2^(k-1)`` is checked;
* :func:`expand`: a 256-bit seed to a mask of ring elements, the keystream of ChaCha20 keyed with the whole
  seed (never a seed folded to 32 bits, never NumPy's RandomState); :func:`add_masks` adds many such masks
  block by block, and :func:`add_encoded` adds an encoding to a mask made in advance;
* :func:`agree`: an X25519 shared secret through HKDF-SHA256 to a 256-bit key for one purpose;
* :func:`seal` / :func:`unseal`: ChaCha20-Poly1305 with a random nonce, for sending a peer its shares
  through the aggregator, who cannot read or alter them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

RING_DTYPES: dict[int, np.dtype[np.unsignedinteger]] = {32: np.dtype(np.uint32), 64: np.dtype(np.uint64)}
_ZERO_NONCE = bytes(16)  # every mask key is fresh for one round and one purpose: the nonce need not vary
_AEAD_NONCE = 12
_STREAM_BLOCK = 1 << 20  # bytes of keystream per update_into: fits in L2, few Python calls
_ZEROS = memoryview(bytes(_STREAM_BLOCK))  # sliced without a copy (slicing bytes copies them)
_MASK_BLOCK = 1 << 18  # bytes of each mask per step of add_masks: every mask's piece is added while in cache


def ring_dtype(ring_bits: int) -> np.dtype[np.unsignedinteger]:
    if ring_bits not in RING_DTYPES:
        raise ValueError(f"the ring must have 32 or 64 bits, not {ring_bits}")
    return RING_DTYPES[ring_bits]


def check_capacity(terms: int, clip: float, frac_bits: int, ring_bits: int) -> None:
    """Refuse parameters under which a sum of ``terms`` clipped encodings could wrap around the ring."""
    if not (clip > 0 and 0 <= frac_bits < ring_bits):
        raise ValueError("clip must be > 0 and frac_bits in 0..ring_bits-1")
    if terms * clip * 2.0**frac_bits >= 2.0 ** (ring_bits - 1):
        raise ValueError(
            f"{terms} values of up to +-{clip:g} with {frac_bits} fraction bits overflow a {ring_bits}-bit ring; "
            "lower clip or frac_bits, or use 64 bits"
        )


def encode(values: np.ndarray, clip: float, frac_bits: int, ring_bits: int) -> np.ndarray:
    """``round(clip(x) * 2^f) mod 2^k``; NaN and infinities are refused.

    One float64 scratch array, worked in place, and one integer result: a fresh temporary per step cost
    more in page faults than the arithmetic (a 1M-value vector: ~4x slower).
    """
    reals = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(reals)):
        raise ValueError("NaN or infinite values cannot be encoded")
    scaled = np.clip(reals, -clip, clip)
    scaled *= 2.0**frac_bits
    np.rint(scaled, out=scaled)
    signed = np.dtype(np.int32) if ring_bits == 32 else np.dtype(np.int64)
    return scaled.astype(signed).view(ring_dtype(ring_bits))


def decode(ring: np.ndarray, frac_bits: int, ring_bits: int) -> np.ndarray:
    signed = np.dtype(np.int32) if ring_bits == 32 else np.dtype(np.int64)
    return np.asarray(ring, dtype=ring_dtype(ring_bits)).view(signed).astype(np.float64) / 2.0**frac_bits


def expand(seed: bytes, length: int, ring_bits: int) -> np.ndarray:
    """``length`` ring elements from ChaCha20 keyed with the 256-bit ``seed``."""
    out = np.empty(length, dtype=ring_dtype(ring_bits))
    expand_into(seed, out)
    return out


def expand_into(seed: bytes, out: np.ndarray) -> None:
    """Fill ``out`` (a contiguous ring array) with the keystream of ChaCha20 keyed with ``seed``: the same
    values as :func:`expand`, read as little-endian, written in place a block at a time so that no mask-sized
    buffer is allocated (a fresh 8 MB buffer per mask cost more in page faults than ChaCha20 itself)."""
    if len(seed) != 32:
        raise ValueError("a mask seed must be 256 bits")
    if out.dtype not in RING_DTYPES.values() or not out.flags.c_contiguous:
        raise ValueError("masks are expanded into a contiguous uint32 or uint64 array")
    target = out.reshape(-1).view(np.uint8).data
    encryptor = Cipher(algorithms.ChaCha20(seed, _ZERO_NONCE), mode=None).encryptor()
    for start in range(0, len(target), _STREAM_BLOCK):
        piece = target[start : start + _STREAM_BLOCK]
        encryptor.update_into(_ZEROS[: len(piece)], piece)
    if sys.byteorder == "big":  # the keystream is read little-endian on every platform
        out.byteswap(inplace=True)


def add_masks(target: np.ndarray, seeds: Sequence[tuple[bytes, int]]) -> None:
    """``target += sum(sign * PRG(seed))`` in the ring (``sign`` +1 or -1), in place.

    Block by block: each seed's ChaCha20 stream advances by one cache-sized piece, which is added at once,
    so no mask-sized buffer is written and read back (9 masks of 1M values: ~23 -> ~16 ms of CPU).
    The values are exactly those of :func:`expand` (one keystream per seed, consumed in order).
    """
    if target.dtype not in RING_DTYPES.values() or not target.flags.c_contiguous:
        raise ValueError("masks are added to a contiguous uint32 or uint64 array")
    if any(len(seed) != 32 for seed, _ in seeds):
        raise ValueError("a mask seed must be 256 bits")
    flat = target.reshape(-1)
    streams = [(Cipher(algorithms.ChaCha20(seed, _ZERO_NONCE), mode=None).encryptor(), sign) for seed, sign in seeds]
    step = _MASK_BLOCK // flat.itemsize
    scratch = np.empty(min(step, flat.size), dtype=flat.dtype)
    for start in range(0, flat.size, step):
        piece = flat[start : start + step]
        stream = scratch[: piece.size]
        raw = stream.view(np.uint8).data
        for encryptor, sign in streams:
            encryptor.update_into(_ZEROS[: len(raw)], raw)
            if sys.byteorder == "big":
                stream.byteswap(inplace=True)
            if sign > 0:
                np.add(piece, stream, out=piece)
            else:
                np.subtract(piece, stream, out=piece)


def add_encoded(mask: np.ndarray, values: np.ndarray, clip: float, frac_bits: int, ring_bits: int) -> None:
    """``mask += encode(values)`` in place: the masked vector from a mask made before ``values`` existed.

    Worked block by block through one small float64 scratch, so encoding a 1M-value update costs no
    vector-sized temporaries; the result equals ``mask + encode(values, ...)``.
    """
    reals = np.asarray(values, dtype=np.float64).reshape(-1)
    if mask.dtype != ring_dtype(ring_bits) or mask.shape != reals.shape or not mask.flags.c_contiguous:
        raise ValueError(f"the mask must be a contiguous uint{ring_bits} array of the values' shape")
    if not np.all(np.isfinite(reals)):
        raise ValueError("NaN or infinite values cannot be encoded")
    signed = np.dtype(np.int32) if ring_bits == 32 else np.dtype(np.int64)
    step = _MASK_BLOCK // 8
    scaled = np.empty(min(step, reals.size), dtype=np.float64)
    integers = np.empty(scaled.size, dtype=signed)
    scale = 2.0**frac_bits
    for start in range(0, reals.size, step):
        part = reals[start : start + step]
        work, ints = scaled[: part.size], integers[: part.size]
        np.clip(part, -clip, clip, out=work)
        work *= scale
        np.rint(work, out=work)
        np.copyto(ints, work, casting="unsafe")  # exact: |work| < 2^(ring_bits - 1) by check_capacity
        piece = mask[start : start + step]
        np.add(piece, ints.view(mask.dtype), out=piece)


def add_mask(target: np.ndarray, seed: bytes, sign: int, scratch: np.ndarray) -> None:
    """``target += sign * PRG(seed)`` in the ring, expanding into ``scratch`` (same shape and dtype)."""
    expand_into(seed, scratch)
    if sign > 0:
        target += scratch
    else:
        target -= scratch


def apply_masks(
    encoded: np.ndarray, self_seed: bytes, pair_seeds: list[tuple[bytes, int]], ring_bits: int
) -> np.ndarray:
    """``encoded + PRG(self_seed) + sum(sign * PRG(pair_seed))`` in the ring; ``sign`` is +1 or -1."""
    masked = np.array(encoded, dtype=ring_dtype(ring_bits), order="C")
    add_masks(masked, [(self_seed, 1), *pair_seeds])
    return masked


def agree(private: X25519PrivateKey, peer_public: bytes, purpose: bytes) -> bytes:
    """A 256-bit key both ends derive alike: HKDF-SHA256 of the X25519 shared secret, bound to ``purpose``."""
    shared = private.exchange(X25519PublicKey.from_public_bytes(peer_public))
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(shared)


def public_bytes(private: X25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def private_bytes(private: X25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    return private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    nonce = os.urandom(_AEAD_NONCE)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, associated)


def unseal(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    """The plaintext, or ``cryptography.exceptions.InvalidTag`` if it was altered or misaddressed."""
    return ChaCha20Poly1305(key).decrypt(sealed[:_AEAD_NONCE], sealed[_AEAD_NONCE:], associated)
