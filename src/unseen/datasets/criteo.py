"""Criteo display-advertising logs (TSV): a streaming, vectorised reader that refuses malformed lines by number.

A line is 40 tab-separated fields: the label (0 or 1), 13 integer features ``I1..I13`` and 26 categorical features
``C1..C26`` (hexadecimal hashes, usually 8 digits); any feature may be empty. What the reader makes of them:

- dense: ``log(1 + max(x, 0))`` as float32, empty = 0. A few integer columns hold small negative values (``I2``
  has -1, -2, -3); they are clipped to 0 before the log, as DLRM's reference code does, since log(1 + x) is not
  defined below -1 and the negatives are rare codes, not magnitudes.
- categorical: the hex value is read as an integer (up to 16 digits), mixed with splitmix64 (stable across runs,
  machines and Python versions, unlike ``hash()``), and mapped to ``1 + h mod (vocab - 1)``; empty = 0, the id
  reserved for "missing". Each column has its own vocabulary size (``vocab_sizes``).

The file is read in blocks of bytes cut at line ends (``BLOCK_BYTES``), so a 45M-line day is never in memory;
each block is parsed at once by Arrow's CSV parser and numpy. A block that fails is re-read line by line to
name the first bad line (counted from 1) and what is wrong with it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from unseen.datasets.prefetch import Prefetcher

DENSE = 13
SPARSE = 26
FIELDS = 1 + DENSE + SPARSE
DENSE_NAMES = [f"I{i}" for i in range(1, DENSE + 1)]
SPARSE_NAMES = [f"C{i}" for i in range(1, SPARSE + 1)]
COLUMNS = ["label", *DENSE_NAMES, *SPARSE_NAMES]
DEFAULT_VOCAB_SIZE = 100_000
EMPTY_ID = 0
BLOCK_BYTES = 8 * 1024 * 1024
MAX_LINE_BYTES = 64 * 1024
MAX_HEX_DIGITS = 16
_INTEGER = re.compile(rb"[+-]?[0-9]{1,18}")

_HEX = np.full(256, 255, dtype=np.uint8)
for _digit, _char in enumerate(b"0123456789abcdef"):
    _HEX[_char] = _digit
for _digit, _char in enumerate(b"ABCDEF", start=10):
    _HEX[_char] = _digit


class CriteoFormatError(ValueError):
    """A line is not Criteo TSV; the message names the file and the line."""


@dataclass(frozen=True)
class CriteoBatch:
    labels: np.ndarray  # float32 (n,): 0 or 1
    dense: np.ndarray  # float32 (n, 13): log(1 + max(x, 0)), empty = 0
    sparse: np.ndarray  # int32 (n, 26): ids in [0, vocab), 0 = empty

    def __len__(self) -> int:
        return len(self.labels)


def vocabulary(vocab_sizes: int | Sequence[int]) -> np.ndarray:
    sizes = np.full(SPARSE, vocab_sizes, dtype=np.int64) if isinstance(vocab_sizes, int) else np.array(vocab_sizes)
    if sizes.shape != (SPARSE,) or sizes.min() < 2 or sizes.max() > 2**31 - 1:
        raise ValueError(f"vocab_sizes must be one size or {SPARSE} sizes, each in [2, 2^31 - 1]")
    return sizes.astype(np.int64)


def _splitmix64(values: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        result: np.ndarray = z ^ (z >> np.uint64(31))
    return result


def _hex_values(column: pa.Array) -> tuple[np.ndarray, np.ndarray, int]:
    """(values uint64, empty mask, index of the first non-hex entry or -1) of a binary column, vectorised."""
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[column.offset : column.offset + len(column) + 1]
    data = np.frombuffer(column.buffers()[2] or b"", dtype=np.uint8)[offsets[0] : offsets[-1]]
    lengths = np.diff(offsets)
    empty = lengths == 0
    digits = _HEX[data]
    values = np.zeros(len(column), dtype=np.uint64)
    filled = np.flatnonzero(~empty)
    if not filled.size:
        return values, empty, -1
    width = int(lengths[filled[0]])
    if width <= MAX_HEX_DIGITS and np.all(lengths[filled] == width):  # the usual case: every hash has 8 digits
        grid = digits.reshape(len(filled), width)
        bad = np.flatnonzero(grid.max(axis=1) == 255)
        if bad.size:
            return values, empty, int(filled[bad[0]])
        shifts = np.uint64(4) * np.arange(width - 1, -1, -1, dtype=np.uint64)
        values[filled] = np.bitwise_or.reduce(grid.astype(np.uint64) << shifts[None, :], axis=1)
        return values, empty, -1
    owner = np.repeat(np.arange(len(column)), lengths)
    bad_rows = np.flatnonzero(lengths > MAX_HEX_DIGITS)
    bad_chars = owner[digits == 255]
    first_bad = min([int(x[0]) for x in (bad_rows, bad_chars) if x.size], default=-1)
    if first_bad >= 0:
        return values, empty, first_bad
    position = (offsets[1:] - offsets[0])[owner] - 1 - np.arange(len(data))  # digits after this one
    contributions = digits.astype(np.uint64) << (np.uint64(4) * position.astype(np.uint64))
    values[filled] = np.add.reduceat(contributions, (offsets[:-1] - offsets[0])[filled])  # each string's run
    return values, empty, -1


def _describe_line(line: bytes) -> str | None:
    """What is wrong with one line, or None (the slow path, only after a block failed)."""
    fields = line.rstrip(b"\r\n").split(b"\t")
    if len(fields) != FIELDS:
        return f"has {len(fields)} tab-separated fields, not {FIELDS} (label, 13 integer, 26 categorical)"
    if fields[0] not in (b"0", b"1"):
        return f"has label {fields[0][:20]!r}; the label must be 0 or 1"
    for name, value in zip(DENSE_NAMES, fields[1 : 1 + DENSE], strict=True):
        if value and _INTEGER.fullmatch(value) is None:
            return f"has {name} = {value[:20]!r}, not an integer"
    for name, value in zip(SPARSE_NAMES, fields[1 + DENSE :], strict=True):
        if value and (len(value) > MAX_HEX_DIGITS or _HEX[np.frombuffer(value, np.uint8)].max() == 255):
            return f"has {name} = {value[:20]!r}, not a hexadecimal hash of at most {MAX_HEX_DIGITS} digits"
    return None


_TYPES = {"label": pa.int64(), **dict.fromkeys(DENSE_NAMES, pa.int64()), **dict.fromkeys(SPARSE_NAMES, pa.binary())}


def parse_block(block: bytes, vocab: np.ndarray, name: str, first_line: int) -> CriteoBatch:
    """Parse whole lines at once; ``first_line`` (from 1) is only for error messages."""
    try:
        table = pacsv.read_csv(
            io.BytesIO(block),
            read_options=pacsv.ReadOptions(column_names=COLUMNS, block_size=len(block) + 1),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types=_TYPES, null_values=[""], strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise _locate(block, name, first_line, str(exc)) from None
    labels = table.column("label").combine_chunks()
    label_values = labels.fill_null(-1).to_numpy()
    bad = np.flatnonzero((label_values != 0) & (label_values != 1))
    if bad.size:
        raise _locate(block, name, first_line, f"a label is not 0/1 near line {first_line + int(bad[0])}")
    dense = np.empty((table.num_rows, DENSE), dtype=np.float32)
    for j, column_name in enumerate(DENSE_NAMES):
        values = table.column(column_name).combine_chunks().fill_null(0).to_numpy().astype(np.float64)
        dense[:, j] = np.log1p(np.maximum(values, 0.0))
    sparse = np.empty((table.num_rows, SPARSE), dtype=np.int32)
    for j, column_name in enumerate(SPARSE_NAMES):
        hashed, empty, first_bad = _hex_values(table.column(column_name).combine_chunks())
        if first_bad >= 0:
            raise _locate(block, name, first_line, f"non-hex {column_name} near line {first_line + first_bad}")
        ids = (_splitmix64(hashed) % np.uint64(vocab[j] - 1)).astype(np.int64) + 1
        sparse[:, j] = np.where(empty, EMPTY_ID, ids)
    return CriteoBatch(label_values.astype(np.float32), dense, sparse)


def _locate(block: bytes, name: str, first_line: int, detail: str) -> CriteoFormatError:
    for number, line in enumerate(block.split(b"\n")[: block.count(b"\n")], start=first_line):
        problem = _describe_line(line)
        if problem is not None:
            return CriteoFormatError(f"{name}: line {number} {problem}")
    last = first_line + block.count(b"\n") - 1
    return CriteoFormatError(f"{name}: lines {first_line}-{last}: {detail[:200]!r}")  # repr: the parser quotes the line


def iter_blocks(source: BinaryIO, name: str, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[bytes, int]]:
    """(whole lines, number of the first) from ``source``, about ``block_bytes`` at a time; the last line may lack
    its newline (one is added)."""
    carry = b""
    line = 1
    while True:
        chunk = source.read(block_bytes)
        if not chunk:
            break
        data = carry + chunk
        end = data.rfind(b"\n")
        if end < 0:
            if len(data) > MAX_LINE_BYTES:
                raise CriteoFormatError(f"{name}: line {line} is longer than {MAX_LINE_BYTES} bytes")
            carry = data
            continue
        block, carry = data[: end + 1], data[end + 1 :]
        lines = block.count(b"\n")
        if len(carry) > MAX_LINE_BYTES:
            raise CriteoFormatError(f"{name}: line {line + lines} is longer than {MAX_LINE_BYTES} bytes")
        yield block, line
        line += lines
    if carry:
        yield carry + b"\n", line


def iter_parsed(
    path: Path,
    vocab_sizes: int | Sequence[int] = DEFAULT_VOCAB_SIZE,
    block_bytes: int = BLOCK_BYTES,
    name: str | None = None,
) -> Iterator[CriteoBatch]:
    """The file's lines, parsed and checked, one block (a variable number of lines) at a time; errors say ``name``."""
    vocab = vocabulary(vocab_sizes)
    name = name or path.name
    with path.open("rb") as source:
        for block, first_line in iter_blocks(source, name, block_bytes):
            yield parse_block(block, vocab, name, first_line)


