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
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol

import numpy as np
import numpy.typing as npt

from unseen.crypto.paillier_keys import PublicKey, to_mpz

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

    The grouping is numpy (one stable sort of the (feature, bin) keys of all the node's entries); what remains
    per entry is the one modular multiplication that is the homomorphic addition itself.
    """
    features = bins.shape[1]
    out = [_ONE] * (features * width)
    if rows.size == 0 or features == 0:
        return out
    keys = (bins[rows].astype(np.int64) + np.arange(features, dtype=np.int64) * width).ravel()  # row-major
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    row_of = np.repeat(rows, features)[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], sorted_keys.size]
    picked = [ciphertexts[i] for i in row_of.tolist()]
    for key, a, b in zip(sorted_keys[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
        acc = picked[a]
        for c in picked[a + 1 : b]:
            acc = acc * c % nsquare
        out[key] = acc
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
    """``raw_encrypt`` of one tree's packed rows, over worker processes when the table is large.

    The pool is started on the first large vector and kept for the whole training (spawning processes and
    building each worker's DJN table once, not once per tree); :meth:`close` ends it.
    """

    def __init__(self, public_key: PublicKey, workers: int) -> None:
        self._public_key, self._workers = public_key, workers
        self._pool: ProcessPoolExecutor | None = None

    def encrypt(self, residues: list[int]) -> list[int]:
        count = worker_count(self._workers, len(residues))
        if count <= 1:
            return self._public_key.raw_encrypt(residues)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn"))
        size = math.ceil(len(residues) / count)
        n = self._public_key.to_wire()
        futures = [self._pool.submit(_encrypt_chunk, n, residues[a : a + size]) for a in range(0, len(residues), size)]
        return [to_mpz(c) for future in futures for c in future.result()]

    def close(self) -> None:
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


_KEYS: dict[int, PublicKey] = {}


def _encrypt_chunk(n: int, residues: list[int]) -> list[int]:
    key = _KEYS.get(n)
    if key is None:  # one key per training: its DJN table is built once per worker
        _KEYS.clear()
        key = _KEYS[n] = PublicKey(n)
    return [int(c) for c in key.raw_encrypt(residues)]
