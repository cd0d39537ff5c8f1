"""Identifiers a partner or a REST client chooses are checked at the edge, before any use.

Party 9999 plays a hostile initiator against party 10000's running node: it proposes, starts, queries and
ends jobs whose ids are paths (``/tmp/x``, ``../../x``), empty, 100 KB long, or carry a NUL or a newline
followed by a forged log line. Each must be refused with INVALID_ARGUMENT, create nothing anywhere, and
leave one log line (never a traceback, never the forged line) in 10000's ``node.log``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path

import grpc
import httpx
import pytest

from tests.integration.conftest import Site
from tests.integration.peer_tools import as_party, json_envelope, propose, push
from unseen.transport.proto import federation_pb2 as pb
from unseen.transport.proto import federation_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration

TOY = {
    "initiator": {"role": "guest", "party_id": 9999},
    "parties": {"guest": [9999], "host": [10000]},
    "components": [{"name": "sum_0", "component": "toy_secure_sum"}],
}
FORGED = "2026-01-01T00:00:00.000 WARNING unseen.node.service: FORGED"


def _tracebacks(site: Site, party: int) -> int:
    return site.node_log(party).count("Traceback (most recent call last)")


def _code(call: Callable[..., object], request: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=10)
    code: grpc.StatusCode = caught.value.code()
    return code


@pytest.fixture(scope="module")
def accepted_job(site: Site) -> str:
    job_id = "hostile" + secrets.token_hex(4)
    reply = propose(as_party(site, 9999, 10000), job_id, 9999, TOY)
    assert reply.accepted, reply.reason
    return job_id


def test_control_requests_with_hostile_job_ids_are_refused(site: Site, tmp_path: Path) -> None:
    jobs_dir = site.standalone.node_config(10000).jobs_dir
    marker = "escape" + secrets.token_hex(4)
    absolute = tmp_path / marker  # where an absolute job id would have put its task folder
    climbing = f"../../{marker}"  # and where a relative one would: two levels above home/jobs
    hostile = [str(absolute), climbing, "", "x" * 100_000, "a\x00b", f"nl{marker}\n{FORGED}"]
    stub = pb_grpc.ControlStub(as_party(site, 9999, 10000))
    before = _tracebacks(site, 10000)
    for job_id in hostile:
        proposal = pb.JobProposal(job_id=job_id, initiator_party=9999, config_json=json.dumps(TOY))
        assert _code(stub.Propose, proposal) == grpc.StatusCode.INVALID_ARGUMENT
        task = pb.TaskRef(job_id=job_id, component="sum_0", role="host", party=10000)
        assert _code(stub.StartTask, task) == grpc.StatusCode.INVALID_ARGUMENT
        assert _code(stub.QueryTasks, pb.JobRef(job_id=job_id)) == grpc.StatusCode.INVALID_ARGUMENT
        end = pb.JobEnd(job_id=job_id, status="failed", reason="x")
        assert _code(stub.EndJob, end) == grpc.StatusCode.INVALID_ARGUMENT

    assert not absolute.exists()
    assert not (jobs_dir / climbing).resolve().exists()
    assert not jobs_dir.exists() or not any(jobs_dir.iterdir())
    log = site.node_log(10000)
    assert not any(line.startswith(FORGED) for line in log.splitlines())
    assert "\x00" not in log
    assert "x" * 1000 not in log  # the 100 KB id is cut in the log line
    assert "refused Propose from party 9999: job_id: '' is not valid" in log
    assert _tracebacks(site, 10000) == before == 0
    listed = {job["job_id"] for job in site.client(10000).get("/jobs")}
    assert not any(marker in job_id for job_id in listed)


def test_start_task_with_a_hostile_component_role_or_party_is_refused(site: Site, accepted_job: str) -> None:
    stub = pb_grpc.ControlStub(as_party(site, 9999, 10000))
    jobs_dir = site.standalone.node_config(10000).jobs_dir
    for component, role, party in [("../../x", "host", 10000), ("sum_0", "../x", 10000), ("sum_0", "host", -1)]:
        task = pb.TaskRef(job_id=accepted_job, component=component, role=role, party=party)
        assert _code(stub.StartTask, task) == grpc.StatusCode.INVALID_ARGUMENT
    assert not (jobs_dir / accepted_job).exists()
    assert not (jobs_dir.parent / "x").exists()
    assert _tracebacks(site, 10000) == 0


@pytest.mark.parametrize("status", ["bogus", "", "running", "failed\nFORGED"])
def test_end_job_with_an_invalid_status_is_refused(site: Site, accepted_job: str, status: str) -> None:
    stub = pb_grpc.ControlStub(as_party(site, 9999, 10000))
    end = pb.JobEnd(job_id=accepted_job, status=status, reason="r")
    with pytest.raises(grpc.RpcError) as caught:
        stub.EndJob(end, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # was UNKNOWN, with a traceback
    assert "status:" in caught.value.details() and "success, failed, canceled, timeout" in caught.value.details()
    job = site.client(10000).get(f"/jobs/{accepted_job}")
    assert job["status"] == "running"  # nothing ended
    assert _tracebacks(site, 10000) == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"tag": "../x"}, "tag"),
        ({"tag": f"t\n{FORGED}"}, "tag"),
        ({"tag": "x" * 100_000}, "tag"),
        ({"component": "../../x"}, "component"),
        ({"src_role": "emperor"}, "src_role"),
        ({"dst_role": "guest\n"}, "dst_role"),
        ({"dst_party": -5}, "dst_party"),
        ({"job_id": "../jobs"}, "job_id"),
    ],
)
def test_an_envelope_with_a_hostile_identifier_is_refused(
    site: Site, accepted_job: str, fields: dict[str, object], field: str
) -> None:
    body = b"1"
    values = dict(fields)
    envelope = json_envelope(str(values.pop("job_id", accepted_job)), body, **values)
    with pytest.raises(grpc.RpcError) as caught:
        push(as_party(site, 9999, 10000), envelope, body)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"malformed envelope: {field}:" in caught.value.details()
    log = site.node_log(10000)
    assert f"refused a message from party 9999: malformed envelope: {field}:" in log
    assert not any(line.startswith(FORGED) for line in log.splitlines())
    assert _tracebacks(site, 10000) == 0


def _rest(site: Site, party: int) -> httpx.Client:
    config = site.standalone.node_config(party)
    token = config.api_token_file.read_text().strip()
    return httpx.Client(
        base_url=f"http://127.0.0.1:{config.rest_port}/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_a_table_name_with_a_trailing_newline_cannot_touch_its_twin(site: Site) -> None:
    tables_dir = site.standalone.node_config(9999).tables_dir
    original = b"id,x0\nu1,1\nu2,2\nu3,3\n"
    with _rest(site, 9999) as rest:
        created = rest.put("/tables/hostile.twin", content=original, params={"id_column": "id"})
        assert created.status_code == 201, created.text
        stored = (tables_dir / "hostile" / "twin.parquet").read_bytes()
        row = rest.get("/tables/hostile.twin").json()

        twin = rest.put("/tables/hostile.twin%0A", content=b"id,x0\nv1,9\n", params={"id_column": "id"})
        assert twin.status_code == 422, twin.text
        detail = twin.json()["detail"]
        assert detail["field"] == "name" and detail["example"] == "experiment.breast_guest"
        assert "namespace.name" in detail["rule"]
        gone = rest.delete("/tables/hostile.twin%0A")
        assert gone.status_code == 422, gone.text

        assert (tables_dir / "hostile" / "twin.parquet").read_bytes() == stored
        assert rest.get("/tables/hostile.twin").json() == row
        assert row["rows"] == 3
        names = [t["name"] for t in rest.get("/tables").json()]
        assert names.count("hostile.twin") == 1 and "hostile.twin\n" not in names

        climbing = rest.put("/tables/..%2F..%2Fetc.passwd", content=original, params={"id_column": "id"})
        assert climbing.status_code == 422, climbing.text
        assert climbing.json()["detail"]["value"] == "'../../etc.passwd'"
        assert rest.get("/jobs/bad%0Aid").status_code == 422
    assert _tracebacks(site, 9999) == 0


def test_the_cli_says_what_is_wrong_with_a_table_name(site: Site, tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("id,x0\nu1,1\n")
    result = site.cli("data", "upload", "-f", str(data), "-t", "../../etc.passwd", "-p", "9999")
    assert result.returncode == 1
    assert "Not Found" not in result.stderr
    assert "--table: '../../etc.passwd' is not valid; a table name must be 'namespace.name'" in result.stderr
    assert "e.g. experiment.breast_guest" in result.stderr


@pytest.mark.parametrize(
    ("method", "stream"),
    [
        ("/unseen.federation.v1.Control/Propose", False),
        ("/unseen.federation.v1.Control/EndJob", False),
        ("/unseen.federation.v1.Federation/PushOne", False),
        ("/unseen.federation.v1.Federation/Push", True),
    ],
)
def test_bytes_that_are_no_request_are_refused_without_a_traceback(site: Site, method: str, stream: bool) -> None:
    """gRPC itself would log a traceback for a request it cannot decode, and answer INTERNAL."""
    channel = as_party(site, 9999, 10000)
    garbage = b"\xff\xff\xff\xff"

    def same(raw: bytes) -> bytes:
        return raw

    with pytest.raises(grpc.RpcError) as caught:
        if stream:
            channel.stream_unary(method, request_serializer=same, response_deserializer=same)(
                iter([garbage]), timeout=10
            )
        else:
            channel.unary_unary(method, request_serializer=same, response_deserializer=same)(garbage, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "from party 9999" in site.node_log(10000).splitlines()[-1]
    assert _tracebacks(site, 10000) == 0


def test_a_proposal_nested_too_deeply_is_refused_without_a_traceback(site: Site) -> None:
    stub = pb_grpc.ControlStub(as_party(site, 9999, 10000))
    deep = "[" * 100_000 + "]" * 100_000
    reply = stub.Propose(pb.JobProposal(job_id="deep" + secrets.token_hex(4), initiator_party=9999, config_json=deep))
    assert not reply.accepted and "nested deeper than 32 levels" in reply.reason
    assert _tracebacks(site, 10000) == 0
