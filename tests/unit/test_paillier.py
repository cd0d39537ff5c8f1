"""Tests for unseen.crypto.paillier (with paillier_keys and fixedpoint), cross-checked against phe.

phe is the reference: it is built from the same p and q, and ciphertexts must cross between the two libraries in
both directions, for fresh encryptions and for results of homomorphic operations. 1024-bit keys keep the suite
fast; one test runs the whole path at 2048 bits.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from phe import paillier as phe_paillier  # type: ignore[import-untyped]  # phe 1.5.0 ships no stubs
from phe.paillier import EncodedNumber, EncryptedNumber  # type: ignore[import-untyped]

from unseen.crypto import paillier as paillier_module
from unseen.crypto.fixedpoint import DEFAULT_FRAC_BITS, from_residues, to_fixed, to_residues
from unseen.crypto.paillier import (
    EncryptedVector,
    PrivateKey,
    PublicKey,
    decrypt_fixed,
    encrypt,
    generate_keypair,
    x_transpose_dot,
)
from unseen.crypto.paillier_keys import MIN_KEY_BITS, SHORT_EXPONENT_BITS, powmod, random_digits

PHE_EXPONENT = -DEFAULT_FRAC_BITS // 4  # phe encodes in base 16: 2**-32 is 16**-8


@pytest.fixture(scope="module")
def keys() -> tuple[PublicKey, PrivateKey]:
    return generate_keypair(1024)


@pytest.fixture(scope="module")
def other_keys() -> tuple[PublicKey, PrivateKey]:
    return generate_keypair(1024)


@pytest.fixture(scope="module")
def phe_keys(
    keys: tuple[PublicKey, PrivateKey],
) -> tuple[phe_paillier.PaillierPublicKey, phe_paillier.PaillierPrivateKey]:
    pub, priv = keys
    phe_pub = phe_paillier.PaillierPublicKey(pub.to_wire())
    p, q = priv.primes
    return phe_pub, phe_paillier.PaillierPrivateKey(phe_pub, p, q)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def as_phe(phe_pub: phe_paillier.PaillierPublicKey, enc: EncryptedVector) -> list[EncryptedNumber]:
    assert enc.frac_bits % 4 == 0
    return [EncryptedNumber(phe_pub, c, -enc.frac_bits // 4) for c in enc.to_ints()]


# -- keys ------------------------------------------------------------------------------------------------------


def test_keypair_has_exact_size_and_distinct_primes(keys: tuple[PublicKey, PrivateKey]) -> None:
    pub, priv = keys
    p, q = priv.primes
    assert pub.bits == 1024 and p * q == pub.to_wire() and p != q
    assert p.bit_length() == q.bit_length() == 512
    assert abs(p - q) >> (512 - 100) > 0


@pytest.mark.parametrize("bits", [512, 1023, 0])
def test_keygen_refuses_small_or_odd_sizes(bits: int) -> None:
    with pytest.raises(ValueError, match="n_bits"):
        generate_keypair(bits)


def test_public_key_travels_as_a_json_int(keys: tuple[PublicKey, PrivateKey]) -> None:
    pub, _ = keys
    wire = json.loads(json.dumps({"n": pub.to_wire()}))["n"]
    assert type(wire) is int
    again = PublicKey.from_wire(wire)
    assert again == pub and hash(again) == hash(pub)
    for bad in ["123", 12.0, True, None]:
        with pytest.raises(TypeError):
            PublicKey.from_wire(bad)
    with pytest.raises(ValueError, match="odd"):
        PublicKey.from_wire(pub.to_wire() + 1)
    with pytest.raises(ValueError, match="bits"):
        PublicKey.from_wire((1 << (MIN_KEY_BITS - 2)) + 1)


def test_private_key_must_match_the_public_key(
    keys: tuple[PublicKey, PrivateKey], other_keys: tuple[PublicKey, PrivateKey]
) -> None:
    pub, priv = keys
    p, q = other_keys[1].primes
    with pytest.raises(ValueError, match="factors"):
        PrivateKey(pub, p, q)
    assert str(priv.primes[0]) not in repr(priv)


# -- encrypt / decrypt -----------------------------------------------------------------------------------------


def test_roundtrip_ints_including_negatives_and_the_bounds(keys: tuple[PublicKey, PrivateKey]) -> None:
    pub, priv = keys
    big = pub.max_int
    values = np.array([0, 1, -1, 2**62, -(2**62), 10**200, -(10**200), big, -big], dtype=object)
    enc = pub.encrypt(values)
    assert enc.frac_bits == 0
    assert decrypt_fixed(priv, enc) == [int(v) for v in values]


def test_roundtrip_int64_and_floats(keys: tuple[PublicKey, PrivateKey], rng: np.random.Generator) -> None:
    pub, priv = keys
    ints = rng.integers(-(2**40), 2**40, 50)
    assert np.array_equal(priv.decrypt(pub.encrypt(ints)), ints.astype(np.float64))
    floats = np.concatenate([rng.normal(0, 1e3, 50), [0.0, -0.0, 1e-9, -123456.5, 2.0**-32]])
    dec = priv.decrypt(pub.encrypt(floats))
    assert np.max(np.abs(dec - floats)) <= 2.0**-33  # round to nearest at 32 fraction bits
    assert priv.decrypt(pub.encrypt(0.75)).tolist() == [0.75]


def test_threaded_decryption_gives_the_same_plaintexts(keys: tuple[PublicKey, PrivateKey]) -> None:
    pub, priv = keys
    values = np.arange(-7, 10)
    enc = pub.encrypt(values)
    assert decrypt_fixed(priv, enc, workers=3) == values.tolist()
    assert priv.decrypt(enc, workers=2).tolist() == values.tolist()
    assert priv.decrypt(enc[:1], workers=4).tolist() == [-7.0]


def test_encryption_is_randomised(keys: tuple[PublicKey, PrivateKey]) -> None:
    pub, priv = keys
    enc = pub.encrypt(np.array([5, 5, 5]))
    again = pub.encrypt(np.array([5, 5, 5]))
    assert len({*enc.to_ints(), *again.to_ints()}) == 6
    assert priv.decrypt(enc).tolist() == [5.0, 5.0, 5.0]


def test_djn_randomizers_are_encryptions_of_zero(keys: tuple[PublicKey, PrivateKey]) -> None:
    pub, priv = keys
    randomizers = pub.djn_randomizers(5)
    assert priv.raw_decrypt(randomizers) == [0] * 5
    assert len(pub._fixed_base_table()) * 8 >= SHORT_EXPONENT_BITS


def test_crt_randomizers_equal_the_public_key_computation(keys: tuple[PublicKey, PrivateKey]) -> None:
    """The key holder's h_s**a mod n**2 by CRT over p**2, q**2 is the very integer powmod gives mod n**2."""
    pub, priv = keys
    digits = random_digits(4, 10)
    digits.append([0] * len(digits[0]))  # a = 0
    digits.append([1023] * len(digits[0]))  # every digit at its largest
    exponents = [sum(d << (10 * k) for k, d in enumerate(row)) for row in digits]
    assert max(exponents).bit_length() <= len(digits[0]) * 10 and exponents[-2] == 0
    base = priv.djn_generator()
    assert priv.djn_powers(digits) == [powmod(base, a, pub.nsquare) for a in exponents]
    randomizers = priv.djn_randomizers(6)
    assert len(set(randomizers)) == 6 and priv.raw_decrypt(randomizers) == [0] * 6


