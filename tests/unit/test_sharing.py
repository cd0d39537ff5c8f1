"""Tests for unseen.crypto.sharing: additive shares mod 2^64 and the fixed-point encoding of reals."""

from __future__ import annotations

import numpy as np
import pytest

from unseen.crypto.sharing import FRACTION_BITS, combine, decode_fixed, encode_fixed, random_ring_elements, split

RNG = np.random.default_rng(20240601)


def random_ring(shape: tuple[int, ...]) -> np.ndarray:
    return RNG.integers(0, 2**64 - 1, size=shape, dtype=np.uint64, endpoint=True)


# --- split and combine --------------------------------------------------------------------------------------


@pytest.mark.parametrize("parts", [1, 2, 3, 4, 5, 6])
def test_shares_combine_to_the_exact_secret(parts: int) -> None:
    secret = random_ring((7, 3))
    secret.flat[:3] = [0, 1, 2**64 - 1]
    shares = split(secret, parts)
    assert len(shares) == parts
    for share in shares:
        assert share.dtype == np.uint64
        assert share.shape == secret.shape
    np.testing.assert_array_equal(combine(shares), secret)


@pytest.mark.parametrize("parts", [2, 3, 6])
def test_shares_of_int64_values_combine_to_their_twos_complement(parts: int) -> None:
    values = RNG.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, size=50, dtype=np.int64)
    ring = values.view(np.uint64)
    combined = combine(split(ring, parts))
    np.testing.assert_array_equal(combined.view(np.int64), values)


def test_combine_is_order_independent() -> None:
    secret = random_ring((10,))
    shares = split(secret, 5)
    np.testing.assert_array_equal(combine(shares[::-1]), secret)
    np.testing.assert_array_equal(combine([shares[2], shares[0], shares[4], shares[1], shares[3]]), secret)


def test_single_share_is_the_secret_itself_but_not_the_same_array() -> None:
    secret = random_ring((4,))
    [share] = split(secret, 1)
    np.testing.assert_array_equal(share, secret)
    assert not np.shares_memory(share, secret)


def test_split_does_not_modify_the_secret() -> None:
    secret = random_ring((5,))
    kept = secret.copy()
    split(secret, 4)
    np.testing.assert_array_equal(secret, kept)


def test_split_of_a_zero_dimensional_secret() -> None:
    secret = np.array(123456789, dtype=np.uint64)
    shares = split(secret, 3)
    assert all(share.shape == () for share in shares)
    assert int(combine(shares)) == 123456789


def test_split_of_an_empty_secret() -> None:
    shares = split(np.zeros((0, 3), dtype=np.uint64), 3)
    assert [share.shape for share in shares] == [(0, 3)] * 3


@pytest.mark.parametrize("parts", [0, -1])
def test_split_needs_at_least_one_share(parts: int) -> None:
    with pytest.raises(ValueError, match="at least one share"):
        split(np.zeros(2, dtype=np.uint64), parts)


def test_sums_of_shares_are_shares_of_the_sum() -> None:
    a, b = random_ring((6,)), random_ring((6,))
    shares_a, shares_b = split(a, 3), split(b, 3)
    partials = [combine([sa, sb]) for sa, sb in zip(shares_a, shares_b, strict=True)]
    np.testing.assert_array_equal(combine(partials), a + b)


# --- shares look random ---------------------------------------------------------------------------------------


def test_each_share_changes_from_one_split_to_the_next() -> None:
    secret = np.array([42, 0, 7], dtype=np.uint64)
    splits = [split(secret, 3) for _ in range(50)]
    for index in range(3):
        distinct = {splits[i][index].tobytes() for i in range(50)}
        assert len(distinct) == 50, f"share {index} repeated across splits of the same secret"


def test_no_share_equals_the_secret() -> None:
    secret = np.arange(1, 65, dtype=np.uint64)
    for _ in range(20):
        for share in split(secret, 3):
            assert not np.any(share == secret)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_share_bits_are_balanced_for_a_fixed_secret(index: int) -> None:
    secret = np.full(256, 5, dtype=np.uint64)  # a low-entropy secret
    shares = np.stack([split(secret, 3)[index] for _ in range(40)])  # 10240 ring elements
    top = (shares >> np.uint64(63)).astype(np.float64)
    low = (shares & np.uint64(1)).astype(np.float64)
    assert 0.45 < top.mean() < 0.55
    assert 0.45 < low.mean() < 0.55
    byte_counts = np.bincount(shares.view(np.uint8).ravel(), minlength=256)
    assert byte_counts.min() > 0  # every byte value shows up in ~80k bytes


