"""The typed codec: the only way a value becomes bytes on the wire, and bytes become a value again.

Three kinds are allowed, described by a ``PayloadHeader`` before any body byte is read:

* numpy arrays of an allow-listed dtype: dtype + shape + raw little-endian bytes (decoded without a copy);
* vectors of non-negative big integers (Paillier ciphertexts, group elements): fixed width, big-endian;
* JSON values (scalars, lists, string-keyed objects).

Nothing is unpickled or evaluated. Every decode checks that the body is exactly as long as the header says,
so a truncated, padded or lying message is refused instead of being half-read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

from unseen.transport.proto import federation_pb2 as pb

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None

ALLOWED_DTYPES: frozenset[str] = frozenset(
    {
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
    }
)
MAX_NDIM = 32
# No message holds this many elements: 2**48 bytes is far above any size a node accepts. Zero-length axes count
# as 1 against it, so a zero-size array cannot carry an absurd axis (numpy refuses [0, 2**63] at reshape).
MAX_ELEMENTS = 1 << 48
MAX_BIGINT_WIDTH = 1 << 16  # 64 KiB per integer: far above any key size in use


class CodecError(ValueError):
    """A value cannot be put on the wire, or bytes received are not a valid payload."""


class BigInts(Sequence[int]):
    """A vector of non-negative big integers, sent as one fixed-width block rather than as JSON text."""

    __slots__ = ("_values",)

    def __init__(self, values: Iterable[int]) -> None:
        self._values = [int(v) for v in values]

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, index: Any) -> Any:
        return self._values[index]

    def __iter__(self) -> Iterator[int]:
        return iter(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BigInts) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(self._values))

    def __repr__(self) -> str:
        return f"BigInts(<{len(self._values)} integers>)"

    def to_list(self) -> list[int]:
        return list(self._values)


Value: TypeAlias = np.ndarray | BigInts | JsonValue


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
