"""An optional record of every message this node accepted, as the node decoded it.

Auditors (and our privacy tests) read it to see exactly what a partner sent this party: not TLS bytes,
which say nothing, but the decoded values. It is off unless ``audit_dir`` is set in node.yaml.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from unseen import ids
from unseen.transport.codec import BigInts, TensorRecord, Value
from unseen.transport.proto import federation_pb2 as pb


def _array(value: np.ndarray, dtype_name: str | None = None) -> dict[str, Any]:
    return {
        "dtype": dtype_name or value.dtype.name,
        "shape": list(value.shape),
        "data_b64": base64.b64encode(value.tobytes()).decode(),
    }


def _jsonable(value: Value) -> Any:
    if isinstance(value, np.ndarray):
        return {"ndarray": _array(value)}
    if isinstance(value, TensorRecord):
        return {"tensor_record": {name: _array(t, value.dtype_name(name)) for name, t in value.items()}}
    if isinstance(value, BigInts):
        return {"bigints": [str(v) for v in value]}
    return {"json": value}


class AuditLog:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._lock = threading.Lock()

    def record(self, envelope: pb.Envelope, value: Value) -> None:
        entry = {
            "received_at": time.time(),
            "job_id": envelope.job_id,
            "component": envelope.component,
            "tag": envelope.tag,
            "src": f"{envelope.src_role}:{envelope.src_party}",
            "dst": f"{envelope.dst_role}:{envelope.dst_party}",
            "seq": envelope.seq,
            "value": _jsonable(value),
        }
        path = self._directory / f"{ids.check_job_id(envelope.job_id)}.jsonl"  # checked at the edge; and here
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as handle:
                handle.write(json.dumps(entry) + "\n")


def read_audit(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]
