"""What crosses the wire in the toy, as each receiving node decodes it, carries no party's data in clear.

Both nodes record every message they accept (``audit_dir``). The test looks for the host's values (1.0),
its partition sums (250.0), its local sum (1000.0) and that sum's fixed-point encoding, as bytes of every
dtype they could be sent as and as JSON text, in every message but the final total (which is the output).
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.integration.conftest import Site, make_site, stop_site
from unseen.crypto.sharing import encode_fixed
from unseen.node.audit import read_audit

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("home")
    running = make_site(home, [9999, 10000], audit_dir="audit")
    yield running
    stop_site(running)


def received(site: Site, party: int, job_id: str) -> list[dict[str, Any]]:
    return read_audit(site.standalone.node_dir(party) / "audit" / f"{job_id}.jsonl")


def body_bytes(entry: dict[str, Any]) -> bytes:
    value = entry["value"]
    if "ndarray" in value:
        return base64.b64decode(value["ndarray"]["data_b64"])
    return json.dumps(value).encode()


def secrets_of_a_party(data_num: int = 1000, partitions: int = 4) -> list[bytes]:
    """Byte patterns that would betray the host's data: its values, partition sums and local sum."""
    local_sum = float(data_num)
    partition_sum = float(data_num // partitions)
    patterns = []
    for number in (local_sum, partition_sum):
        patterns += [struct.pack("<d", number), struct.pack("<f", number), str(number).encode(), f"{number:g}".encode()]
        patterns.append(encode_fixed(np.asarray(number)).tobytes())
    patterns.append(np.ones(4, dtype=np.float64).tobytes())  # a run of the raw values
    patterns.append(np.ones(4, dtype=np.float32).tobytes())
    return patterns


def run_toy(site: Site, guest: int, host: int) -> str:
    result = site.cli("test", "toy", "-gid", str(guest), "-hid", str(host), "--verbose")
    assert result.returncode == 0, result.stderr
    return result.stdout.split("job ")[1].split()[0]


@pytest.mark.parametrize(("guest", "host"), [(9999, 10000), (10000, 10000)])
def test_no_message_carries_a_partys_values_or_partial_sum(audited: Site, guest: int, host: int) -> None:
    job_id = run_toy(audited, guest, host)
    at_guest = received(audited, guest, job_id)
    at_host = received(audited, host, job_id) if host != guest else []
    messages = at_guest + at_host
    by_tag: dict[str, int] = {}
    for entry in messages:
        by_tag[entry["tag"]] = by_tag.get(entry["tag"], 0) + 1
    assert by_tag == {"secure_sum/share": 2, "secure_sum/partial": 1, "secure_sum/total": 1}, by_tag

    patterns = secrets_of_a_party()
    for entry in messages:
        if entry["tag"] == "secure_sum/total":
            continue  # the output: 2000.0, which every participant is meant to learn
        array = entry["value"]["ndarray"]
        assert array["dtype"] == "uint64" and array["shape"] == [], entry
        body = body_bytes(entry)
        for pattern in patterns:
            assert pattern not in body, f"{entry['tag']} from {entry['src']} contains {pattern!r}"

    totals = [e for e in messages if e["tag"] == "secure_sum/total"]
    assert np.frombuffer(body_bytes(totals[0]), dtype=np.float64).tolist() == [2000.0]


def test_the_recording_is_of_decoded_messages_not_tls_bytes(audited: Site) -> None:
    job_id = run_toy(audited, 9999, 10000)
    entries = received(audited, 10000, job_id)
    assert {e["src"] for e in entries} == {"guest:9999"}
    assert all(Path(audited.standalone.node_dir(10000) / "audit").is_dir() for _ in entries)
    share = next(e for e in entries if e["tag"] == "secure_sum/share")
    assert len(body_bytes(share)) == 8  # one uint64 ring element, as decoded by the node
