"""Tests for unseen.node.audit: every kind of value a partner may send is recorded as it was decoded."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from unseen.node.audit import AuditLog, read_audit
from unseen.transport.proto import federation_pb2 as pb
from unseen.values import TensorRecord


def test_a_tensor_record_is_recorded_tensor_by_tensor_with_its_dtype_tag(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    record = TensorRecord.from_floats(
        {"w": np.array([1.5, -2.0], dtype=np.float32), "emb": np.ones(3, np.float32)}, bfloat16=["emb"]
    )
    log.record(pb.Envelope(job_id="j1", component="c", tag="weights", src_party=1, src_role="arbiter"), record)
    (entry,) = read_audit(tmp_path / "j1.jsonl")
    tensors = entry["value"]["tensor_record"]
    assert tensors["emb"]["dtype"] == "bfloat16" and tensors["w"]["shape"] == [2]
    assert np.frombuffer(base64.b64decode(tensors["w"]["data_b64"]), np.float32).tolist() == [1.5, -2.0]
