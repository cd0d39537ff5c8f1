"""CIFAR-10 and Criteo files as stored tables (Parquet), written while they are read, and read back in batches.

Layout (the table's ``unseen.format`` metadata says which, with what the reader did):

- ``cifar10-bin``: ``label`` int64 (0-9, the label column, multiclass) and ``image`` fixed-size binary of 3,072
  bytes (the record's pixels as in the file: channel-major 3x32x32 uint8). No id column: rows are samples.
- ``criteo-tsv``: ``label`` int64 (0/1, binary), ``I1..I13`` float32 (log(1 + max(x, 0)), empty = 0) and
  ``C1..C26`` int32 (hashed ids, 0 = empty); the metadata records each column's vocabulary size, which the model's
  embedding tables must match.

Row groups of ``ROW_GROUP`` rows let a reader stream the table without loading it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from unseen.datasets import cifar10, criteo

RecordFormat = Literal["cifar10-bin", "criteo-tsv"]
RECORD_FORMATS: tuple[RecordFormat, ...] = ("cifar10-bin", "criteo-tsv")
FORMAT_KEY = b"unseen.format"
ROLES_KEY = b"unseen.table"  # the roles metadata of storage.tables, so TableStore.read knows the label column
ROW_GROUP = 16_384


def record_format(name: str) -> RecordFormat | None:
    """``name`` as a record format, or None for the table formats (CSV, Parquet)."""
    for known in RECORD_FORMATS:
        if name == known:
            return known
    return None


@dataclass(frozen=True)
class RecordTable:
    rows: int
    columns: list[dict[str, str]]
    label_column: str
    label_type: str
    metadata: dict[str, Any]


def _metadata(label_type: str, description: dict[str, Any]) -> dict[bytes, bytes]:
    return {
        ROLES_KEY: json.dumps({"id_column": None, "label_column": "label"}).encode(),
        FORMAT_KEY: json.dumps({**description, "label_type": label_type}).encode(),
    }


def _write(target: Path, schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> int:
    rows = 0
    with pq.ParquetWriter(target, schema) as writer:
        for batch in batches:
            writer.write_batch(batch, row_group_size=ROW_GROUP)
            rows += batch.num_rows
    return rows


def _described(schema: pa.Schema, rows: int, label_type: str) -> RecordTable:
    metadata = json.loads(schema.metadata[FORMAT_KEY])
    columns = [{"name": field.name, "dtype": str(field.type)} for field in schema]
    return RecordTable(rows, columns, "label", label_type, metadata)


CIFAR_DESCRIPTION = {"format": "cifar10-bin", "image_shape": list(cifar10.SHAPE), "image_layout": "CHW uint8"}


def cifar_schema() -> pa.Schema:
    fields = [pa.field("label", pa.int64()), pa.field("image", pa.binary(cifar10.PIXELS))]
    return pa.schema(fields, metadata=_metadata("multiclass", CIFAR_DESCRIPTION))


def write_cifar_table(source: Path, target: Path, name: str) -> RecordTable:
    """Check and store a CIFAR-10 binary file as a table at ``target``; errors name ``name`` and the record."""
    schema = cifar_schema()

    def batches() -> Iterator[pa.RecordBatch]:
        for block in cifar10.iter_blocks(source, name=name):
            images = pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(cifar10.PIXELS), len(block), [None, pa.py_buffer(block.images.tobytes())]
            )
            yield pa.record_batch([pa.array(block.labels), images], schema=schema)

    return _described(schema, _write(target, schema, batches()), "multiclass")


def load_cifar_table(path: Path) -> cifar10.CifarArrays:
    """A stored ``cifar10-bin`` table as arrays (images uint8 (n, 3, 32, 32)), for ``cifar10.batches``."""
    table = pq.read_table(path, columns=["label", "image"])
    check_format(table.schema, "cifar10-bin", path)
    images = table.column("image").combine_chunks()
    pixels = np.frombuffer(images.buffers()[1], dtype=np.uint8)
    start = images.offset * cifar10.PIXELS
    stacked = pixels[start : start + len(images) * cifar10.PIXELS].reshape(-1, *cifar10.SHAPE)
    return cifar10.CifarArrays(stacked, table.column("label").to_numpy().astype(np.int64))


def criteo_schema(vocab: np.ndarray) -> pa.Schema:
    fields = [pa.field("label", pa.int64())]
    fields += [pa.field(column, pa.float32()) for column in criteo.DENSE_NAMES]
    fields += [pa.field(column, pa.int32()) for column in criteo.SPARSE_NAMES]
    description = {
        "format": "criteo-tsv",
        "dense_transform": "log(1 + max(x, 0)); empty = 0",
        "hash": "1 + splitmix64(hex value) mod (vocab - 1); empty = 0",
        "vocab_sizes": vocab.tolist(),
    }
    return pa.schema(fields, metadata=_metadata("binary", description))


def write_criteo_table(source: Path, target: Path, name: str, vocab_size: int) -> RecordTable:
    """Check, transform and store a Criteo TSV file as a table at ``target``; errors name ``name`` and the line."""
    vocab = criteo.vocabulary(vocab_size)
    schema = criteo_schema(vocab)

    def batches() -> Iterator[pa.RecordBatch]:
        for part in criteo.iter_parsed(source, vocab.tolist(), name=name):
            arrays = [pa.array(part.labels.astype(np.int64))]
            arrays += [pa.array(part.dense[:, j]) for j in range(criteo.DENSE)]
            arrays += [pa.array(part.sparse[:, j]) for j in range(criteo.SPARSE)]
            yield pa.record_batch(arrays, schema=schema)

    return _described(schema, _write(target, schema, batches()), "binary")


def criteo_vocab_sizes(path: Path) -> list[int]:
    """The vocabulary sizes a stored ``criteo-tsv`` table was hashed with: the sizes of DLRM's embedding tables."""
    schema = pq.read_schema(path)
    description = check_format(schema, "criteo-tsv", path)
    return [int(size) for size in description["vocab_sizes"]]


