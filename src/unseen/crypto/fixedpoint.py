"""Fixed-point encoding of real numbers into the Paillier plaintext ring Z_n.

Paillier adds integers mod n, so reals are carried as ``round(x * 2**f)`` with one number of fraction bits
``f`` for a whole vector. phe instead gives every number its own exponent, which makes each homomorphic
addition check (and often re-scale with a modular exponentiation) its operands; with one fixed ``f`` the
ciphertexts of a vector add directly, and only multiplication changes the scale: a product of two encodings
has ``f1 + f2`` fraction bits, which :class:`~unseen.crypto.paillier.EncryptedVector` tracks.

Signed integers live in Z_n as ``v mod n``. Decoding reads the lower third ``[0, n/3]`` as non-negative,
the upper third ``[n - n/3, n)`` as negative and refuses the middle third as an overflow. The bound every
value must satisfy, at every step of a computation, is therefore ``|x| * 2**f <= n // 3`` (``max_int``).
Encoding checks it on the way in; homomorphic arithmetic cannot see plaintexts, so a result that left the
bound either lands in the middle third (decryption raises :class:`OverflowError`) or wraps all the way round
(silently wrong: the caller must bound its sums and products; with n of 2048 bits and f = 64 there are ~1980
bits of room).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

DEFAULT_FRAC_BITS = 32
"""Fraction bits for floats: a resolution of 2**-32 (~2.3e-10), finer than float32 and ample for gradients,
while keeping the plaintext exponents of the X^T [[d]] step near 35 bits, which is what makes it cheap."""

_INT64_SAFE = 1 << 62


def default_frac_bits(values: npt.ArrayLike) -> int:
    """Integers (and booleans) are encoded exactly with no fraction bits, everything else with the default.

    This keeps ``enc * 3`` at the scale of ``enc`` while ``enc * 0.5`` adds ``DEFAULT_FRAC_BITS``.
    """
    kind = np.asarray(values).dtype.kind
    if kind in "biu":
        return 0
    if kind == "O" and all(_as_int(v) is not None for v in np.asarray(values).ravel().tolist()):
        return 0
    return DEFAULT_FRAC_BITS


def to_fixed_array(values: npt.ArrayLike, frac_bits: int) -> np.ndarray:
    """``round(values * 2**frac_bits)`` as int64 when every entry fits, else as an object array of ints.

    int64 lets the multi-exponentiation recode exponents with numpy; object arrays keep exactness for the rare
    input whose encoding does not fit in 62 bits.
    """
    if frac_bits < 0:
        raise ValueError(f"frac_bits must be >= 0, got {frac_bits}")
    arr = np.asarray(values)
    kind = arr.dtype.kind
    if kind in "biu":
        if arr.size == 0 or max(-int(arr.min()), int(arr.max())) < _INT64_SAFE >> frac_bits:
            return np.left_shift(arr.astype(np.int64), frac_bits)
        return _object_array([int(v) << frac_bits for v in arr.ravel().tolist()], arr.shape)
    if kind == "f":
        floats = arr.astype(np.float64)
        if not np.all(np.isfinite(floats)):
            raise ValueError("cannot encode NaN or infinite values")
        with np.errstate(over="ignore"):
            scaled = np.rint(np.ldexp(floats, frac_bits))
        if not np.all(np.isfinite(scaled)):
            raise OverflowError(f"values too large to encode with {frac_bits} fraction bits")
        if scaled.size == 0 or float(np.max(np.abs(scaled))) < _INT64_SAFE:
            return scaled.astype(np.int64)
        return _object_array([int(v) for v in scaled.ravel().tolist()], arr.shape)
    if kind == "O":
        return _object_array([_scalar_to_fixed(v, frac_bits) for v in arr.ravel().tolist()], arr.shape)
    raise TypeError(f"cannot encode values of dtype {arr.dtype}")


def to_fixed(values: npt.ArrayLike, frac_bits: int) -> list[int]:
    """Flattened :func:`to_fixed_array` as Python ints: the signed integers that get encrypted."""
    return [int(v) for v in to_fixed_array(values, frac_bits).ravel().tolist()]


def from_fixed(ints: Sequence[int], frac_bits: int) -> np.ndarray:
    """Signed fixed-point integers back to float64, each correctly rounded (Python's int / int is)."""
    scale = 1 << frac_bits
    return np.array([v / scale for v in ints], dtype=np.float64)


def to_residues(signed: Sequence[int], n: int, max_int: int) -> list[int]:
    """Signed integers to Z_n, refusing any beyond ``max_int`` so that decoding stays unambiguous."""
    out: list[int] = []
    for v in signed:
        if v > max_int or -v > max_int:
            raise OverflowError(
                f"value {v} is outside the encodable range +-{max_int} (n // 3); "
                "use fewer fraction bits or smaller values"
            )
        out.append(v % n)
    return out


def from_residues(residues: Sequence[int], n: int, max_int: int) -> list[int]:
    """Z_n back to signed integers; the middle third means the computation overflowed."""
    out: list[int] = []
    for residue in residues:
        m = int(residue)
        if m <= max_int:
            out.append(m)
        elif m >= n - max_int:
            out.append(m - n)
        else:
            raise OverflowError(
                "decrypted value is outside +-n/3: a homomorphic sum or product overflowed the plaintexts"
            )
    return out


def _as_int(value: object) -> int | None:
    """Any exact integer type (int, numpy integers, gmpy2.mpz: whatever implements __index__), else None."""
    if isinstance(value, float | np.floating):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]  # objects without __index__ raise TypeError
    except TypeError:
        return None


def _scalar_to_fixed(value: object, frac_bits: int) -> int:
    exact = _as_int(value)
    if exact is not None:
        return exact << frac_bits
    if isinstance(value, float | np.floating):
        return int(to_fixed_array(np.float64(value), frac_bits))
    raise TypeError(f"cannot encode {type(value).__name__}")


def _object_array(ints: list[int], shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(len(ints), dtype=object)
    out[:] = ints
    return out.reshape(shape)