def test_random_ring_elements_have_the_requested_shape_and_vary() -> None:
    a, b = random_ring_elements((3, 4)), random_ring_elements((3, 4))
    assert a.shape == (3, 4)
    assert a.dtype == np.uint64
    assert a.flags.writeable
    assert not np.array_equal(a, b)


# --- fixed point --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0.0, 1.0, -1.0, 1000.0, -1000.0, 2.0**30, -(2.0**37), 0.5, -0.25, 2.0**-24])
def test_dyadic_values_encode_and_decode_exactly(value: float) -> None:
    decoded = decode_fixed(encode_fixed(np.array([value])))
    assert decoded[0] == value


def test_encoding_is_twos_complement_in_uint64() -> None:
    encoded = encode_fixed(np.array([1.0, -1.0, 0.0]))
    assert encoded.dtype == np.uint64
    assert encoded.tolist() == [2**FRACTION_BITS, 2**64 - 2**FRACTION_BITS, 0]


def test_fractions_decode_within_half_a_unit_in_the_last_place() -> None:
    values = RNG.uniform(-1e6, 1e6, size=2000)
    values[:4] = [0.1, -0.1, 1 / 3, -2 / 3]
    error = np.abs(decode_fixed(encode_fixed(values)) - values)
    assert error.max() <= 2.0**-25 + 1e-12
    assert error.max() <= 2.0**-FRACTION_BITS


def test_negative_fractions_keep_their_sign() -> None:
    values = np.array([-0.5, -1e-3, -123.456])
    decoded = decode_fixed(encode_fixed(values))
    assert np.all(decoded < 0)
    np.testing.assert_allclose(decoded, values, atol=2.0**-24)


def test_encoded_values_add_like_the_reals_they_encode() -> None:
    a, b = np.array([1.5, -2.25, 1000.0]), np.array([-3.0, 0.75, 24.5])
    np.testing.assert_array_equal(decode_fixed(encode_fixed(a) + encode_fixed(b)), a + b)


def test_fixed_point_keeps_shape_including_zero_dimensional() -> None:
    assert encode_fixed(np.array(3.5)).shape == ()
    assert float(decode_fixed(encode_fixed(np.array(3.5)))) == 3.5
    assert encode_fixed(np.ones((2, 3))).shape == (2, 3)


def test_custom_fraction_bits() -> None:
    encoded = encode_fixed(np.array([1.25]), fraction_bits=2)
    assert encoded.tolist() == [5]
    assert decode_fixed(encoded, fraction_bits=2).tolist() == [1.25]


@pytest.mark.parametrize("value", [2.0**39, -(2.0**39), 1e300, -1e300])
def test_values_beyond_the_fixed_point_range_overflow(value: float) -> None:
    with pytest.raises(OverflowError):
        encode_fixed(np.array([1.0, value]))


def test_largest_encodable_magnitude_is_just_below_the_bound() -> None:
    edge = float(np.nextafter(2.0**39, 0.0))  # the largest float64 below 2^39: encodes below 2^63
    assert edge * 2.0**FRACTION_BITS < 2.0**63
    assert decode_fixed(encode_fixed(np.array([edge, -edge]))).tolist() == [edge, -edge]


@pytest.mark.parametrize("terms", [2, 3, 8])
def test_the_bound_shrinks_with_the_number_of_terms_so_their_sum_cannot_wrap(terms: int) -> None:
    edge = float(np.nextafter(2.0**39 / terms, 0.0))
    encoded = encode_fixed(np.array([edge]), terms=terms)
    assert decode_fixed(combine([encoded] * terms)).tolist() == [edge * terms]
    with pytest.raises(OverflowError, match=f"summed over {terms} parties"):
        encode_fixed(np.array([2.0**39 / terms]), terms=terms)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values_cannot_be_encoded(value: float) -> None:
    with pytest.raises(ValueError, match="NaN or infinite"):
        encode_fixed(np.array([value]))


def test_fixed_point_survives_secret_sharing() -> None:
    values = np.array([-1234.5, 0.0, 3.25, 99999.125])
    np.testing.assert_array_equal(decode_fixed(combine(split(encode_fixed(values), 4))), values)
