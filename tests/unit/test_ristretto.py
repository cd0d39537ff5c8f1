"""Tests for unseen.crypto.ristretto: the algebra PSI relies on, input checks, and the worker pool.

PSI is correct only if blinding commutes (``(P^a)^b == (P^b)^a``), hashing is deterministic and domain-separated,
and a malformed point from a peer is refused instead of multiplied; these are checked against libsodium itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from unseen.crypto import ristretto
from unseen.crypto.ristretto import InvalidPointError, RistrettoPool


@pytest.fixture(scope="module")
def pool() -> Iterator[RistrettoPool]:
    with RistrettoPool(2, chunk=16, window=4) as shared:
        yield shared


def ids(count: int, prefix: str = "id") -> list[bytes]:
    return [f"{prefix}-{i:06d}".encode() for i in range(count)]


def test_libsodium_has_ristretto() -> None:
    major, minor, patch = (int(part) for part in ristretto.libsodium_version().split(".")[:3])
    assert (major, minor, patch) >= (1, 0, 18)


def test_hash_to_group_is_deterministic_distinct_and_valid() -> None:
    points = ristretto.hash_to_group(ids(50))
    assert points.shape == (50, 32) and points.dtype == np.uint8
    assert np.array_equal(points, ristretto.hash_to_group(ids(50)))
    assert len({row.tobytes() for row in points}) == 50
    assert all(ristretto.is_valid_point(row.tobytes()) for row in points)


def test_hash_to_group_is_domain_separated() -> None:
    same = ids(3)
    assert not np.array_equal(ristretto.hash_to_group(same), ristretto.hash_to_group(same, domain=b"other\x00"))


def test_hash_to_group_of_nothing() -> None:
    assert ristretto.hash_to_group([]).shape == (0, 32)


def test_blinding_commutes_and_inverts() -> None:
    points = ristretto.hash_to_group(ids(20))
    a, b = ristretto.random_scalar(), ristretto.random_scalar()
    ab = ristretto.blind(ristretto.blind(points, a), b)
    ba = ristretto.blind(ristretto.blind(points, b), a)
    assert np.array_equal(ab, ba)
    assert not np.array_equal(ristretto.blind(points, a), points)
    assert np.array_equal(ristretto.blind(ristretto.blind(points, a), ristretto.scalar_invert(a)), points)


def test_hash_and_blind_equals_hash_then_blind() -> None:
    scalar = ristretto.random_scalar()
    assert np.array_equal(
        ristretto.hash_and_blind(ids(30), scalar), ristretto.blind(ristretto.hash_to_group(ids(30)), scalar)
    )


def test_scalars_are_fresh_and_checked() -> None:
    scalars = {ristretto.random_scalar() for _ in range(20)}
    assert len(scalars) == 20 and all(len(s) == 32 for s in scalars)
    with pytest.raises(ValueError, match="32 bytes"):
        ristretto.blind(ristretto.hash_to_group(ids(1)), b"short")


@pytest.mark.parametrize(
    "row",
    [
        bytes(32),  # the identity: blinding it would give the identity, which reveals nothing but is refused
        b"\xff" * 32,  # not a canonical encoding
        (2**255 - 19).to_bytes(32, "little"),  # the field prime: a non-canonical encoding of zero
    ],
)
def test_blind_refuses_invalid_points_and_names_the_row(row: bytes) -> None:
    points = ristretto.hash_to_group(ids(3))
    points[1] = np.frombuffer(row, dtype=np.uint8)
    with pytest.raises(InvalidPointError, match="row 1"):
        ristretto.blind(points, ristretto.random_scalar())


@pytest.mark.parametrize(
    "value",
    [np.zeros((2, 31), dtype=np.uint8), np.zeros((2, 32), dtype=np.int64), np.zeros(64, dtype=np.uint8), b"x" * 32],
)
def test_as_points_refuses_wrong_shapes(value: object) -> None:
    with pytest.raises(ValueError, match=r"uint8 array of shape \(n, 32\)"):
        ristretto.as_points(value)


def test_pool_streams_match_serial_results(pool: RistrettoPool) -> None:
    scalar = ristretto.random_scalar()
    batches = [ids(40, "a"), [], ids(7, "b"), ids(33, "c")]
    blinded = list(pool.hash_and_blind(iter(batches), scalar))
    assert [len(b) for b in blinded] == [40, 0, 7, 33]
    for batch, points in zip(batches, blinded, strict=True):
        assert np.array_equal(points, ristretto.hash_and_blind(batch, scalar))
    other = ristretto.random_scalar()
    again = list(pool.blind(iter(blinded), other))
    for points, result in zip(blinded, again, strict=True):
        assert np.array_equal(result, ristretto.blind(points, other))


def test_pool_reports_invalid_points(pool: RistrettoPool) -> None:
    points = ristretto.hash_to_group(ids(40))
    points[37] = 0xFF
    with pytest.raises(InvalidPointError, match=r"rows from 32, row 5"):
        list(pool.blind(iter([points]), ristretto.random_scalar()))


def test_pool_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="chunk"):
        RistrettoPool(1, chunk=0)
    with pytest.raises(ValueError, match="worker"):
        RistrettoPool(0)
