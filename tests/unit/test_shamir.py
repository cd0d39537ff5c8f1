"""Tests for unseen.crypto.shamir: any t shares rebuild a 256-bit secret; fewer reveal nothing about it."""

from __future__ import annotations

import itertools
import secrets

import gmpy2  # type: ignore[import-untyped]  # no stubs in the wheel
import pytest

from unseen.crypto import shamir


def test_the_field_is_prime_and_holds_any_32_byte_secret() -> None:
    assert gmpy2.is_prime(shamir.PRIME, 50)
    assert shamir.PRIME > 1 << 256


@pytest.mark.parametrize("secret", [bytes(32), b"\xff" * 32, secrets.token_bytes(32)])
def test_every_subset_of_t_shares_rebuilds_the_secret(secret: bytes) -> None:
    shares = shamir.split(secret, 3, [1, 2, 3, 4, 5])
    for subset in itertools.combinations(shares, 3):
        assert shamir.combine({x: shares[x] for x in subset}, 3) == secret


def test_fewer_than_t_shares_are_refused_and_t_minus_1_are_consistent_with_any_secret() -> None:
    secret = secrets.token_bytes(32)
    shares = shamir.split(secret, 3, [1, 2, 3])
    with pytest.raises(ValueError, match="cannot reconstruct"):
        shamir.combine({1: shares[1], 2: shares[2]}, 3)
    # Two shares plus ANY third point interpolate to some secret: the two alone do not pin it down.
    other = shamir.combine({1: shares[1], 2: shares[2], 3: (12345).to_bytes(33, "big")}, 3)
    assert other != secret


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        shamir.split(b"short", 2, [1, 2])
    with pytest.raises(ValueError):
        shamir.split(bytes(32), 2, [1, 1])
    with pytest.raises(ValueError):
        shamir.split(bytes(32), 3, [1, 2])
    with pytest.raises(ValueError):
        shamir.combine({1: b"\xff" * 33}, 1)  # not a field element
