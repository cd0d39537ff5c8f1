"""Where SecureBoost's Paillier work runs: the calling thread for small tables, worker processes for large ones.

Two kinds of work dominate a tree: the guest's encryption of one packed plaintext per row, and a host's encrypted
histograms (one modular multiplication per row, feature and node). Both split by rows without changing the
result: encryptions are independent, and a histogram is a product of per-row ciphertexts, so the products over
row chunks multiply together. gmpy2 holds the GIL for single multiplications, so processes, not threads, give the
cores; ``spawn``ed, so no lock or gRPC thread of the task is forked, and fed only plain ints and numpy arrays by
this task (nothing from the network is unpickled).

A host's histogram workers each own a fixed chunk of rows (one single-process executor per chunk): the bins are
sent once per training and the ciphertexts once per tree, so a node's request is only its row positions.
Below ``MIN_ROWS_PER_WORKER`` rows per worker, the serial path is used (the transfer would cost more).
"""

from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Protocol

import numpy as np
import numpy.typing as npt

from unseen.crypto.paillier_keys import PrivateKey, PublicKey, to_mpz

MIN_ROWS_PER_WORKER = 5_000
_ONE = to_mpz(1)  # the unrandomised encryption of 0: what an empty bin holds (re-randomised before it leaves)


def worker_count(workers: int, rows: int) -> int:
    """How many processes ``rows`` rows deserve: ``workers`` (0: one per core), fewer for small tables."""
    count = (os.cpu_count() or 1) if workers == 0 else workers
    return max(1, min(count, rows // MIN_ROWS_PER_WORKER))


def node_histogram(
    bins: npt.NDArray[np.uint16], ciphertexts: list[int], rows: npt.NDArray[np.int64], width: int, nsquare: int
) -> list[int]:
    """The encrypted (feature, bin) sums over ``rows``: ``features * width`` ciphertexts, feature-major.

    Features are taken in pairs: each row's ciphertext is multiplied into the cell of its (bin of the first,
    bin of the second) once, and each non-empty cell then into one bin of each feature. A pair costs
    ``rows + cells`` multiplications instead of ``2 * rows`` (at most ``width**2`` cells: about half the work
    on a large node) and gives the same products, hence the same ciphertexts. The grouping is numpy (one
    stable sort of the cell keys); what remains per entry is the modular multiplication itself.
    """
    features = bins.shape[1]
    out: list[int | None] = [None] * (features * width)
    if rows.size and features:
        node = bins[rows].astype(np.int64)
        pairs = features // 2
        if pairs:
            first, second = node[:, 0 : 2 * pairs : 2], node[:, 1 : 2 * pairs : 2]
            keys = first * width + second + np.arange(pairs, dtype=np.int64) * (width * width)
            for key, product in _grouped_products(keys, rows, ciphertexts, nsquare):
                pair, cell = divmod(key, width * width)
                for slot in ((2 * pair) * width + cell // width, (2 * pair + 1) * width + cell % width):
                    held = out[slot]
                    out[slot] = product if held is None else held * product % nsquare
        if features % 2:
            last = features - 1
            for key, product in _grouped_products(node[:, last:] + last * width, rows, ciphertexts, nsquare):
                out[key] = product
    return [_ONE if c is None else c for c in out]


def _grouped_products(
    keys: npt.NDArray[np.int64], rows: npt.NDArray[np.int64], ciphertexts: list[int], nsquare: int
) -> list[tuple[int, int]]:
    """For each distinct key of ``keys`` (rows x columns): the product of the ciphertexts of the rows holding it."""
    flat = keys.ravel()  # row-major: a row's keys are adjacent
    order = np.argsort(flat, kind="stable")
    sorted_keys = flat[order]
    row_of = np.repeat(rows, keys.shape[1])[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], sorted_keys.size]
    picked = [ciphertexts[i] for i in row_of.tolist()]
    out: list[tuple[int, int]] = []
    for key, a, b in zip(sorted_keys[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
        acc = picked[a]
        for c in picked[a + 1 : b]:
            acc = acc * c % nsquare
        out.append((key, acc))
    return out


def multiply(a: list[int], b: list[int], nsquare: int) -> list[int]:
    return [x * y % nsquare for x, y in zip(a, b, strict=True)]


class HistogramBuilder(Protocol):
    def start_tree(self, ciphertexts: list[int]) -> None: ...

    def histogram(self, rows: npt.NDArray[np.int64]) -> list[int]: ...

    def close(self) -> None: ...


class SerialHistograms:
    """All histograms in the calling thread."""

    def __init__(self, bins: npt.NDArray[np.uint16], width: int, public_key: PublicKey) -> None:
        self._bins, self._width, self._nsq = bins, width, public_key.nsquare
        self._cts: list[int] = []

    def start_tree(self, ciphertexts: list[int]) -> None:
        self._cts = ciphertexts

    def histogram(self, rows: npt.NDArray[np.int64]) -> list[int]:
        return node_histogram(self._bins, self._cts, rows, self._width, self._nsq)

    def close(self) -> None:
        self._cts = []


class ProcessHistograms:
    """Rows cut into ``workers`` chunks, each chunk's bins and ciphertexts held by its own worker process."""

    def __init__(self, bins: npt.NDArray[np.uint16], width: int, public_key: PublicKey, workers: int) -> None:
        rows = bins.shape[0]
        size = math.ceil(rows / workers)
        self._bounds = [(a, min(a + size, rows)) for a in range(0, rows, size)]
        self._nsq = public_key.nsquare
        context = multiprocessing.get_context("spawn")
        self._pools = [ProcessPoolExecutor(max_workers=1, mp_context=context) for _ in self._bounds]
        n = public_key.to_wire()
        for pool, (a, b) in zip(self._pools, self._bounds, strict=True):
            pool.submit(_load_bins, n, np.ascontiguousarray(bins[a:b]), width).result()

    def start_tree(self, ciphertexts: list[int]) -> None:
        futures = [
            pool.submit(_load_ciphertexts, [int(c) for c in ciphertexts[a:b]])
            for pool, (a, b) in zip(self._pools, self._bounds, strict=True)
        ]
        for future in futures:
            future.result()

    def histogram(self, rows: npt.NDArray[np.int64]) -> list[int]:
        futures = []
        for pool, (a, b) in zip(self._pools, self._bounds, strict=True):
            lo, hi = np.searchsorted(rows, [a, b])
            if hi > lo:
                futures.append(pool.submit(_chunk_histogram, rows[lo:hi] - a))
        parts = [[to_mpz(c) for c in future.result()] for future in futures]
        total = parts[0]
        for part in parts[1:]:
            total = multiply(total, part, self._nsq)
        return total

    def close(self) -> None:
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)


def make_histograms(bins: npt.NDArray[np.uint16], width: int, public_key: PublicKey, workers: int) -> HistogramBuilder:
    count = worker_count(workers, bins.shape[0])
    if count <= 1:
        return SerialHistograms(bins, width, public_key)
    return ProcessHistograms(bins, width, public_key, count)


class RowEncryptor:
    """The guest's encryption of one tree's packed rows: randomizers computed ahead, over worker processes.

    A ciphertext is ``randomizer * (1 + m n) mod n**2`` and the randomizer (``h_s ** a``, all the cost) does not
    depend on m, so :meth:`prepare` starts the next tree's randomizers as soon as the current tree's ciphertexts
    are out: they are computed while the hosts build histograms, and :meth:`encrypt` is then one cheap product
    per row. The key holder computes them mod p**2 and q**2 (:meth:`PrivateKey.djn_randomizers`); each is used
    once. Large vectors go to worker processes (``spawn``ed, started on the first large request and kept for
    the training: the process start and each worker's fixed-base tables are paid once). They are this party's
    own processes: the primes reach them over the pool's local pipe and never leave the machine.
    """

    def __init__(self, private_key: PrivateKey, workers: int) -> None:
        self._private_key, self._workers = private_key, workers
        self._pool: ProcessPoolExecutor | None = None
        self._ready: tuple[int, list[Future[list[int]]]] | None = None

    def prepare(self, count: int) -> None:
        """Start computing ``count`` randomizers in the background (only where worker processes do the work)."""
        workers = worker_count(self._workers, count)
        if workers <= 1 or self._ready is not None:
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        p, q = self._private_key.primes
        n = self._private_key.public_key.to_wire()
        base = int(self._private_key.djn_generator())
        size = math.ceil(count / workers)
        sizes = [min(size, count - a) for a in range(0, count, size)]
        self._ready = (count, [self._pool.submit(_randomizer_chunk, n, p, q, base, k) for k in sizes])

    def encrypt(self, residues: list[int]) -> list[int]:
        """Ciphertexts of ``residues`` (plaintexts in [0, n)), each with its own fresh randomizer."""
        public_key = self._private_key.public_key
        if self._ready is None or self._ready[0] != len(residues):
            self.cancel()
            self.prepare(len(residues))
        if self._ready is None:
            return self._private_key.raw_encrypt(residues)
        _, futures = self._ready
        self._ready = None
        randomizers = [to_mpz(r) for future in futures for r in future.result()]
        return public_key.raw_add_plain(randomizers, residues)

    def cancel(self) -> None:
        """Drop randomizers prepared for a tree that will not come (a wrong guess of its size, or the end)."""
        if self._ready is not None:
            for future in self._ready[1]:
                future.cancel()
            self._ready = None

    def close(self) -> None:
        self.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# --- what runs in the worker processes -------------------------------------------------------------------------

_STATE: dict[str, object] = {}


def _load_bins(n: int, bins: npt.NDArray[np.uint16], width: int) -> None:
    _STATE.clear()
    _STATE.update(nsq=to_mpz(n) * to_mpz(n), bins=bins, width=width, cts=[])


def _load_ciphertexts(ciphertexts: list[int]) -> None:
    _STATE["cts"] = [to_mpz(c) for c in ciphertexts]


def _chunk_histogram(rows: npt.NDArray[np.int64]) -> list[int]:
    bins = _STATE["bins"]
    cts = _STATE["cts"]
    width, nsq = _STATE["width"], _STATE["nsq"]
    assert isinstance(bins, np.ndarray) and isinstance(cts, list) and isinstance(width, int)
    return [int(c) for c in node_histogram(bins, cts, rows, width, nsq)]  # type: ignore[arg-type]


_KEYS: dict[tuple[int, int, int], PrivateKey] = {}


def _randomizer_chunk(n: int, p: int, q: int, base: int, count: int) -> list[int]:
    key = _KEYS.get((n, p, q))
    if key is None:  # one key per training: its CRT tables are built once per worker
        _KEYS.clear()
        key = _KEYS[(n, p, q)] = PrivateKey(PublicKey(n), p, q)
    key.use_djn_generator(base)  # the guest's one h_s: the hosts re-randomise with its powers
    return [int(r) for r in key.djn_randomizers(count)]
