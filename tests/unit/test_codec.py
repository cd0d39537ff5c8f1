"""Tests for unseen.transport.codec: the only way values cross the wire.

Round trips must be exact for every allowed kind, and every malformed or disallowed input must be refused with
``CodecError`` (never a crash, never a half-read value, never code execution).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
from typing import Any

import numpy as np
import pytest

import unseen.transport
from unseen.transport import codec
from unseen.transport.codec import ALLOWED_DTYPES, MAX_NDIM, BigInts, CodecError, decode, encode
from unseen.transport.proto import federation_pb2 as pb


def roundtrip(value: Any) -> Any:
    payload = encode(value)
    assert payload.header.size == len(payload.body)
    return decode(payload.header, bytes(payload.body))


def sample(dtype_name: str, shape: tuple[int, ...] = (3, 4)) -> np.ndarray:
    rng = np.random.default_rng(7)
    dtype = np.dtype(dtype_name)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        values = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
        values.flat[0] = info.min
        values.flat[-1] = info.max
        return values
    values = rng.standard_normal(shape).astype(dtype)
    values.flat[0] = np.finfo(dtype).max
    values.flat[-1] = -0.0
    return values


def assert_same_array(actual: Any, expected: np.ndarray) -> None:
    assert isinstance(actual, np.ndarray)
    assert actual.dtype == expected.dtype.newbyteorder("=")
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


# --- arrays: round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype_name", sorted(ALLOWED_DTYPES))
def test_array_roundtrip_is_exact_for_every_allowed_dtype(dtype_name: str) -> None:
    array = sample(dtype_name)
    payload = encode(array)
    assert payload.header.kind == pb.NDARRAY
    assert payload.header.dtype == dtype_name
    assert list(payload.header.shape) == [3, 4]
    assert payload.header.size == array.nbytes
    assert_same_array(decode(payload.header, bytes(payload.body)), array)


@pytest.mark.parametrize("dtype_name", ["float16", "float32", "float64"])
def test_float_specials_survive_an_array_roundtrip(dtype_name: str) -> None:
    array = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-30], dtype=dtype_name)
    result = roundtrip(array)
    np.testing.assert_array_equal(result, array)  # NaN compares equal here
    assert np.signbit(result[3])


@pytest.mark.parametrize("dtype_name", ["bool", "int8", "uint64", "float64"])
def test_zero_dimensional_array_roundtrips_as_zero_dimensional(dtype_name: str) -> None:
    array = np.array(sample(dtype_name, (1,))[0], dtype=dtype_name)
    result = roundtrip(array)
    assert isinstance(result, np.ndarray)
    assert result.shape == ()
    assert_same_array(result, array)


@pytest.mark.parametrize("shape", [(0,), (0, 5), (3, 0, 2)])
def test_empty_array_keeps_its_shape_and_dtype(shape: tuple[int, ...]) -> None:
    array = np.zeros(shape, dtype=np.int32)
    payload = encode(array)
    assert payload.header.size == 0
    result = decode(payload.header, b"")
    assert_same_array(result, array)


def test_sliced_array_sends_only_its_own_elements() -> None:
    base = np.arange(100, dtype=np.float64).reshape(10, 10)
    view = base[1:8:3, ::-2]
    assert not view.flags.c_contiguous
    payload = encode(view)
    assert payload.header.size == view.size * 8
    assert_same_array(decode(payload.header, bytes(payload.body)), view)


def test_transposed_array_roundtrips_in_logical_order() -> None:
    array = np.arange(24, dtype=np.int16).reshape(2, 3, 4).transpose(2, 0, 1)
    assert not array.flags.c_contiguous
    assert_same_array(roundtrip(array), array)


@pytest.mark.parametrize("dtype_str", [">f8", ">i4", ">u2", ">f2", ">i8"])
def test_big_endian_array_is_sent_little_endian_and_decodes_to_same_values(dtype_str: str) -> None:
    array = np.array([1, 2, 300, 7], dtype=dtype_str)
    payload = encode(array)
    little = array.astype(np.dtype(dtype_str).newbyteorder("<"))
    assert bytes(payload.body) == little.tobytes()
    result = decode(payload.header, bytes(payload.body))
    assert isinstance(result, np.ndarray)
    assert result.dtype.byteorder in ("=", "|", "<")
    np.testing.assert_array_equal(result, array)


def test_decoded_array_shares_memory_with_the_body_instead_of_copying() -> None:
    array = np.arange(1000, dtype=np.float64)
    payload = encode(array)
    body = bytearray(payload.body)
    result = decode(payload.header, memoryview(body))
    assert isinstance(result, np.ndarray)
    assert np.shares_memory(result, np.frombuffer(body, dtype=np.uint8))
    body[0:8] = np.float64(-1.0).tobytes()  # a write to the body shows through: no copy was made
    assert result[0] == -1.0


def test_encoding_a_contiguous_little_endian_array_does_not_copy_it() -> None:
    array = np.arange(64, dtype="<i8")
    payload = encode(array)
    assert np.shares_memory(np.frombuffer(payload.body, dtype=np.uint8), array)


@pytest.mark.parametrize("ndim", [1, MAX_NDIM])
def test_arrays_up_to_the_dimension_limit_roundtrip(ndim: int) -> None:
    array = np.ones((1,) * (ndim - 1) + (2,), dtype=np.uint8)
    assert_same_array(roundtrip(array), array)


# --- arrays: refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "array",
    [
        np.array([object(), 1], dtype=object),
        np.array([1 + 2j]),
        np.array([1 + 2j], dtype=np.complex64),
        np.array(["text"]),
        np.array([b"bytes"]),
        np.array(["2024-01-01"], dtype="datetime64[D]"),
        np.array([1], dtype="timedelta64[s]"),
        np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]),
        np.zeros(2, dtype=np.longdouble),
    ],
    ids=["object", "complex128", "complex64", "str", "bytes", "datetime", "timedelta", "structured", "longdouble"],
)
def test_disallowed_dtypes_are_refused_on_encode(array: np.ndarray) -> None:
    with pytest.raises(CodecError, match="cannot be sent"):
        encode(array)


@pytest.mark.parametrize("dtype", ["object", "O", "|O", "<f8", "complex128", "U8", "V8", "datetime64[s]", ""])
def test_header_with_a_disallowed_dtype_string_is_refused(dtype: str) -> None:
    header = pb.PayloadHeader(kind=pb.NDARRAY, dtype=dtype, shape=[1], size=8)
    with pytest.raises(CodecError, match="not allowed"):
        decode(header, b"\x00" * 8)


def test_header_with_too_many_dimensions_is_refused() -> None:
    header = pb.PayloadHeader(kind=pb.NDARRAY, dtype="uint8", shape=[1] * (MAX_NDIM + 1), size=1)
    with pytest.raises(CodecError, match="dimensions"):
        decode(header, b"\x00")


@pytest.mark.parametrize(("shape", "body_len"), [([2, 3], 47), ([2, 3], 49), ([2, 3], 0), ([0], 8), ([], 16)])
def test_array_body_that_disagrees_with_its_shape_is_refused(shape: list[int], body_len: int) -> None:
    header = pb.PayloadHeader(kind=pb.NDARRAY, dtype="float64", shape=shape, size=body_len)
    with pytest.raises(CodecError, match="needs"):
        decode(header, b"\x00" * body_len)


def test_array_shape_with_a_huge_product_is_refused_not_allocated() -> None:
    header = pb.PayloadHeader(kind=pb.NDARRAY, dtype="float64", shape=[2**32] * 4, size=8)
    with pytest.raises(CodecError):
        decode(header, b"\x00" * 8)


@pytest.mark.parametrize("shape", [[0, 2**63], [0, 2**40, 2**40]])
def test_zero_size_array_with_an_absurd_dimension_is_a_codec_error(shape: list[int]) -> None:
    header = pb.PayloadHeader(kind=pb.NDARRAY, dtype="float64", shape=shape, size=0)
    with pytest.raises(CodecError):
        decode(header, b"")


# --- big integers -------------------------------------------------------------------------------------------


def test_bigints_of_4096_bits_roundtrip_exactly() -> None:
    rng = np.random.default_rng(3)
    values = [int.from_bytes(rng.bytes(512), "big") for _ in range(5)] + [0, 1, 2**4096 - 1]
    payload = encode(BigInts(values))
    assert payload.header.kind == pb.BIGINT_VECTOR
    assert payload.header.width == 512
    assert payload.header.count == len(values)
    assert payload.header.size == 512 * len(values)
    result = decode(payload.header, bytes(payload.body))
    assert isinstance(result, BigInts)
    assert result.to_list() == values


def test_bigints_with_small_values_use_a_narrow_width() -> None:
    payload = encode(BigInts([0, 255, 7]))
    assert payload.header.width == 1
    assert bytes(payload.body) == b"\x00\xff\x07"
    assert roundtrip(BigInts([0, 255, 7])) == BigInts([0, 255, 7])


def test_empty_bigints_roundtrip() -> None:
    payload = encode(BigInts([]))
    assert payload.header.count == 0
    assert payload.header.size == 0
    result = decode(payload.header, b"")
    assert isinstance(result, BigInts)
    assert len(result) == 0


def test_all_zero_bigints_roundtrip() -> None:
    assert roundtrip(BigInts([0, 0, 0])).to_list() == [0, 0, 0]


@pytest.mark.parametrize("values", [[-1], [5, -(2**100)], [0, -1, 3]])
def test_negative_big_integers_are_refused(values: list[int]) -> None:
    with pytest.raises(CodecError, match="non-negative"):
        encode(BigInts(values))


def test_big_integer_wider_than_the_limit_is_refused() -> None:
    with pytest.raises(CodecError, match="exceeds"):
        encode(BigInts([1 << (8 * codec.MAX_BIGINT_WIDTH)]))


@pytest.mark.parametrize(("count", "body_len"), [(3, 20), (3, 26), (0, 8), (1, 0)])
def test_bigint_body_that_disagrees_with_count_and_width_is_refused(count: int, body_len: int) -> None:
    header = pb.PayloadHeader(kind=pb.BIGINT_VECTOR, width=8, count=count, size=body_len)
    with pytest.raises(CodecError, match="need"):
        decode(header, b"\x01" * body_len)


@pytest.mark.parametrize("width", [0, codec.MAX_BIGINT_WIDTH + 1])
def test_bigint_width_outside_the_allowed_range_is_refused(width: int) -> None:
    header = pb.PayloadHeader(kind=pb.BIGINT_VECTOR, width=width, count=0, size=0)
    with pytest.raises(CodecError, match="width"):
        decode(header, b"")


# --- JSON ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -17,
        2**100,
        3.5,
        -1e-300,
        "",
        'héllo ✓ \u0000 "quoted"',
        [],
        {},
        [1, "a", None, [2, [3, {"k": [4.25]}]]],
        {"a": {"b": {"c": [1, 2, {"d": None, "e": True}]}}, "x": "y"},
    ],
)
def test_json_values_roundtrip(value: Any) -> None:
    payload = encode(value)
    assert payload.header.kind == pb.JSON
    result = decode(payload.header, bytes(payload.body))
    assert result == value
    assert type(result) is type(value)


def test_numpy_scalars_of_allowed_dtypes_are_sent_as_json_numbers() -> None:
    assert roundtrip({"n": np.int32(-5), "f": np.float32(0.5), "b": np.bool_(True)}) == {"n": -5, "f": 0.5, "b": True}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), [1.0, float("nan")], {"x": np.inf}])
def test_nan_and_infinity_are_refused_on_encode(value: Any) -> None:
    with pytest.raises(CodecError):
        encode(value)


def test_numpy_nan_scalar_is_refused_on_encode() -> None:
    with pytest.raises(CodecError):
        encode(np.float32("nan"))  # type: ignore[arg-type]  # a numpy scalar is not a wire type: refused


@pytest.mark.parametrize("body", [b"NaN", b"Infinity", b"-Infinity", b"[1, NaN]", b'{"a": Infinity}'])
def test_nan_and_infinity_are_refused_on_decode(body: bytes) -> None:
    with pytest.raises(CodecError, match="not allowed"):
        decode(pb.PayloadHeader(kind=pb.JSON, size=len(body)), body)


@pytest.mark.parametrize("body", [b"1e999", b"[-1e400]"])
def test_overflowing_json_float_literal_is_refused_on_decode(body: bytes) -> None:
    with pytest.raises(CodecError):
        decode(pb.PayloadHeader(kind=pb.JSON, size=len(body)), body)


def test_json_integer_with_too_many_digits_is_a_codec_error() -> None:
    body = b"1" * 5000
    with pytest.raises(CodecError):
        decode(pb.PayloadHeader(kind=pb.JSON, size=len(body)), body)


class Custom:
    pass


@dataclasses.dataclass
class Point:
    x: int


@pytest.mark.parametrize(
    "value",
    [{1, 2}, frozenset(), Custom(), Point(1), b"bytes", bytearray(b"x"), 1 + 2j, {"ok": [1, {2}]}, {(1, 2): 3}],
    ids=["set", "frozenset", "object", "dataclass", "bytes", "bytearray", "complex", "nested-set", "tuple-key"],
)
def test_non_wire_types_are_refused(value: Any) -> None:
    with pytest.raises(CodecError):
        encode(value)


def test_refusal_names_the_offending_type() -> None:
    with pytest.raises(CodecError, match="Custom"):
        encode([Custom()])  # type: ignore[list-item]  # deliberately not a wire type


def test_numpy_scalar_of_a_disallowed_dtype_is_refused() -> None:
    with pytest.raises(CodecError):
        encode([np.complex128(1 + 1j)])  # type: ignore[list-item]  # deliberately not a wire type


@pytest.mark.parametrize("body", [b"\xff\xfe", b'"\xc3\x28"', b"\xed\xa0\x80"])
def test_invalid_utf8_json_is_refused(body: bytes) -> None:
    with pytest.raises(CodecError, match="malformed"):
        decode(pb.PayloadHeader(kind=pb.JSON, size=len(body)), body)


@pytest.mark.parametrize("body", [b"", b"{", b"[1,]", b"{'a': 1}", b"1 2", b"undefined"])
def test_malformed_json_is_refused(body: bytes) -> None:
    with pytest.raises(CodecError, match="malformed"):
        decode(pb.PayloadHeader(kind=pb.JSON, size=len(body)), body)


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_deeply_nested_json_is_a_codec_error_not_a_crash(opener: bytes) -> None:
    body = opener * 100_000
    with pytest.raises(CodecError):
        decode(pb.PayloadHeader(kind=pb.JSON, size=len(body)), body)


def test_deeply_nested_value_is_a_codec_error_on_encode() -> None:
    value: list[Any] = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(CodecError):
        encode(value)


# --- header checks common to every kind ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", [pb.NDARRAY, pb.BIGINT_VECTOR, pb.JSON])
def test_body_length_must_match_header_size(kind: pb.PayloadKind.ValueType) -> None:
    header = pb.PayloadHeader(kind=kind, dtype="uint8", shape=[4], width=1, count=4, size=4)
    with pytest.raises(CodecError, match="header says"):
        decode(header, b"\x00" * 5)
    with pytest.raises(CodecError, match="header says"):
        decode(header, b"\x00" * 3)


@pytest.mark.parametrize("kind", [pb.PAYLOAD_KIND_UNSPECIFIED, pb.PayloadKind.ValueType(99)])
def test_unknown_payload_kind_is_refused(kind: pb.PayloadKind.ValueType) -> None:
    with pytest.raises(CodecError, match="unknown payload kind"):
        decode(pb.PayloadHeader(kind=kind, size=2), b"{}")


# --- no code execution on the receive path ------------------------------------------------------------------

FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
ALLOWED_CALLS = {("re", "compile")}  # a regular expression, not code


def transport_modules() -> list[str]:
    names = [unseen.transport.__name__]
    for info in pkgutil.walk_packages(unseen.transport.__path__, prefix=unseen.transport.__name__ + "."):
        names.append(info.name)
    return names


def test_transport_package_has_the_expected_modules() -> None:
    names = transport_modules()
    for expected in ("codec", "framing", "mailbox", "tls"):
        assert f"unseen.transport.{expected}" in names


@pytest.mark.parametrize("module_name", transport_modules())
def test_transport_modules_do_not_import_pickle_marshal_or_call_eval(module_name: str) -> None:
    source = inspect.getsource(importlib.import_module(module_name))
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported = {alias.name.split(".")[0] for alias in node.names}
            assert not imported & FORBIDDEN_MODULES, f"{module_name} imports {imported & FORBIDDEN_MODULES}"
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] not in FORBIDDEN_MODULES, f"{module_name} imports {node.module}"
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            if (owner, name) in ALLOWED_CALLS:
                continue
            assert name not in FORBIDDEN_CALLS, f"{module_name} calls {name}()"
            keywords = {kw.arg for kw in node.keywords}
            assert "allow_pickle" not in keywords, f"{module_name} passes allow_pickle"


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ([0, 2**63], "negative or out-of-range dimension"),
        ([2**64 - 1], "negative or out-of-range dimension"),  # what a sender's int64 -1 becomes on the wire
        ([0, 2**64 - 1], "negative or out-of-range dimension"),
        ([0, 2**40, 2**40], "more than"),
        ([0] + [2**62] * 31, "more than"),
        ([1] * (MAX_NDIM + 1), "dimensions"),
    ],
)
def test_header_check_refuses_an_absurd_shape_before_any_body(shape: list[int], expected: str) -> None:
    header = pb.PayloadHeader(kind=pb.NDARRAY, dtype="float64", shape=shape, size=0)
    with pytest.raises(CodecError, match=expected):
        codec.check_header(header)
    with pytest.raises(CodecError, match=expected):
        decode(header, b"")


@pytest.mark.parametrize("shape", [[0], [5, 0], [0, 2**20], []])
def test_header_check_accepts_zero_size_and_scalar_shapes(shape: list[int]) -> None:
    size = 0 if 0 in shape else 8
    header = pb.PayloadHeader(kind=pb.NDARRAY, dtype="float64", shape=shape, size=size)
    codec.check_header(header)
    decoded = decode(header, b"\0" * size)
    assert isinstance(decoded, np.ndarray)
    assert decoded.shape == tuple(shape)