def rebatch(parts: Iterator[CriteoBatch], batch_size: int, drop_last: bool = False) -> Iterator[CriteoBatch]:
    """Fixed-size batches from variable-size ones (memory: one block plus one batch)."""
    pending: list[CriteoBatch] = []
    held = 0
    for part in parts:
        pending.append(part)
        held += len(part)
        if held < batch_size:
            continue
        merged = _concat(pending)
        cut = len(merged) - len(merged) % batch_size
        for start in range(0, cut, batch_size):
            yield _slice(merged, start, start + batch_size)
        rest = _slice(merged, cut, len(merged))
        pending, held = ([rest], len(rest)) if len(rest) else ([], 0)
    if held and not drop_last:
        yield _concat(pending)


def _concat(parts: list[CriteoBatch]) -> CriteoBatch:
    if len(parts) == 1:
        return parts[0]
    return CriteoBatch(
        np.concatenate([p.labels for p in parts]),
        np.concatenate([p.dense for p in parts]),
        np.concatenate([p.sparse for p in parts]),
    )


def _slice(batch: CriteoBatch, start: int, stop: int) -> CriteoBatch:
    return CriteoBatch(batch.labels[start:stop], batch.dense[start:stop], batch.sparse[start:stop])


def batches(
    path: Path,
    batch_size: int,
    vocab_sizes: int | Sequence[int] = DEFAULT_VOCAB_SIZE,
    *,
    drop_last: bool = False,
    prefetch: int = 2,
) -> Prefetcher[CriteoBatch]:
    """Fixed-size batches of a TSV file in file order, parsed in a background thread ``prefetch`` batches ahead."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    return Prefetcher(lambda: rebatch(iter_parsed(path, vocab_sizes), batch_size, drop_last), depth=prefetch)


def format_lines(labels: np.ndarray, dense: np.ndarray, sparse: np.ndarray) -> bytes:
    """Lines in the real format: ``dense`` (n, 13) and ``sparse`` (n, 26) object arrays of ints, ``None`` = empty."""
    out = io.StringIO()
    for label, ints, cats in zip(labels.tolist(), dense.tolist(), sparse.tolist(), strict=True):
        dense_text = ["" if value is None else str(value) for value in ints]
        sparse_text = ["" if value is None else f"{value:08x}" for value in cats]
        out.write("\t".join([str(label), *dense_text, *sparse_text]) + "\n")
    return out.getvalue().encode()


def write_tsv(path: Path, labels: np.ndarray, dense: np.ndarray, sparse: np.ndarray) -> None:
    """Write lines in the real format (for tests and examples); see ``format_lines``."""
    path.write_bytes(format_lines(labels, dense, sparse))


def synthetic(n: int, seed: int = 0, empty_rate: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A learnable Criteo-shaped set: the click depends on I1, on C1's value and on C2's parity; some fields empty."""
    rng = np.random.default_rng(seed)
    dense = rng.integers(0, 100, size=(n, DENSE)).astype(object)
    dense[:, 1] = rng.integers(-3, 100, size=n)
    sparse = rng.integers(0, 2**32, size=(n, SPARSE), dtype=np.uint64).astype(object)
    sparse[:, 0] = rng.integers(0, 20, size=n)
    score = (np.asarray(dense[:, 0], dtype=float) - 50) / 25 + (np.asarray(sparse[:, 0], dtype=float) % 2) * 2 - 1
    labels = (rng.random(n) < 1 / (1 + np.exp(-2 * score))).astype(np.int64)
    dense[rng.random((n, DENSE)) < empty_rate] = None
    sparse[:, 2:][rng.random((n, SPARSE - 2)) < empty_rate] = None
    return labels, dense, sparse