def iter_criteo_table(path: Path, batch_size: int, drop_last: bool = False) -> Iterator[criteo.CriteoBatch]:
    """A stored ``criteo-tsv`` table in fixed-size batches, a row group at a time (wrap in ``Prefetcher``)."""
    parquet = pq.ParquetFile(path)
    check_format(parquet.schema_arrow, "criteo-tsv", path)

    def parts() -> Iterator[criteo.CriteoBatch]:
        for batch in parquet.iter_batches(batch_size=ROW_GROUP):
            columns = {name: batch.column(name).to_numpy() for name in batch.schema.names}
            yield criteo.CriteoBatch(
                columns["label"].astype(np.float32),
                np.stack([columns[n] for n in criteo.DENSE_NAMES], axis=1).astype(np.float32),
                np.stack([columns[n] for n in criteo.SPARSE_NAMES], axis=1).astype(np.int32),
            )

    return criteo.rebatch(parts(), batch_size, drop_last)


def stored_format(path: Path) -> RecordFormat | None:
    """The record format of the stored table at ``path`` (``unseen data upload --format``), None for a plain table."""
    raw = (pq.read_schema(path).metadata or {}).get(FORMAT_KEY)
    if not raw:
        return None
    return record_format(str(json.loads(raw).get("format", "")))


def check_format(schema: pa.Schema, wanted: str, path: Path) -> dict[str, Any]:
    """The table's format description, or a ValueError when it is not a ``wanted`` table."""
    raw = (schema.metadata or {}).get(FORMAT_KEY)
    description: dict[str, Any] = json.loads(raw) if raw else {}
    if description.get("format") != wanted:
        raise ValueError(f"{path.name} is not a {wanted} table (uploaded with --format {wanted})")
    return description
