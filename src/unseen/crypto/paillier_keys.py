"""Paillier keys and the raw (integer) operations behind :mod:`unseen.crypto.paillier`.

This is the "hazmat" layer: integers in, integers out, no encoding. It composes gmpy2's big-integer arithmetic
into the textbook scheme (Paillier, EUROCRYPT '99, with g = n + 1) and the encryption of Damgard, Jurik and
Nielsen ("A generalization of Paillier's public-key system with applications to electronic voting", IJIS 2010,
section 4) with a short random exponent. Nothing here is a new primitive; see docs/crypto-paillier.md for the
assumptions each choice rests on.

Randomness comes from :mod:`secrets` (the OS CSPRNG) only; gmpy2's own random states are never used.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import gmpy2  # type: ignore[import-untyped]  # the gmpy2 2.3.2 wheel ships neither .pyi stubs nor py.typed
import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from unseen.crypto.paillier import EncryptedVector

# Typed views of the gmpy2 functions used. At run time the values are gmpy2.mpz; they are typed as int because
# mpz implements every int operation this package applies to them (+ - * // % comparisons, int(), hashing).
to_mpz: Callable[[int], int] = gmpy2.mpz
powmod: Callable[[int, int, int], int] = gmpy2.powmod
powmod_base_list: Callable[[Sequence[int], int, int], list[int]] = gmpy2.powmod_base_list
invert: Callable[[int, int], int] = gmpy2.invert
_next_prime: Callable[[int], int] = gmpy2.next_prime
_gcd: Callable[[int, int], int] = gmpy2.gcd

DEFAULT_KEY_BITS = 2048
MIN_KEY_BITS = 1024
SHORT_EXPONENT_BITS = 448
"""Length of the DJN random exponent ``a`` in ``h_s ** a``. The best known way to recover or bias a short
exponent in a group of unknown order is generic (Pollard's lambda / baby-step giant-step), costing
~2**(bits/2) = 2**224, far beyond the ~112-bit strength of a 2048-bit n (and the 128 bits of a 3072-bit one).
2 * kappa = 256 bits would match kappa = 128; the extra 192 bits are margin for an assumption that is less
studied than DCR, paid for with 24 more multiplications per encryption."""
_PUBLIC_WINDOW_BITS = 8  # one byte of the exponent per table row: a 448-bit exponent is 56 multiplications
_RERANDOMIZER_WINDOW_BITS = 6  # 363 rows of 64 for a 2176-bit exponent: built in ~23,000 products, ~0.1 s
_PRIVATE_WINDOW_BITS = 10  # mod p**2 and q**2: 45 rows of 1,024 entries each (~13 MiB per prime at 2048 bits)
_ONE = to_mpz(1)


class PublicKey:
    """The modulus n (and g = n + 1, implied). On the wire it is just ``n``, a JSON-safe int.

    The DJN generator ``h_s`` is *not* part of the wire format: each party that encrypts draws its own
    ``h = -x**2 mod n`` from fresh randomness the first time it encrypts. Decryption never needs ``h_s``
    (any ``h_s ** a`` is an n-th residue, which decryption cancels), so everyone's ciphertexts stay
    compatible while no party has to trust another's ``h_s``. Building the fixed-base table costs ~14,000
    modular multiplications (~0.1 s at 2048 bits) once per PublicKey object; reuse the object.
    """

    __slots__ = ("_table", "max_int", "n", "nsquare")

    def __init__(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"a Paillier public key is an int n, got {type(n).__name__}")
        if n % 2 == 0 or n.bit_length() < MIN_KEY_BITS:
            raise ValueError(f"n must be an odd modulus of at least {MIN_KEY_BITS} bits")
        self.n: int = to_mpz(n)
        self.nsquare: int = self.n * self.n
        self.max_int: int = int(self.n) // 3
        self._table: FixedBaseTable | None = None

    @property
    def bits(self) -> int:
        """Size of n in bits (2048 means a 2048-bit modulus and 4096-bit ciphertexts)."""
        return int(self.n).bit_length()

    def to_wire(self) -> int:
        """The public key as it travels: the plain int ``n``."""
        return int(self.n)

    @classmethod
    def from_wire(cls, value: object) -> PublicKey:
        """Rebuild a key received from a peer; anything but a plausible int modulus is refused."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"a Paillier public key travels as an int, got {type(value).__name__}")
        return cls(value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and self.n == other.n

    def __hash__(self) -> int:
        return hash(int(self.n))

    def __repr__(self) -> str:
        return f"PublicKey(bits={self.bits}, n=0x{int(self.n) % (1 << 32):08x}...)"

    def encrypt(self, values: npt.ArrayLike, frac_bits: int | None = None) -> EncryptedVector:
        """Encrypt a vector (or scalar) of numbers; see :func:`unseen.crypto.paillier.encrypt`."""
        from unseen.crypto.paillier import encrypt

        return encrypt(self, values, frac_bits=frac_bits)

    # -- raw integer operations ------------------------------------------------------------------------------

    def raw_encrypt(self, residues: Sequence[int]) -> list[int]:
        """Ciphertexts of plaintexts already in [0, n): ``(1 + m n) * h_s**a mod n**2``."""
        return self.raw_add_plain(self.djn_randomizers(len(residues)), residues)

    def raw_add_plain(self, ciphertexts: Sequence[int], residues: Sequence[int]) -> list[int]:
        """``c * (1 + m n) mod n**2``, computed as ``c + n * (c m mod n)``.

        The identity holds because ``c m n mod n**2 = n * (c m mod n)``; it replaces a 4096x4096-bit product
        reduced mod n**2 by a 4096x2048-bit one reduced mod n, about a third cheaper.
        """
        n, nsq = self.n, self.nsquare
        return [c if m == 0 else (c + n * (c * m % n)) % nsq for c, m in zip(ciphertexts, residues, strict=True)]

    def djn_randomizers(self, count: int) -> list[int]:
        """``count`` values ``h_s ** a mod n**2`` with ``a`` uniform in [0, 2**SHORT_EXPONENT_BITS).

        Fixed-base windowing: row k of the table holds ``h_s ** (j * 256**k)`` for every byte j, so the
        exponent's k-th byte selects one entry and an encryption is at most 56 multiplications instead of the
        ~2,400 of ``r ** n``. The random bytes are the exponent's digits, drawn in one call per vector.
        """
        table = self._fixed_base_table()
        return table.powers(random_digits(count, table.window))

    def full_randomizers(self, count: int) -> list[int]:
        """``count`` values ``r ** n mod n**2`` with r uniform in Z_n^*: textbook Paillier randomness.

        Multiplying a ciphertext by one makes its randomness uniform and independent of how it was computed
        (statistically, with no short-exponent assumption), which is what a result must have before it goes
        back to the key holder. ~35x dearer than :meth:`djn_randomizers`; use it for results, not inputs.
        """
        n = self.n
        units: list[int] = []
        while len(units) < count:
            r = secrets.randbelow(int(n) - 1) + 1
            if _gcd(r, n) == 1:  # fails only if r reveals a factor of n: probability ~2**-1023
                units.append(r)
        return powmod_base_list(units, n, self.nsquare)

    def _fixed_base_table(self) -> FixedBaseTable:
        if self._table is None:
            self._table = FixedBaseTable(djn_base(self.n), self.nsquare, _PUBLIC_WINDOW_BITS)
        return self._table


STATISTICAL_BITS = 128
"""Extra exponent bits that make ``h_s ** b`` statistically uniform over the group ``h_s`` generates."""


class SubgroupRerandomizer:
    """Fresh randomness for results that go back to the key holder: ``h_s ** b`` with b uniform and long.

    Where every input ciphertext's randomness is a power of one DJN generator ``h_s`` (the key holder encrypted
    them all with it), any product or power of them has randomness ``h_s ** A`` for an A the key holder could
    compute. Multiplying by ``h_s ** b`` with b uniform in [0, 2**(bits(n) + 128)) makes the exponent
    ``A + b mod ord(h_s)`` uniform up to a statistical distance below 2**-128 (ord(h_s) < n), independent of A:
    the randomness then says nothing about how the result was computed, with no computational assumption. It
    costs ceil((bits(n) + 128) / 6) products from a fixed-base table (~360 at 2048 bits; the table, ~23,000
    products and ~12 MB, is built once per training) instead of the ~2,400 of ``r ** n``. See
    docs/crypto-paillier.md ("Re-randomising towards the key holder").
    """

    __slots__ = ("_table",)

    def __init__(self, public_key: PublicKey, generator: int) -> None:
        if isinstance(generator, bool) or not isinstance(generator, int) or not 1 < generator < public_key.nsquare:
            raise ValueError("a DJN generator is an int in (1, n**2)")
        bits = -(-(public_key.bits + STATISTICAL_BITS) // 8) * 8
        self._table = FixedBaseTable(to_mpz(generator), public_key.nsquare, _RERANDOMIZER_WINDOW_BITS, bits)

    def randomizers(self, count: int) -> list[int]:
        table = self._table
        return table.powers(random_digits(count, table.window, table.exponent_bits))


def djn_base(n: int) -> int:
    """A fresh DJN generator ``h_s = h**n mod n**2`` with ``h = -x**2 mod n`` for a random unit x (DJN section 4)."""
    while True:
        x = secrets.randbelow(int(n) - 2) + 2
        if _gcd(x, n) == 1:
            break
    h = (-x * x) % n
    return powmod(h, n, n * n)


class FixedBaseTable:
    """``base ** a mod modulus`` for ``exponent_bits``-bit exponents a, read as ``window``-bit digits.

    Row k holds ``base ** (j * 2**(window k))`` for every digit value j, so a power is one multiplication per
    non-zero digit: ceil(exponent_bits / window) at most. Building costs ``rows * 2**window`` multiplications, once.
    """

    __slots__ = ("exponent_bits", "modulus", "rows", "window")

    def __init__(self, base: int, modulus: int, window: int, exponent_bits: int = SHORT_EXPONENT_BITS) -> None:
        self.modulus, self.window, self.exponent_bits = modulus, window, exponent_bits
        self.rows: list[list[int]] = []
        base = base % modulus
        for _ in range(math.ceil(exponent_bits / window)):
            row = [_ONE, base]
            for _ in range(2, 1 << window):
                row.append(row[-1] * base % modulus)
            self.rows.append(row)
            base = row[-1] * base % modulus  # base ** 2**window for the next digit

    def __len__(self) -> int:
        return len(self.rows)

    def powers(self, digits: list[list[int]]) -> list[int]:
        """One power per row of ``digits`` (each the exponent's digits, lowest first)."""
        modulus = self.modulus
        out: list[int] = []
        for exponent in digits:
            acc = _ONE
            for row, digit in zip(self.rows, exponent, strict=True):
                if digit:
                    acc = acc * row[digit] % modulus
            out.append(acc)
        return out


def random_digits(count: int, window: int, exponent_bits: int = SHORT_EXPONENT_BITS) -> list[list[int]]:
    """``count`` exponents uniform in [0, 2**exponent_bits), each as ``window``-bit digits, lowest first.

    The bits come from one :func:`secrets.token_bytes` call (the OS CSPRNG); every bit of the exponent is used
    once, so the exponent is exactly uniform. ``exponent_bits`` must be a multiple of 8.
    """
    if exponent_bits % 8:
        raise ValueError(f"exponent_bits must be a multiple of 8, got {exponent_bits}")
    rows = math.ceil(exponent_bits / window)
    raw = secrets.token_bytes(count * exponent_bits // 8)
    if window == 8:
        return [list(raw[i : i + rows]) for i in range(0, len(raw), rows)]
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little").reshape(count, exponent_bits)
    padded = np.zeros((count, rows * window), dtype=np.int64)
    padded[:, :exponent_bits] = bits
    weights = np.int64(1) << np.arange(window, dtype=np.int64)
    digits: list[list[int]] = (padded.reshape(count, rows, window) @ weights).tolist()
    return digits


class PrivateKey:
    """The factors p, q of n, with what CRT decryption precomputes from them.

    Decryption works mod p**2 and q**2 separately (Paillier '99, section 7): two exponentiations with
    half-size exponents and moduli instead of one full ``c ** lambda mod n**2``, about 4x fewer bit
    operations. Never put this object on the wire; :attr:`primes` exists for key storage and for
    cross-checks with phe.
    """

    __slots__ = ("_djn", "_hp", "_hq", "_p", "_psquare", "_q", "_q_inv", "_qsquare", "_qsquare_inv", "public_key")

    def __init__(self, public_key: PublicKey, p: int, q: int) -> None:
        p, q = to_mpz(p), to_mpz(q)
        if p == q or p * q != public_key.n:
            raise ValueError("p and q must be the two distinct prime factors of the public key's n")
        self.public_key = public_key
        self._p, self._q = p, q
        self._psquare, self._qsquare = p * p, q * q
        g = public_key.n + 1
        self._hp = invert((powmod(g, p - 1, self._psquare) - 1) // p, p)
        self._hq = invert((powmod(g, q - 1, self._qsquare) - 1) // q, q)
        self._q_inv = invert(q, p)
        self._qsquare_inv = invert(self._qsquare, self._psquare)
        self._djn: tuple[int, FixedBaseTable, FixedBaseTable] | None = None

    @property
    def primes(self) -> tuple[int, int]:
        """(p, q) as plain ints. Secret: for key storage and for building phe's key in tests."""
        return int(self._p), int(self._q)

    def __repr__(self) -> str:
        return f"PrivateKey(for {self.public_key!r})"

    def decrypt(self, enc: EncryptedVector, workers: int = 1) -> np.ndarray:
        """Decrypt and decode to float64; see :func:`unseen.crypto.paillier.decrypt`."""
        from unseen.crypto.paillier import decrypt

        return decrypt(self, enc, workers=workers)

    def raw_encrypt(self, residues: Sequence[int]) -> list[int]:
        """What :meth:`PublicKey.raw_encrypt` computes, ~1.6x faster (randomizers from :meth:`djn_randomizers`)."""
        return self.public_key.raw_add_plain(self.djn_randomizers(len(residues)), residues)

    def djn_randomizers(self, count: int) -> list[int]:
        """``count`` values ``h_s ** a mod n**2``, a uniform in [0, 2**SHORT_EXPONENT_BITS): the public key's
        computation and distribution, done by the key holder mod p**2 and mod q**2 and joined by CRT.

        The value is the same integer the public-key path would give for the same ``h_s`` and ``a`` (CRT is a
        bijection), so nothing about the ciphertexts changes; only the cost does: a product mod p**2 (2048 bits
        for a 2048-bit key) costs about a third of one mod n**2, and the smaller table entries afford 10-bit
        digits (45 products per prime instead of 56).
        """
        return self.djn_powers(random_digits(count, _PRIVATE_WINDOW_BITS))

    def djn_powers(self, digits: list[list[int]]) -> list[int]:
        """``h_s ** a mod n**2`` for exponents given as 10-bit digits (lowest first), by CRT over p**2, q**2."""
        _, table_p, table_q = self._djn_tables()
        psq, qsq, qsq_inv = self._psquare, self._qsquare, self._qsquare_inv
        return [
            xq + qsq * ((xp - xq) * qsq_inv % psq)
            for xp, xq in zip(table_p.powers(digits), table_q.powers(digits), strict=True)
        ]

    def djn_generator(self) -> int:
        """This key object's ``h_s`` (mod n**2), drawn on first use like each PublicKey object's."""
        return self._djn_tables()[0]

    def use_djn_generator(self, base: int) -> None:
        """Encrypt with ``base`` as ``h_s`` from now on: the key holder's worker processes share one generator,
        so that every ciphertext's randomness is a power of the one ``h_s`` hosts re-randomise with."""
        if self._djn is None or self._djn[0] != base:
            self._djn_tables(base)

    def _djn_tables(self, base: int | None = None) -> tuple[int, FixedBaseTable, FixedBaseTable]:
        if self._djn is None or base is not None:
            base = djn_base(self.public_key.n) if base is None else to_mpz(base)
            self._djn = (
                base,
                FixedBaseTable(base, self._psquare, _PRIVATE_WINDOW_BITS),
                FixedBaseTable(base, self._qsquare, _PRIVATE_WINDOW_BITS),
            )
        return self._djn

    def raw_decrypt(self, ciphertexts: Sequence[int], workers: int = 1) -> list[int]:
        """Plaintexts in [0, n) of raw ciphertexts, by CRT over p**2 and q**2.

        The exponentiations (all the cost) run in gmpy2 calls over whole chunks of the vector, which release the
        GIL: with ``workers > 1`` they run on that many threads, the rest of the work stays on the caller's.
        """
        p, q = self._p, self._q
        xps = _powmod_chunks(ciphertexts, p - 1, self._psquare, workers)
        xqs = _powmod_chunks(ciphertexts, q - 1, self._qsquare, workers)
        hp, hq, q_inv = self._hp, self._hq, self._q_inv
        out: list[int] = []
        for xp, xq in zip(xps, xqs, strict=True):
            mp = (xp - 1) // p * hp % p
            mq = (xq - 1) // q * hq % q
            out.append(mq + (mp - mq) * q_inv % p * q)
        return out


def generate_keypair(n_bits: int = DEFAULT_KEY_BITS) -> tuple[PublicKey, PrivateKey]:
    """A fresh key pair with an ``n_bits`` modulus (2048 gives ~112-bit security, 3072 ~128-bit).

    p and q are ``gmpy2.next_prime`` of random odd ``n_bits/2``-bit numbers whose top two bits are set, so n
    has exactly ``n_bits`` bits; pairs closer than 2**(n_bits/2 - 100) are redrawn (the FIPS 186-4 B.3.1
    rule) so Fermat factoring cannot apply. gmpy2.next_prime is GMP's probabilistic primality test, whose chance of
    passing a composite GMP documents as extremely small; a second check would not change that picture.
    """
    if n_bits < MIN_KEY_BITS or n_bits % 2:
        raise ValueError(f"n_bits must be even and at least {MIN_KEY_BITS}, got {n_bits}")
    half = n_bits // 2
    while True:
        p, q = _random_prime(half), _random_prime(half)
        n = p * q
        if abs(p - q) >> (half - 100) == 0 or n.bit_length() != n_bits or _gcd(n, (p - 1) * (q - 1)) != 1:
            continue
        public_key = PublicKey(int(n))
        return public_key, PrivateKey(public_key, p, q)


def powmod_list(bases: Sequence[int], exponent: int, modulus: int, workers: int) -> list[int]:
    """``[b ** exponent mod modulus for b in bases]`` on ``workers`` threads (gmpy2 list calls release the GIL)."""
    return _powmod_chunks(bases, exponent, modulus, workers)


def _powmod_chunks(bases: Sequence[int], exponent: int, modulus: int, workers: int) -> list[int]:
    if workers <= 1 or len(bases) < 2 * workers:
        return powmod_base_list(bases, exponent, modulus)
    size = -(-len(bases) // workers)
    chunks = [bases[i : i + size] for i in range(0, len(bases), size)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = pool.map(lambda chunk: powmod_base_list(chunk, exponent, modulus), chunks)
        return [value for part in parts for value in part]


def _random_prime(bits: int) -> int:
    while True:
        start = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        p = _next_prime(start)
        if p.bit_length() == bits:
            return p
