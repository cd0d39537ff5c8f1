"""Tests for unseen.values and the codec's tensor records: a state dict in one message, bfloat16 included."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unseen.transport.codec import CodecError, decode, encode
from unseen.transport.proto import federation_pb2 as pb
from unseen.values import TensorRecord, bfloat16_to_float32, float32_to_bfloat16


def _state_dict() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "layer1.0.conv1.weight": rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
        "dense/kernel:0": rng.normal(size=(5, 7)).astype(np.float16),
        "bn.num_batches_tracked": np.array(12, dtype=np.int64),
        "head.bias": rng.normal(size=3),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }


def test_record_roundtrips_every_tensor_with_its_name_dtype_and_shape() -> None:
    tensors = _state_dict()
    record = TensorRecord.from_floats(
        {**tensors, "emb.weight": np.linspace(-3, 3, 10, dtype=np.float32)}, ["emb.weight"]
    )
    encoded = encode(record)
    assert encoded.header.kind == pb.TENSOR_RECORD
    back = decode(encoded.header, bytes(encoded.body))
    assert isinstance(back, TensorRecord)
    assert back == record
    assert list(back) == list(record)
    for name, tensor in tensors.items():
        assert back[name].dtype == tensor.dtype and back[name].shape == tensor.shape
        np.testing.assert_array_equal(back[name], tensor)
    assert back.dtype_name("emb.weight") == "bfloat16"
    assert back.floats()["emb.weight"].dtype == np.float32


def test_bfloat16_conversion_rounds_to_nearest_even_and_widens_exactly() -> None:
    # 1 + 2**-8 is exactly half-way between two bfloat16 values (1 and 1 + 2**-7): ties go to the even one, 1.
    values = np.array([1.0, 1 + 2**-8, 1 + 3 * 2**-8, -2.5, 3.0e38, np.inf, np.nan], dtype=np.float32)
    bits = float32_to_bfloat16(values)
    back = bfloat16_to_float32(bits)
    assert back[0] == 1.0 and back[1] == 1.0 and back[2] == 1 + 2**-6 and back[3] == -2.5
    assert np.isinf(back[5]) and np.isnan(back[6])
    assert abs(back[4] - 3.0e38) / 3.0e38 < 2**-8
    np.testing.assert_array_equal(float32_to_bfloat16(back), bits)  # bfloat16 values are fixed points


def _record_body(index: object, tail: bytes = b"") -> bytes:
    text = json.dumps(index).encode()
    head = len(text).to_bytes(4, "little") + text
    return head + b"\0" * (-len(head) % 8) + tail


@pytest.mark.parametrize(
    ("index", "tail", "complaint"),
    [
        ([["../etc/passwd", "float32", [1]]], b"\0" * 8, "name"),
        ([["w", "object", [1]]], b"\0" * 8, "dtype"),
        ([["w", "float32", [-1]]], b"\0" * 8, "dimension"),
        ([["w", "float32", [2**40, 2**4]]], b"\0" * 8, "past the end"),
        ([["w", "float32", [2**40, 2**40]]], b"\0" * 8, "more than"),
        ([["w", "float32", [0, 2**63]]], b"", "more than"),
        ([["w", "float32", [1]], ["w", "float32", [1]]], b"\0" * 16, "twice"),
        ([["w", "float32", [1]]], b"\0" * 16, "tensors take"),
        ({"w": 1}, b"", "index does not list"),
    ],
)
def test_hostile_record_bodies_are_refused(index: object, tail: bytes, complaint: str) -> None:
    body = _record_body(index, tail)
    count = len(index) if isinstance(index, list) else 1
    header = pb.PayloadHeader(kind=pb.TENSOR_RECORD, count=count, size=len(body))
    with pytest.raises(CodecError, match=complaint):
        decode(header, body)


def test_record_index_longer_than_its_body_is_refused() -> None:
    body = (1 << 30).to_bytes(4, "little") + b"[]"
    with pytest.raises(CodecError, match="does not fit"):
        decode(pb.PayloadHeader(kind=pb.TENSOR_RECORD, count=0, size=len(body)), body)


def test_record_refuses_bad_names_and_dtypes_at_construction() -> None:
    with pytest.raises(ValueError, match="does not match"):
        TensorRecord({"a b": np.zeros(1)})
    with pytest.raises(ValueError, match="cannot be sent"):
        TensorRecord({"a": np.array(["x"])})
    with pytest.raises(ValueError, match="uint16"):
        TensorRecord({"a": np.zeros(1, dtype=np.float32)}, bfloat16=["a"])
