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
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Protocol

import numpy as np
import numpy.typing as npt

from unseen.crypto.fixedpoint import to_fixed, to_residues
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

    def ahead(self, public_key: PublicKey, per_epoch: int) -> AbstractContextManager[None]:
        """While in this block, encryption randomness for ``per_epoch`` values may be made ahead of use."""
        ...

    def waiting(self) -> AbstractContextManager[None]:
        """Wrap a wait for a partner: the idle time in which randomness made ahead is made."""
        ...

    def close(self) -> None: ...


RANDOMIZER_CHUNK = 4
"""Randomizers made per turn of the background thread (~1 ms on an idle core): the most the party's own thread
waits for the GIL when its partner's message arrives."""


class RandomizerPool:
    """DJN randomizers ``h_s ** a`` made ahead by a background thread, only while the party waits for a partner.

    An encryption is ``(1 + m n) h_s ** a mod n**2``: the randomizer, all of its cost, does not depend on the
    plaintext, so it can be made in the time a party spends waiting for the other side's ciphertexts or the
    arbiter's reply, and the next epoch's encryption is then one multiplication per row. Each randomizer is
    drawn exactly as ``PublicKey.djn_randomizers`` draws it (the same call), kept in this process's memory
    only, and used once: the ciphertexts are distributed exactly as before.

    The thread runs only inside :meth:`waiting`: gmpy2 holds the GIL for each multiplication, so running beside
    the party's own work (``X^T [[d]]``) would slow that work down by as much as it saved.
    """

    def __init__(self, public_key: PublicKey, target: int) -> None:
        self.public_key, self.target = public_key, target
        self._ready: list[int] = []
        self._idle = threading.Event()
        self._changed = threading.Condition()
        self._stopped = False
        self.made_ahead = 0
        self._thread = threading.Thread(target=self._run, name="hetero-lr-randomizers", daemon=True)
        self._thread.start()

    def take(self, count: int) -> list[int]:
        """``count`` unused randomizers: those made ahead first, the rest made now."""
        with self._changed:
            taken, self._ready = self._ready[:count], self._ready[count:]
            self._changed.notify_all()
        if len(taken) < count:
            taken.extend(self.public_key.djn_randomizers(count - len(taken)))
        return taken

    @contextmanager
    def waiting(self) -> Iterator[None]:
        self._idle.set()
        try:
            yield
        finally:
            self._idle.clear()

    def close(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        self._idle.set()
        self._thread.join()
        self._ready = []

    def _run(self) -> None:
        while True:
            self._idle.wait()
            with self._changed:
                if self._stopped:
                    return
                if len(self._ready) >= self.target:
                    self._changed.wait(timeout=1.0)
                    continue
            made = self.public_key.djn_randomizers(RANDOMIZER_CHUNK)
            with self._changed:
                self._ready.extend(made)
                self.made_ahead += len(made)


class SerialEngine:
    """Everything in the calling thread (right for small tables and for tests), with encryption randomness made
    ahead while the party waits (:class:`RandomizerPool`) inside :meth:`ahead`.

    Pools are kept per calling thread: one engine may serve several parties' threads at once (``run_parties``
    benchmarks), and each party must draw only from its own pool and stop only its own.
    """

    def __init__(self) -> None:
        self._pools: dict[int, RandomizerPool] = {}

    @contextmanager
    def ahead(self, public_key: PublicKey, per_epoch: int) -> Iterator[None]:
        me = threading.get_ident()
        pool = self._pools[me] = RandomizerPool(public_key, per_epoch)
        try:
            yield
        finally:
            del self._pools[me]
            pool.close()

    def waiting(self) -> AbstractContextManager[None]:
        pool = self._pools.get(threading.get_ident())
        return nullcontext() if pool is None else pool.waiting()

    def encrypt(self, public_key: PublicKey, values: npt.NDArray[np.float64], frac_bits: int) -> EncryptedVector:
        flat = np.asarray(values, dtype=np.float64)
        pool = self._pools.get(threading.get_ident())
        if pool is None or pool.public_key != public_key or flat.ndim != 1:
            return public_key.encrypt(flat, frac_bits=frac_bits)
        residues = to_residues(to_fixed(flat, frac_bits), public_key.n, public_key.max_int)
        return EncryptedVector(public_key, public_key.raw_add_plain(pool.take(len(residues)), residues), frac_bits)

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

    def ahead(self, public_key: PublicKey, per_epoch: int) -> AbstractContextManager[None]:
        return nullcontext()  # the pool's workers are busy with the encryption itself

    def waiting(self) -> AbstractContextManager[None]:
        return nullcontext()

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
