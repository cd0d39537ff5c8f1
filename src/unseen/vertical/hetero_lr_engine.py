"""Where hetero LR's Paillier work runs: in the calling thread, or spread over a pool of worker processes.

Almost all of an epoch's time is two kinds of work, both split by rows without changing the result:
encrypting a vector (each row's ciphertext is independent) and ``X^T [[d]]`` (a product of per-row powers, so
the products over row chunks multiply together). gmpy2 holds the GIL for single operations, so threads would
not help; processes do. Only plain ints, numpy float arrays and the modulus cross the process boundary, and
only between this task and processes it started itself: nothing received from the network is ever unpickled,
and ciphertexts from a partner are range-checked (``EncryptedVector.from_ints``) in the worker like anywhere else.

Each worker keeps one :class:`PublicKey` per modulus, so its DJN fixed-base table is built once per process
(``docs/crypto-paillier.md``): every worker draws its own encryption generator, which decryption does not need.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Protocol

import numpy as np
import numpy.typing as npt

from unseen.crypto.paillier import EncryptedVector, PublicKey, x_transpose_dot

MIN_ROWS_PER_TASK = 2_000
"""Below this, a chunk's transfer and the per-call setup cost more than the parallelism returns."""


class PaillierEngine(Protocol):
    """The two bulk operations of hetero LR; implementations differ only in where they run."""

    def encrypt(self, public_key: PublicKey, values: npt.NDArray[np.float64], frac_bits: int) -> EncryptedVector:
        """``[[values]]`` with ``frac_bits`` fraction bits, fresh randomness per row."""
        ...

    def x_transpose_dot(self, x: npt.NDArray[np.float64], enc: EncryptedVector, frac_bits: int) -> EncryptedVector:
        """``X^T [[enc]]``, one ciphertext per column of ``x``, with ``enc.frac_bits + frac_bits`` fraction bits."""
        ...

    def close(self) -> None: ...


class SerialEngine:
    """Everything in the calling thread: right for small tables and for tests."""

    def encrypt(self, public_key: PublicKey, values: npt.NDArray[np.float64], frac_bits: int) -> EncryptedVector:
        return public_key.encrypt(np.asarray(values, dtype=np.float64), frac_bits=frac_bits)

    def x_transpose_dot(self, x: npt.NDArray[np.float64], enc: EncryptedVector, frac_bits: int) -> EncryptedVector:
        return x_transpose_dot(x, enc, frac_bits=frac_bits)

    def close(self) -> None:
        return None


class ProcessPoolEngine:
    """Rows split over ``workers`` processes (``spawn``ed, so no lock or gRPC thread of the task is forked).

    One engine can serve several parties' threads at once (as in ``run_parties`` benchmarks): requests are
    queued on the same pool and each is cut into ``workers`` chunks, so concurrent requests share the cores.
    """

    def __init__(self, workers: int, executor: Executor | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self._own = executor is None
        self._executor: Executor = executor or ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )

    def _chunks(self, rows: int) -> list[tuple[int, int]]:
        count = max(1, min(self.workers, rows // MIN_ROWS_PER_TASK))
        size = math.ceil(rows / count) if rows else 0
        return [(start, min(start + size, rows)) for start in range(0, rows, size)] if rows else []

    def encrypt(self, public_key: PublicKey, values: npt.NDArray[np.float64], frac_bits: int) -> EncryptedVector:
        flat = np.ascontiguousarray(values, dtype=np.float64)
        chunks = self._chunks(len(flat))
        if len(chunks) <= 1:
            return public_key.encrypt(flat, frac_bits=frac_bits)
        n = public_key.to_wire()
        futures = [self._executor.submit(_encrypt_chunk, n, flat[a:b], frac_bits) for a, b in chunks]
        data = [c for future in futures for c in future.result()]
        return EncryptedVector.from_ints(public_key, data, frac_bits)

    def x_transpose_dot(self, x: npt.NDArray[np.float64], enc: EncryptedVector, frac_bits: int) -> EncryptedVector:
        matrix = np.ascontiguousarray(x, dtype=np.float64)
        chunks = self._chunks(len(enc))
        if len(chunks) <= 1:
            return x_transpose_dot(matrix, enc, frac_bits=frac_bits)
        n = enc.public_key.to_wire()
        futures = [
            self._executor.submit(
                _x_transpose_dot_chunk, n, [int(c) for c in enc.data[a:b]], enc.frac_bits, matrix[a:b], frac_bits
            )
            for a, b in chunks
        ]
        pk = enc.public_key
        total: EncryptedVector | None = None
        for future in futures:
            part = EncryptedVector.from_ints(pk, future.result(), enc.frac_bits + frac_bits)
            total = part if total is None else total + part
        assert total is not None  # at least two chunks
        return total

    def close(self) -> None:
        if self._own:
            self._executor.shutdown(wait=True, cancel_futures=True)


def make_engine(workers: int, rows: int) -> PaillierEngine:
    """``workers`` processes (0: one per core), or the serial engine when that would not pay for itself."""
    count = (os.cpu_count() or 1) if workers == 0 else workers
    if count <= 1 or rows < 2 * MIN_ROWS_PER_TASK:
        return SerialEngine()
    return ProcessPoolEngine(count)


# --- what runs in the worker processes -------------------------------------------------------------------------

_KEYS: dict[int, PublicKey] = {}


def _key(n: int) -> PublicKey:
    key = _KEYS.get(n)
    if key is None:
        if len(_KEYS) > 8:  # one job uses one key; keep the cache from growing across many
            _KEYS.clear()
        key = _KEYS[n] = PublicKey(n)
    return key


def _encrypt_chunk(n: int, values: npt.NDArray[np.float64], frac_bits: int) -> list[int]:
    return _key(n).encrypt(values, frac_bits=frac_bits).to_ints()


def _x_transpose_dot_chunk(
    n: int, ints: list[int], enc_frac_bits: int, x: npt.NDArray[np.float64], frac_bits: int
) -> list[int]:
    enc = EncryptedVector.from_ints(_key(n), ints, enc_frac_bits)
    return x_transpose_dot(x, enc, frac_bits=frac_bits).to_ints()