def test_random_digits_are_the_exponent_bits() -> None:
    for window in (8, 10, 12):
        rows = random_digits(300, window)
        assert len(rows) == 300 and all(len(r) == -(-SHORT_EXPONENT_BITS // window) for r in rows)
        values = [sum(d << (window * k) for k, d in enumerate(r)) for r in rows]
        assert all(0 <= v < 1 << SHORT_EXPONENT_BITS for v in values)
        assert max(values).bit_length() > SHORT_EXPONENT_BITS - 12  # the top bits are used, not left zero
        assert len(set(values)) == 300


def test_private_key_encryption_decrypts_at_the_edges(keys: tuple[PublicKey, PrivateKey]) -> None:
    pub, priv = keys
    n = int(pub.n)
    edges = [0, 1, 2, n // 3, n // 2, n - 2, n - 1]
    ciphertexts = priv.raw_encrypt(edges)
    assert priv.raw_decrypt(ciphertexts) == edges
    assert len(set(ciphertexts)) == len(edges)  # fresh randomness per value
    assert all(0 < c < pub.nsquare for c in ciphertexts)
    mixed = pub.raw_add_plain(ciphertexts, [1] * len(edges))  # homomorphic with the public key's ciphertexts
    assert priv.raw_decrypt(mixed) == [(v + 1) % n for v in edges]


def test_every_public_key_object_draws_its_own_generator_yet_ciphertexts_mix(
    keys: tuple[PublicKey, PrivateKey],
) -> None:
    pub, priv = keys
    twin = PublicKey.from_wire(pub.to_wire())
    assert twin._fixed_base_table().rows[0][1] != pub._fixed_base_table().rows[0][1]
    total = pub.encrypt(np.array([1.5, -2.0])) + twin.encrypt(np.array([2.5, 1.0]))
    assert priv.decrypt(total).tolist() == [4.0, -1.0]


def test_wrong_key_does_not_decrypt(
    keys: tuple[PublicKey, PrivateKey], other_keys: tuple[PublicKey, PrivateKey]
) -> None:
    pub, _ = keys
    _, wrong = other_keys
    enc = pub.encrypt(np.array([42, -7]))
    with pytest.raises(ValueError, match="different public key"):
        wrong.decrypt(enc)
    raw = wrong.raw_decrypt(enc.to_ints())
    assert raw != [42, wrong.public_key.n - 7]


def test_overflow_is_refused_on_encryption_and_detected_on_decryption(
    keys: tuple[PublicKey, PrivateKey],
) -> None:
    pub, priv = keys
    with pytest.raises(OverflowError):
        pub.encrypt(np.array([pub.max_int + 1], dtype=object))
    with pytest.raises(OverflowError):
        pub.encrypt(np.array([2.0**1020]), frac_bits=3)  # 2**1023 > n/3 for a 1024-bit n
    with pytest.raises(OverflowError):
        pub.encrypt(np.array([2.0**1020]), frac_bits=8)  # not even a float any more
    third = pub.encrypt(np.array([pub.max_int], dtype=object))
    with pytest.raises(OverflowError, match="overflowed"):
        priv.decrypt(third + third)  # 2n/3 sits in the middle third
    with pytest.raises(ValueError, match="NaN"):
        pub.encrypt(np.array([1.0, math.nan]))


def test_fixed_point_residues_roundtrip() -> None:
    n, max_int = 1000003, 1000003 // 3
    signed = [0, 5, -5, max_int, -max_int]
    assert from_residues(to_residues(signed, n, max_int), n, max_int) == signed
    assert to_fixed(np.array([0.5, -0.25]), 4) == [8, -4]
    assert to_fixed(np.array([3, -2], dtype=np.int8), 2) == [12, -8]


# -- cross-checks with phe -------------------------------------------------------------------------------------


def test_our_ciphertexts_decrypt_with_phe(
    keys: tuple[PublicKey, PrivateKey],
    phe_keys: tuple[phe_paillier.PaillierPublicKey, phe_paillier.PaillierPrivateKey],
) -> None:
    pub, _ = keys
    phe_pub, phe_priv = phe_keys
    ints = [0, 17, -17, 10**100, -(10**100)]
    enc = pub.encrypt(np.array(ints, dtype=object))
    assert [phe_priv.raw_decrypt(c) for c in enc.to_ints()] == [v % pub.n for v in ints]
    floats = np.array([0.5, -3.25, 1234.0625])
    phe_numbers = as_phe(phe_pub, pub.encrypt(floats))
    assert [phe_priv.decrypt(c) for c in phe_numbers] == floats.tolist()


def test_phe_ciphertexts_decrypt_with_ours(
    keys: tuple[PublicKey, PrivateKey],
    phe_keys: tuple[phe_paillier.PaillierPublicKey, phe_paillier.PaillierPrivateKey],
) -> None:
    pub, priv = keys
    phe_pub, _ = phe_keys
    values = [3, -3, 2**70, -(2**70), 0]
    raw = [phe_pub.encrypt(v).ciphertext(be_secure=False) for v in values]
    assert decrypt_fixed(priv, EncryptedVector.from_ints(pub, raw, 0)) == values
    floats = [0.5, -2.75, 1e-3]
    phe_enc = [phe_pub.encrypt(v, precision=2.0**-DEFAULT_FRAC_BITS) for v in floats]
    assert all(c.exponent == PHE_EXPONENT for c in phe_enc)
    ours = EncryptedVector.from_ints(pub, [c.ciphertext(be_secure=False) for c in phe_enc], DEFAULT_FRAC_BITS)
    assert np.allclose(priv.decrypt(ours), floats, atol=2.0**-32)


def test_add_and_scalar_multiply_agree_with_phe(
    keys: tuple[PublicKey, PrivateKey],
    phe_keys: tuple[phe_paillier.PaillierPublicKey, phe_paillier.PaillierPrivateKey],
    rng: np.random.Generator,
) -> None:
    pub, priv = keys
    phe_pub, phe_priv = phe_keys
    a, b = rng.uniform(-10, 10, 8), rng.uniform(-10, 10, 8)
    k = np.array([3, -3, 1, -1, 0, 2**40, -(2**40), 7])
    enc_a, enc_b = pub.encrypt(a), pub.encrypt(b)
    phe_a, phe_b = as_phe(phe_pub, enc_a), as_phe(phe_pub, enc_b)

    ours_sum = enc_a + enc_b
    phe_sum = [x + y for x, y in zip(phe_a, phe_b, strict=True)]
    assert [phe_priv.decrypt(c) for c in phe_sum] == priv.decrypt(ours_sum).tolist()
    assert [phe_priv.decrypt(c) for c in as_phe(phe_pub, ours_sum)] == priv.decrypt(ours_sum).tolist()

    ours_prod = enc_a * k  # integer factors keep the scale
    assert ours_prod.frac_bits == DEFAULT_FRAC_BITS
    phe_prod = [x * int(f) for x, f in zip(phe_a, k, strict=True)]
    assert [phe_priv.decrypt(c) for c in phe_prod] == priv.decrypt(ours_prod).tolist()
    assert [phe_priv.decrypt(c) for c in as_phe(phe_pub, ours_prod)] == priv.decrypt(ours_prod).tolist()

    halves = enc_a * -0.5  # a float factor adds its fraction bits
    assert halves.frac_bits == 2 * DEFAULT_FRAC_BITS
    enc_half = EncodedNumber.encode(phe_pub, -0.5, precision=2.0**-DEFAULT_FRAC_BITS)
    assert [phe_priv.decrypt(c * enc_half) for c in phe_a] == priv.decrypt(halves).tolist()
    assert np.allclose(priv.decrypt(halves), -0.5 * a, atol=2.0**-30)


def test_x_transpose_dot_matches_numpy_and_phe(
    keys: tuple[PublicKey, PrivateKey],
    phe_keys: tuple[phe_paillier.PaillierPublicKey, phe_paillier.PaillierPrivateKey],
    rng: np.random.Generator,
) -> None:
    pub, priv = keys
    phe_pub, phe_priv = phe_keys
    samples, features = 40, 5
    d = rng.uniform(-1, 1, samples)
    x = rng.normal(0, 2, (samples, features))
    x[:, 1] = 0.0  # an all-zero feature
    x[::3, 2] = 0.0  # a sparse one
    x[:, 3] = -np.abs(x[:, 3])  # an all-negative one
    enc_d = pub.encrypt(d)
    grad = x_transpose_dot(x, enc_d)
    assert len(grad) == features and grad.frac_bits == 2 * DEFAULT_FRAC_BITS
    ours = priv.decrypt(grad)
    assert np.allclose(ours, x.T @ d, atol=1e-7)

    phe_d = as_phe(phe_pub, enc_d)
    encoded = [[EncodedNumber.encode(phe_pub, v, precision=2.0**-32) for v in row] for row in x.tolist()]
    for j in range(features):
        acc = phe_d[0] * encoded[0][j]
        for i in range(1, samples):
            acc = acc + phe_d[i] * encoded[i][j]
        assert phe_priv.decrypt(acc) == ours[j]  # the same exact fixed-point sum
    assert [phe_priv.decrypt(c) for c in as_phe(phe_pub, grad)] == ours.tolist()


def test_x_transpose_dot_exact_for_integer_and_huge_exponents(
    keys: tuple[PublicKey, PrivateKey], rng: np.random.Generator
) -> None:
    pub, priv = keys
    d = [int(v) for v in rng.integers(-1000, 1000, 30)]
    enc_d = pub.encrypt(np.array(d))
    for scale in [1, 3, 2**20, 2**61]:  # different magnitudes pick different window widths
        x = rng.integers(-scale, scale + 1, (30, 3))
        expected = [sum(int(x[i, j]) * d[i] for i in range(30)) for j in range(3)]
        assert decrypt_fixed(priv, x_transpose_dot(x, enc_d)) == expected
    huge = np.empty((30, 2), dtype=object)
    huge[:, 0] = [int(v) * 10**40 for v in rng.integers(-50, 50, 30)]
    huge[:, 1] = [(-1) ** i * (2**200 + i) for i in range(30)]
    expected = [sum(huge[i, j] * d[i] for i in range(30)) for j in range(2)]
    assert decrypt_fixed(priv, x_transpose_dot(huge, enc_d)) == expected


@pytest.mark.parametrize("window", [1, 2, 3, 5, 8, 11])
def test_bucket_multi_exponentiation_matches_naive_powmod(
    keys: tuple[PublicKey, PrivateKey], monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    pub, _ = keys
    nsq = pub.nsquare
    rng = np.random.default_rng(window)
    bases = pub.djn_randomizers(25)
    exps = rng.integers(-(2**40), 2**40, 25)
    exps[[0, 5, 6]] = 0
    exps[1], exps[2] = 2 ** (window - 1), -(2 ** (window - 1))  # digits exactly at the signed-window edge
    expected = 1
    for b, e in zip(bases, exps.tolist(), strict=True):
        expected = expected * pow(int(b), int(e), int(nsq)) % nsq
    monkeypatch.setattr(paillier_module, "_window_bits", lambda count, bits: window)
    assert paillier_module._multi_exp(bases, exps, nsq) == expected


def test_full_path_at_2048_bits(rng: np.random.Generator) -> None:
    pub, priv = generate_keypair(2048)
    assert pub.bits == 2048
    phe_pub = phe_paillier.PaillierPublicKey(pub.to_wire())
    phe_priv = phe_paillier.PaillierPrivateKey(phe_pub, *priv.primes)
    d = rng.uniform(-1, 1, 20)
    x = rng.normal(0, 1, (20, 3))
    enc_d = pub.encrypt(d)
    assert [phe_priv.decrypt(c) for c in as_phe(phe_pub, enc_d)] == priv.decrypt(enc_d).tolist()
    grad = x_transpose_dot(x, enc_d).rerandomize()
    assert np.allclose(priv.decrypt(grad), x.T @ d, atol=1e-8)
    assert np.allclose([phe_priv.decrypt(c) for c in as_phe(phe_pub, grad)], x.T @ d, atol=1e-8)
    phe_c = phe_pub.encrypt(-12345).ciphertext(be_secure=False)
    assert decrypt_fixed(priv, EncryptedVector.from_ints(pub, [phe_c], 0)) == [-12345]


# -- vector API --------------------------------------------------------------------------------------------------


def test_operators_and_scales(keys: tuple[PublicKey, PrivateKey]) -> None:
    pub, priv = keys
    a = np.array([1.5, -2.0, 0.25])
    enc = pub.encrypt(a)
    assert priv.decrypt(-enc).tolist() == (-a).tolist()
    assert priv.decrypt(enc - enc).tolist() == [0.0, 0.0, 0.0]
    assert priv.decrypt(enc - 1).tolist() == (a - 1).tolist()
    assert priv.decrypt(1 - enc).tolist() == (1 - a).tolist()
    assert priv.decrypt(a + enc).tolist() == (2 * a).tolist()  # ndarray on the left defers to us
    assert priv.decrypt(2 * enc).tolist() == (2 * a).tolist()
    assert priv.decrypt(enc * a).tolist() == (a * a).tolist()
    assert priv.decrypt(enc.sum()).tolist() == [a.sum()]
    assert priv.decrypt(enc[1:]).tolist() == a[1:].tolist() and priv.decrypt(enc[0]).tolist() == [1.5]

    ints = pub.encrypt(np.array([1, 2, 3]))
    mixed = ints + enc  # integers are raised to the float vector's scale
    assert mixed.frac_bits == DEFAULT_FRAC_BITS
    assert priv.decrypt(mixed).tolist() == (a + np.array([1, 2, 3])).tolist()
    assert priv.decrypt(ints + 0.5).tolist() == [1.5, 2.5, 3.5]
    assert priv.decrypt(ints[0] + enc).tolist() == (a + 1).tolist()  # length one broadcasts
    both = EncryptedVector.concat([ints, enc])
    assert priv.decrypt(both).tolist() == [1, 2, 3, *a.tolist()]
    assert priv.decrypt(enc.rescale(40)).tolist() == a.tolist()
    assert priv.decrypt(encrypt(pub, np.array([], dtype=np.float64)).sum()).tolist() == [0.0]


def test_misuse_is_refused(keys: tuple[PublicKey, PrivateKey], other_keys: tuple[PublicKey, PrivateKey]) -> None:
    pub, _ = keys
    enc = pub.encrypt(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="two ciphertexts"):
        enc * enc  # type: ignore[operator]
    with pytest.raises(ValueError, match="length"):
        enc + np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="different public keys"):
        enc + other_keys[0].encrypt(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="1-D"):
        pub.encrypt(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="lower the scale"):
        enc.rescale(0)
    with pytest.raises(ValueError, match="samples"):
        x_transpose_dot(np.zeros((3, 2)), enc)


def test_wire_roundtrip_and_validation(keys: tuple[PublicKey, PrivateKey]) -> None:
    pub, priv = keys
    enc = pub.encrypt(np.array([0.5, -1.5]))
    wire = json.loads(json.dumps({"c": enc.to_ints(), "f": enc.frac_bits, "n": pub.to_wire()}))
    back = EncryptedVector.from_ints(PublicKey.from_wire(wire["n"]), wire["c"], wire["f"])
    assert priv.decrypt(back).tolist() == [0.5, -1.5]
    for bad in [[0], [pub.nsquare], [-1], ["1"], [1.0], [True]]:
        with pytest.raises(ValueError, match="ciphertext"):
            EncryptedVector.from_ints(pub, bad, 0)  # type: ignore[arg-type]


def test_rerandomize_changes_ciphertexts_not_plaintexts(keys: tuple[PublicKey, PrivateKey]) -> None:
    pub, priv = keys
    enc = pub.encrypt(np.array([3.0, -4.0]))
    fresh = enc.rerandomize()
    assert set(fresh.to_ints()).isdisjoint(enc.to_ints())
    assert priv.decrypt(fresh).tolist() == [3.0, -4.0]
