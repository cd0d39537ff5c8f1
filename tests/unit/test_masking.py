"""Tests for unseen.crypto.masking: ring encoding, ChaCha20 masks from 256-bit seeds, key agreement, and
that a masked vector is statistically indistinguishable from uniform in the ring."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from scipy import stats  # type: ignore[import-untyped]  # scikit-learn brings scipy, without stubs

from unseen.crypto import masking

P_THRESHOLD = 0.01


def _seed(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


@pytest.mark.parametrize("bits", [32, 64])
def test_encoding_sums_in_the_ring_and_decodes_within_the_resolution(bits: int) -> None:
    rng = np.random.default_rng(0)
    values = [rng.normal(size=100) for _ in range(5)]
    frac = 16 if bits == 32 else 32
    total = np.zeros(100, dtype=masking.ring_dtype(bits))
    for v in values:
        total += masking.encode(v, 100.0, frac, bits)
    np.testing.assert_allclose(masking.decode(total, frac, bits), np.sum(values, axis=0), atol=5 * 2.0**-frac)


def test_values_are_clipped_and_capacity_is_checked() -> None:
    decoded = masking.decode(masking.encode(np.array([1e9, -1e9, 0.5]), 10.0, 8, 32), 8, 32)
    np.testing.assert_array_equal(decoded, [10.0, -10.0, 0.5])
    with pytest.raises(ValueError, match="overflow"):
        masking.check_capacity(1024, 2.0**22, 32, 64)  # 2^10 * 2^22 * 2^32 = 2^64
    with pytest.raises(ValueError, match="NaN"):
        masking.encode(np.array([np.nan]), 1.0, 8, 64)


def test_masks_depend_on_all_256_bits_of_the_seed() -> None:
    seed = _seed("a")
    flipped = bytes([*seed[:-1], seed[-1] ^ 1])  # differs only in the last bit: a 32-bit fold would lose it
    assert not np.array_equal(masking.expand(seed, 64, 64), masking.expand(flipped, 64, 64))
    np.testing.assert_array_equal(masking.expand(seed, 64, 64), masking.expand(seed, 64, 64))


def test_pairwise_masks_cancel_between_the_two_ends() -> None:
    a, b = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    ab = masking.agree(a, masking.public_bytes(b), b"mask")
    assert ab == masking.agree(b, masking.public_bytes(a), b"mask")
    assert ab != masking.agree(a, masking.public_bytes(b), b"other purpose")
    x, y = np.arange(10, dtype=np.uint64), np.arange(10, 20, dtype=np.uint64)
    mx = masking.apply_masks(x, _seed("sx"), [(ab, +1)], 64) - masking.expand(_seed("sx"), 10, 64)
    my = masking.apply_masks(y, _seed("sy"), [(ab, -1)], 64) - masking.expand(_seed("sy"), 10, 64)
    np.testing.assert_array_equal(mx + my, x + y)


def test_sealed_shares_cannot_be_read_or_redirected_without_the_key() -> None:
    key = _seed("k")
    sealed = masking.seal(key, b"share", b"guest:1>host:2")
    assert masking.unseal(key, sealed, b"guest:1>host:2") == b"share"
    with pytest.raises(InvalidTag):
        masking.unseal(key, sealed, b"guest:1>host:3")
    with pytest.raises(InvalidTag):
        masking.unseal(_seed("other"), sealed, b"guest:1>host:2")


def _uniformity(values: np.ndarray) -> tuple[float, float]:
    """(chi-square p-value on the high byte over 256 bins, KS p-value of values / 2^64 against U(0, 1))."""
    high = (values >> np.uint64(56)).astype(np.int64)
    counts = np.bincount(high, minlength=256)
    chi = stats.chisquare(counts).pvalue
    ks = stats.kstest(values.astype(np.float64) / 2.0**64, "uniform").pvalue
    return float(chi), float(ks)


def test_a_masked_vector_is_indistinguishable_from_uniform_in_the_ring() -> None:
    """Chi-square on the high byte and Kolmogorov-Smirnov on normalised values, both p > 0.01.

    The plaintext is as far from uniform as can be (a constant small update); seeds are fixed, so the
    test is deterministic. The same statistics reject the unmasked encoding outright."""
    update = np.full(50_000, 0.0123)
    encoded = masking.encode(update, 1.0, 32, 64)
    masked = masking.apply_masks(encoded, _seed("self"), [(_seed("p1"), 1), (_seed("p2"), -1)], 64)
    chi, ks = _uniformity(masked)
    assert chi > P_THRESHOLD and ks > P_THRESHOLD
    chi_plain, ks_plain = _uniformity(encoded)
    assert chi_plain < 1e-6 and ks_plain < 1e-6


@pytest.mark.parametrize(("length", "bits"), [(1, 64), (131_073, 64), (300_001, 32), (0, 64)])
def test_a_mask_expanded_in_place_is_the_whole_chacha20_keystream(length: int, bits: int) -> None:
    # 131,073 uint64 values span two 1 MiB keystream blocks and end mid-block: the blocks must join seamlessly
    seed = bytes(range(32))
    dtype = masking.ring_dtype(bits)
    encryptor = Cipher(algorithms.ChaCha20(seed, bytes(16)), mode=None).encryptor()
    stream = encryptor.update(bytes(length * dtype.itemsize))
    expected = np.frombuffer(stream, dtype=dtype.newbyteorder("<")).astype(dtype)
    np.testing.assert_array_equal(masking.expand(seed, length, bits), expected)
    target = np.arange(length, dtype=dtype)
    scratch = np.empty_like(target)
    masking.add_mask(target, seed, -1, scratch)
    np.testing.assert_array_equal(target, np.arange(length, dtype=dtype) - expected)
    with pytest.raises(ValueError, match="contiguous"):
        masking.expand_into(seed, np.empty((4, 4), dtype=dtype)[:, ::2])


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("length", [1, 7, 32_769, 100_003])
def test_masks_added_block_by_block_and_an_encoding_added_to_a_ready_mask_match_the_one_step_forms(
    length: int, bits: int
) -> None:
    """add_masks walks every seed's ChaCha20 stream a block at a time; add_encoded encodes into a mask made
    before the values existed. Both must give exactly encode(x) + sum(sign * expand(seed))."""
    seeds = [(_seed(f"s{i}"), 1 if i % 2 else -1) for i in range(5)]
    values = np.random.default_rng(length).normal(scale=50.0, size=length)
    expected = masking.encode(values, 100.0, 16, bits)
    for seed, sign in seeds:
        mask_of_seed = masking.expand(seed, length, bits)
        expected = expected + mask_of_seed if sign > 0 else expected - mask_of_seed
    mask = np.zeros(length, dtype=masking.ring_dtype(bits))
    masking.add_masks(mask, seeds)
    masking.add_encoded(mask, values, 100.0, 16, bits)
    np.testing.assert_array_equal(mask, expected)
    with pytest.raises(ValueError, match="NaN"):
        masking.add_encoded(mask, np.full(length, np.nan), 100.0, 16, bits)
