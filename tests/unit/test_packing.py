"""Packing several signed fixed-point values into one Paillier plaintext (``crypto/packing.py``), and its use for
hetero LR's masked gradients: exact round trips at the bit budget's edges, and the same gradients as without it."""

from __future__ import annotations

import secrets

import numpy as np
import pytest

from unseen.crypto.fixedpoint import to_residues
from unseen.crypto.packing import SlotLayout, layout_for, pack_ciphertexts
from unseen.crypto.paillier import EncryptedVector, PrivateKey, PublicKey, generate_keypair, x_transpose_dot
from unseen.transport.codec import BigInts
from unseen.vertical.hetero_lr import (
    VALUE_FRAC_BITS,
    VALUE_MAGNITUDE_BITS,
    HeteroLRProtocolError,
    ScaledColumns,
    check_value_range,
    gradient_layout,
    mask_for_arbiter,
    unmask,
)

KEY_BITS = 1024


@pytest.fixture(scope="module")
def keys() -> tuple[PublicKey, PrivateKey]:
    return generate_keypair(KEY_BITS)


def _encrypt_ints(public_key: PublicKey, values: list[int]) -> list[int]:
    return public_key.raw_encrypt(to_residues(values, int(public_key.n), public_key.max_int))


def test_the_layout_fits_the_plaintext() -> None:
    layout = SlotLayout(magnitude_bits=92, key_bits=2048)
    assert layout.slot_bits == 93 and layout.per_ciphertext == 22  # 22 * 93 = 2046 bits < 2047
    assert layout.ciphertexts_for(33) == 2 and layout.ciphertexts_for(0) == 0
    assert [list(g) for g in SlotLayout(10, 34).groups(7)] == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(ValueError, match="do not fit"):
        SlotLayout(magnitude_bits=2048, key_bits=2048)


def test_pack_and_unpack_are_exact_at_the_edges(keys: tuple[PublicKey, PrivateKey]) -> None:
    public_key, private_key = keys
    layout = layout_for(public_key, 80)
    top = (1 << 80) - 1
    count = layout.per_ciphertext + 3  # two packed plaintexts, the second partly filled
    values = [top, -top, 0, -1, 1, *(secrets.randbelow(2 * top + 1) - top for _ in range(count - 5))]
    clear = [0] * count
    packed = pack_ciphertexts(public_key, _encrypt_ints(public_key, values), layout, clear)
    assert len(packed) == 2
    plain = private_key.raw_decrypt(packed)
    groups = layout.groups(count)
    unpacked = [v for p, g in zip(plain, groups, strict=True) for v in layout.unpack(int(p), len(g))]
    assert unpacked == values
    assert [int(p) for p in plain] == [layout.packed_clear([values[j] for j in g]) for g in groups]


def test_clear_parts_add_into_their_slots(keys: tuple[PublicKey, PrivateKey]) -> None:
    """What the party knows in clear joins the encrypted part in the same slot; negative sums borrow nothing."""
    public_key, private_key = keys
    layout = layout_for(public_key, 60)
    encrypted = [5, -(1 << 59), 1 << 58, -7]
    clear = [-10, (1 << 59) - 3, (1 << 58), 7]
    packed = pack_ciphertexts(public_key, _encrypt_ints(public_key, encrypted), layout, clear)
    (plain,) = private_key.raw_decrypt(packed)
    assert layout.unpack(int(plain), 4) == [e + c for e, c in zip(encrypted, clear, strict=True)]


def test_a_value_beyond_its_slot_is_refused() -> None:
    layout = SlotLayout(8, 64)
    with pytest.raises(ValueError, match="exceeds"):
        layout.packed_clear([1 << 8])
    with pytest.raises(ValueError, match="overflowed"):
        layout.unpack(1 << (3 * layout.slot_bits), 3)


def test_packed_masked_gradients_equal_the_unpacked_ones(keys: tuple[PublicKey, PrivateKey]) -> None:
    """The arbiter's round trip with packing gives bit for bit the gradient sums it gives without."""
    public_key, private_key = keys
    rng = np.random.default_rng(1)
    rows, columns = 300, 25
    d, x = rng.normal(size=rows) * 3, rng.normal(size=(rows, columns)) * 4
    scaled = ScaledColumns.of(x, 16)
    enc_d = public_key.encrypt(d, frac_bits=VALUE_FRAC_BITS)
    products = x_transpose_dot(scaled.scaled, enc_d, frac_bits=16)
    plain = rng.normal(size=columns) * 100  # the party's own clear part of each sum

    def arbiter(masked: EncryptedVector) -> BigInts:
        return BigInts(int(r) for r in private_key.raw_decrypt(masked.data))

    plain_masked, plain_masks = mask_for_arbiter(products, plain, scaled.frac_bits)
    layout = gradient_layout(public_key, rows, 16, parties=2)
    packed_masked, packed_masks = mask_for_arbiter(products, plain, scaled.frac_bits, layout)
    assert len(plain_masked) == columns and len(packed_masked) == layout.ciphertexts_for(columns) == 3
    unpacked = unmask(public_key, arbiter(plain_masked), plain_masks, scaled.frac_bits)
    packed = unmask(public_key, arbiter(packed_masked), packed_masks, scaled.frac_bits, layout)
    np.testing.assert_array_equal(packed, unpacked)
    np.testing.assert_allclose(packed, x.T @ d + plain, atol=0.05)  # features rounded to 2**-16 of their peak


def test_the_bit_budget_holds_the_worst_case(keys: tuple[PublicKey, PrivateKey]) -> None:
    """Every feature at its largest, every residual at the largest value the parties may encrypt."""
    public_key, private_key = keys
    rows, parties, feature_bits = 500, 2, 16
    layout = gradient_layout(public_key, rows, feature_bits, parties)
    d_max = (parties * (1 << VALUE_MAGNITUDE_BITS) - 1) << VALUE_FRAC_BITS
    enc = EncryptedVector(public_key, _encrypt_ints(public_key, [d_max] * rows), VALUE_FRAC_BITS)
    x = np.full((rows, 2), 1.0 - 2.0**-20)  # just below 1: scaled by 2**0, rounded to 2**16 exactly
    x[:, 1] *= -1.0
    scaled = ScaledColumns.of(x, feature_bits)
    products = x_transpose_dot(scaled.scaled, enc, frac_bits=feature_bits)
    total = rows * d_max << feature_bits
    clear = [total, -total]  # the party's clear part at the same largest size
    packed = pack_ciphertexts(public_key, products.data, layout, clear)
    (plain,) = private_key.raw_decrypt(packed)
    assert layout.unpack(int(plain), 2) == [2 * total, -2 * total]
    assert (2 * total).bit_length() <= layout.magnitude_bits


def test_values_beyond_the_budget_are_not_encrypted() -> None:
    check_value_range(np.array([-(2.0**VALUE_MAGNITUDE_BITS) + 1, 3.0]), "host")
    with pytest.raises(ValueError, match="diverged"):
        check_value_range(np.array([0.0, 2.0**VALUE_MAGNITUDE_BITS]), "host")
    with pytest.raises(ValueError, match="diverged"):
        check_value_range(np.array([np.nan]), "guest")


def test_residues_that_do_not_unpack_are_refused(keys: tuple[PublicKey, PrivateKey]) -> None:
    public_key, _ = keys
    layout = layout_for(public_key, 80)
    masks = [0]
    bad = BigInts([int(public_key.n) - 1])  # a "packed" value above the slots' range
    with pytest.raises(HeteroLRProtocolError, match="do not unpack"):
        unmask(public_key, bad, masks, (48, 48), layout)
