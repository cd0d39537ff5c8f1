"""The typed codec: the only way a value becomes bytes on the wire, and bytes become a value again.

Four kinds are allowed (the types live in :mod:`unseen.values`), described by a ``PayloadHeader`` before any
body byte is read:

* numpy arrays of an allow-listed dtype: dtype + shape + raw little-endian bytes (decoded without a copy);
* vectors of non-negative big integers (Paillier ciphertexts, group elements): fixed width, big-endian;
* tensor records (named tensors, bfloat16 as tagged uint16 bits): a JSON index, then each tensor's bytes;
* JSON values (scalars, lists, string-keyed objects).

Nothing is unpickled or evaluated. Every decode checks that the body is exactly as long as the header says,
so a truncated, padded or lying message is refused instead of being half-read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from unseen.transport.proto import federation_pb2 as pb
from unseen.values import (
    ALLOWED_DTYPES,
    BFLOAT16,
    MAX_RECORD_TENSORS,
    TENSOR_NAME,
    BigInts,
    JsonValue,
    TensorRecord,
    Value,
)

__all__ = [
    "ALLOWED_DTYPES",
    "BigInts",
    "CodecError",
    "EncodedPayload",
    "JsonValue",
    "TensorRecord",
    "Value",
    "check_header",
    "decode",
    "encode",
    "needs_body_check",
]

MAX_NDIM = 32
# No message holds this many elements: 2**48 bytes is far above any size a node accepts. Zero-length axes count
# as 1 against it, so a zero-size array cannot carry an absurd axis (numpy refuses [0, 2**63] at reshape).
MAX_ELEMENTS = 1 << 48
MAX_BIGINT_WIDTH = 1 << 16  # 64 KiB per integer: far above any key size in use


class CodecError(ValueError):
    """A value cannot be put on the wire, or bytes received are not a valid payload."""


@dataclass(frozen=True)
class EncodedPayload:
    header: pb.PayloadHeader
    body: memoryview


def encode(value: Value) -> EncodedPayload:
    """Turn an allowed value into a header and a body; anything else is refused with its type named."""
    if isinstance(value, np.ndarray):
        return _encode_ndarray(value)
    if isinstance(value, BigInts):
        return _encode_bigints(value)
    if isinstance(value, TensorRecord):
        return _encode_record(value)
    return _encode_json(value)


def check_header(header: pb.PayloadHeader) -> None:
    """Refuse, before any body byte arrives, a header that no body could make valid.

    For an array this is the whole check: any bytes of the declared size are a valid array. A JSON or
    big-integer body must still be decoded to be known good.
    """
    if header.kind == pb.NDARRAY:
        expected = _array_bytes(header)
        if expected != header.size:
            raise CodecError(
                f"array of shape {_shape_text(header.shape)} and dtype {header.dtype} needs {expected} bytes, "
                f"but the header says {header.size}"
            )
    elif header.kind == pb.BIGINT_VECTOR:
        if not 1 <= header.width <= MAX_BIGINT_WIDTH:
            raise CodecError(f"big-integer width {header.width} is outside 1..{MAX_BIGINT_WIDTH}")
        if header.width * header.count != header.size:
            raise CodecError(f"{header.count} integers of {header.width} bytes do not make {header.size} bytes")
    elif header.kind == pb.TENSOR_RECORD:
        _check_record_header(header)
    elif header.kind != pb.JSON:
        raise CodecError(f"unknown payload kind {header.kind}")


def needs_body_check(header: pb.PayloadHeader) -> bool:
    """Whether a body must be decoded to be validated (``check_header`` settles arrays alone)."""
    return header.kind != pb.NDARRAY


def decode(header: pb.PayloadHeader, body: bytes | memoryview) -> Value:
    """Read a body back into a value, checking it against its header first."""
    if len(body) != header.size:
        raise CodecError(f"payload body is {len(body)} bytes but its header says {header.size}")
    if header.kind == pb.NDARRAY:
        return _decode_ndarray(header, body)
    if header.kind == pb.BIGINT_VECTOR:
        return _decode_bigints(header, body)
    if header.kind == pb.JSON:
        return _decode_json(body)
    if header.kind == pb.TENSOR_RECORD:
        return _decode_record(header, body)
    raise CodecError(f"unknown payload kind {header.kind}")


def _shape_text(shape: Sequence[int]) -> str:
    """A shape for a refusal: bounded, since a hostile header may list many dimensions."""
    dims = [str(d) for d in shape[: MAX_NDIM + 1]]
    return "(" + ", ".join(dims) + (", ..." if len(shape) > MAX_NDIM + 1 else "") + ")"


def _array_bytes(header: pb.PayloadHeader) -> int:
    """The body size an array header implies, once its dtype and every dimension are known to be sane.

    Each dimension must be in 0..2**63-1 (a negative int64 arrives as a uint64 of 2**63 or more), there are at
    most ``MAX_NDIM`` of them, and their product, with zero-length axes counted as 1, is at most
    ``MAX_ELEMENTS``; the running product stops at the bound, so no header makes it grow without limit.
    """
    if header.dtype not in ALLOWED_DTYPES:
        raise CodecError(f"array dtype '{header.dtype}' is not allowed")
    shape = header.shape
    if len(shape) > MAX_NDIM:
        raise CodecError(f"array has {len(shape)} dimensions; at most {MAX_NDIM} are allowed")
    elements, bounded = 1, 1
    for dim in shape:
        if not 0 <= dim < 1 << 63:  # uint64 on the wire: a sender's negative int64 arrives as >= 2**63
            raise CodecError(f"array shape {_shape_text(shape)} has a negative or out-of-range dimension")
        bounded *= max(dim, 1)
        if bounded > MAX_ELEMENTS:
            raise CodecError(f"array shape {_shape_text(shape)} has more than {MAX_ELEMENTS} elements")
        elements *= dim
    return elements * np.dtype(header.dtype).itemsize


def _encode_ndarray(array: np.ndarray) -> EncodedPayload:
    dtype_name = array.dtype.name
    if dtype_name not in ALLOWED_DTYPES:
        raise CodecError(f"numpy dtype {array.dtype} cannot be sent; allowed: {', '.join(sorted(ALLOWED_DTYPES))}")
    little = np.asarray(array, dtype=array.dtype.newbyteorder("<"), order="C")
    body = little.reshape(-1).view(np.uint8).data if little.size else memoryview(b"")
    header = pb.PayloadHeader(kind=pb.NDARRAY, dtype=dtype_name, shape=list(little.shape), size=len(body))
    return EncodedPayload(header, body)


def _decode_ndarray(header: pb.PayloadHeader, body: bytes | memoryview) -> np.ndarray:
    expected = _array_bytes(header)
    if expected != len(body):
        raise CodecError(
            f"array of shape {_shape_text(header.shape)} and dtype {header.dtype} needs {expected} bytes, "
            f"got {len(body)}"
        )
    dtype = np.dtype(header.dtype).newbyteorder("<")
    try:
        array = np.frombuffer(body, dtype=dtype).reshape(tuple(header.shape))
    except ValueError as exc:  # _array_bytes bounds every axis; this is defence in depth
        raise CodecError(f"array shape {_shape_text(header.shape)} is not a valid shape: {exc}") from exc
    return array.astype(dtype.newbyteorder("="), copy=False)


def _encode_bigints(values: BigInts) -> EncodedPayload:
    if any(v < 0 for v in values):
        raise CodecError("big-integer vectors carry non-negative integers only (encode signs in the protocol)")
    width = max((max(values).bit_length() + 7) // 8, 1) if len(values) else 1
    if width > MAX_BIGINT_WIDTH:
        raise CodecError(f"an integer of {width} bytes exceeds the {MAX_BIGINT_WIDTH}-byte limit")
    body = b"".join(v.to_bytes(width, "big") for v in values)
    header = pb.PayloadHeader(kind=pb.BIGINT_VECTOR, width=width, count=len(values), size=len(body))
    return EncodedPayload(header, memoryview(body))


def _decode_bigints(header: pb.PayloadHeader, body: bytes | memoryview) -> BigInts:
    width, count = header.width, header.count
    if not 1 <= width <= MAX_BIGINT_WIDTH:
        raise CodecError(f"big-integer width {width} is outside 1..{MAX_BIGINT_WIDTH}")
    if width * count != len(body):
        raise CodecError(f"{count} integers of {width} bytes need {width * count} bytes, got {len(body)}")
    raw = bytes(body)
    return BigInts(int.from_bytes(raw[i : i + width], "big") for i in range(0, len(raw), width))


def _encode_json(value: Any) -> EncodedPayload:
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"), default=_refuse_json)
    except (TypeError, ValueError, RecursionError) as exc:
        raise CodecError(f"value cannot be sent as JSON: {exc}") from exc
    body = text.encode("utf-8")
    return EncodedPayload(pb.PayloadHeader(kind=pb.JSON, size=len(body)), memoryview(body))


def _refuse_json(obj: object) -> Any:
    if isinstance(obj, np.generic) and obj.dtype.name in ALLOWED_DTYPES:
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not a wire type (use a numpy array, BigInts or JSON values)")


def _reject_constant(name: str) -> None:
    raise CodecError(f"JSON constant {name} is not allowed")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999 parses to inf, which encode would never have produced
        raise CodecError(f"JSON number {text[:32]} is out of range")
    return number


def _decode_json(body: bytes | memoryview) -> JsonValue:
    try:
        value: JsonValue = json.loads(
            bytes(body).decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float
        )
    except (ValueError, RecursionError) as exc:  # ValueError covers bad UTF-8, bad JSON, over-long integers
        if isinstance(exc, CodecError):
            raise
        raise CodecError(f"malformed JSON payload: {exc}") from exc
    return value


# Tensor records --------------------------------------------------------------------------------------
# Body: a 4-byte little-endian index length, the index (JSON: [[name, dtype, shape], ...]), zero padding to
# a multiple of 8, then each tensor's little-endian bytes in index order, each padded to a multiple of 8 so
# every tensor decodes as an aligned view of the body.
_RECORD_ALIGN = 8
MAX_RECORD_INDEX = 64 << 20
_MAX_RECORD_ELEMENTS = 1 << 48


def _padded(size: int) -> int:
    return -(-size // _RECORD_ALIGN) * _RECORD_ALIGN


def _check_record_header(header: pb.PayloadHeader) -> None:
    if header.count > MAX_RECORD_TENSORS:
        raise CodecError(f"a record of {header.count} tensors exceeds the limit of {MAX_RECORD_TENSORS}")
    if header.size < 4:
        raise CodecError(f"a record body of {header.size} bytes cannot hold its index")


def _encode_record(record: TensorRecord) -> EncodedPayload:
    index: list[JsonValue] = []
    parts: list[np.ndarray] = []
    for name, tensor in record.items():
        little = np.asarray(tensor, dtype=tensor.dtype.newbyteorder("<"), order="C")
        index.append([name, record.dtype_name(name), list(little.shape)])
        parts.append(little.reshape(-1).view(np.uint8))
    text = json.dumps(index, separators=(",", ":")).encode("utf-8")
    head = 4 + len(text)
    total = _padded(head) + sum(_padded(part.size) for part in parts)
    body = np.zeros(total, dtype=np.uint8)
    body[:4] = np.frombuffer(len(text).to_bytes(4, "little"), dtype=np.uint8)
    body[4:head] = np.frombuffer(text, dtype=np.uint8)
    offset = _padded(head)
    for part in parts:
        body[offset : offset + part.size] = part
        offset += _padded(part.size)
    header = pb.PayloadHeader(kind=pb.TENSOR_RECORD, count=len(parts), size=total)
    return EncodedPayload(header, body.data)


def _record_entry(entry: object) -> tuple[str, str, tuple[int, ...]]:
    if not (isinstance(entry, list) and len(entry) == 3):
        raise CodecError("a record index entry must be [name, dtype, shape]")
    name, dtype, shape = entry
    if not isinstance(name, str) or not TENSOR_NAME.fullmatch(name):
        raise CodecError(f"record tensor name {str(name)[:64]!r} is not allowed")
    if not isinstance(dtype, str) or (dtype not in ALLOWED_DTYPES and dtype != BFLOAT16):
        raise CodecError(f"record tensor {name} has dtype {str(dtype)[:32]!r}, which is not allowed")
    if not isinstance(shape, list) or len(shape) > MAX_NDIM:
        raise CodecError(f"record tensor {name} has a shape that is not a list of at most {MAX_NDIM} sizes")
    bounded = 1
    for d in shape:
        if not (isinstance(d, int) and not isinstance(d, bool) and d >= 0):
            raise CodecError(f"record tensor {name} has a negative or non-integer dimension")
        bounded *= max(d, 1)  # zero-length axes count as 1, so a zero-size tensor cannot carry an absurd axis
        if bounded > _MAX_RECORD_ELEMENTS:
            raise CodecError(f"record tensor {name} has more than {_MAX_RECORD_ELEMENTS} elements")
    return name, dtype, tuple(shape)


def _decode_record(header: pb.PayloadHeader, body: bytes | memoryview) -> TensorRecord:
    _check_record_header(header)
    view = memoryview(body).cast("B")
    length = int.from_bytes(view[:4], "little")
    if length > MAX_RECORD_INDEX or 4 + length > len(view):
        raise CodecError(f"record index of {length} bytes does not fit its {len(view)}-byte body")
    try:
        index = json.loads(bytes(view[4 : 4 + length]).decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise CodecError(f"malformed record index: {exc}") from exc
    if not isinstance(index, list) or len(index) != header.count:
        raise CodecError(f"record index does not list the {header.count} tensors its header announces")
    tensors: dict[str, np.ndarray] = {}
    bfloat16: list[str] = []
    offset = _padded(4 + length)
    for entry in index:
        name, dtype_name, shape = _record_entry(entry)
        if name in tensors:
            raise CodecError(f"record names tensor {name} twice")
        dtype = np.dtype("uint16" if dtype_name == BFLOAT16 else dtype_name).newbyteorder("<")
        size = math.prod(shape) * dtype.itemsize
        if offset + size > len(view):
            raise CodecError(f"record tensor {name} runs past the end of the body")
        array = np.frombuffer(view[offset : offset + size], dtype=dtype).reshape(shape)
        tensors[name] = array.astype(dtype.newbyteorder("="), copy=False)
        if dtype_name == BFLOAT16:
            bfloat16.append(name)
        offset += _padded(size)
    if offset != len(view):
        raise CodecError(f"record body is {len(view)} bytes but its tensors take {offset}")
    try:
        return TensorRecord(tensors, bfloat16)
    except ValueError as exc:
        raise CodecError(f"invalid tensor record: {exc}") from exc
