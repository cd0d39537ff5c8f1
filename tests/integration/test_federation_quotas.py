"""A partner cannot fill a node with mail nobody reads, nor replay what it sent, over real mutual TLS.

Party 9999 plays a hostile initiator against party 10000's running node: it proposes its own jobs (which
10000 accepts and whose tasks are never started), then pushes messages under tags no task will read. The
node's quotas are set small here so that a few 2 MiB messages reach them; the defaults are the same checks
with larger numbers.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.integration.conftest import Site, make_site, stop_site
from tests.integration.peer_tools import as_party, json_envelope, propose, push
from unseen.pipeline import JobHandle
from unseen.transport.framing import CHUNK_SIZE
from unseen.transport.proto import federation_pb2 as pb
from unseen.transport.proto import federation_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
TOY = {
    "initiator": {"role": "guest", "party_id": 9999},
    "parties": {"guest": [9999], "host": [10000]},
    "components": [{"name": "sum_0", "component": "toy_secure_sum"}],
}
BODY = bytes(CHUNK_SIZE)  # the largest message that goes in one data chunk


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    running = make_site(
        Path(tmp_path_factory.mktemp("quota")),
        [9999, 10000],
        max_unread_bytes_per_job=8 * MIB,
        max_unread_messages_per_job=6,
        max_unread_bytes_per_party=12 * MIB,
        max_unread_messages_per_party=10,
    )
    yield running
    stop_site(running)


class Attacker:
    """Party 9999 with its real certificate, numbering its messages as an honest task would."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.channel = as_party(site, 9999, 10000)
        self.seq = 0

    def new_job(self) -> str:
        job_id = "quota" + secrets.token_hex(4)
        reply = propose(self.channel, job_id, 9999, TOY)
        assert reply.accepted, reply.reason
        return job_id

    def push_array(self, job_id: str, tag: str) -> pb.Ack:
        self.seq += 1
        envelope = json_envelope(job_id, BODY, tag=tag, seq=self.seq)
        envelope.payload.CopyFrom(pb.PayloadHeader(kind=pb.NDARRAY, dtype="uint8", shape=[len(BODY)], size=len(BODY)))
        return push(self.channel, envelope, BODY)

    def push_json(self, job_id: str, tag: str) -> pb.Ack:
        self.seq += 1
        return push(self.channel, json_envelope(job_id, b"1", tag=tag, seq=self.seq), b"1")

    def end_job(self, job_id: str) -> None:
        end = pb.JobEnd(job_id=job_id, status="canceled", reason="the initiator ends it")
        reply = pb_grpc.ControlStub(self.channel).EndJob(end, timeout=10)
        assert reply.ok, reply.reason

    def unread(self, job_id: str) -> dict[str, int]:
        answer: dict[str, int] = self.site.client(10000).get(f"/jobs/{job_id}")["unread_messages"]
        return answer


@pytest.fixture
def attacker(site: Site) -> Attacker:
    return Attacker(site)


def test_unread_mail_past_the_jobs_byte_quota_is_refused_and_freed_when_the_job_ends(
    site: Site, attacker: Attacker
) -> None:
    job = attacker.new_job()
    for index in range(4):
        assert attacker.push_array(job, f"unread-{index}").received == len(BODY)
    with pytest.raises(grpc.RpcError) as caught:
        attacker.push_array(job, "unread-4")
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"party 9999 would have 5 unread messages of {10 * MIB} bytes in job {job}" in caught.value.details()
    assert f"from party 9999: party 9999 would have 5 unread messages of {10 * MIB} bytes" in site.node_log(10000)
    assert attacker.unread(job) == {"count": 4, "bytes": 8 * MIB}

    attacker.end_job(job)
    assert attacker.unread(job) == {"count": 0, "bytes": 0}
    assert f"job {job}: dropped 4 unread messages ({8 * MIB} bytes)" in site.node_log(10000)
    # The party's own quota (12 MiB) was freed too: another 8 MiB in a new job fits.
    second = attacker.new_job()
    for index in range(4):
        attacker.push_array(second, f"unread-{index}")
    attacker.end_job(second)
    assert attacker.unread(second) == {"count": 0, "bytes": 0}


def test_unread_mail_past_the_jobs_message_quota_is_refused(site: Site, attacker: Attacker) -> None:
    job = attacker.new_job()
    for index in range(6):
        attacker.push_json(job, f"small-{index}")
    with pytest.raises(grpc.RpcError) as caught:
        attacker.push_json(job, "small-6")
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "party 9999 would have 7 unread messages" in caught.value.details()
    # The participant's own user stops its share of the job: that ends it here too.
    site.client(10000).post(f"/jobs/{job}/stop")
    assert attacker.unread(job)["count"] == 0
    assert f"job {job}: dropped 6 unread messages (6 bytes)" in site.node_log(10000)


def test_the_partys_quota_holds_over_all_the_jobs_it_starts(site: Site, attacker: Attacker) -> None:
    first, second = attacker.new_job(), attacker.new_job()
    for index in range(4):
        attacker.push_array(first, f"a-{index}")
    for index in range(2):
        attacker.push_array(second, f"b-{index}")
    with pytest.raises(grpc.RpcError) as caught:
        attacker.push_array(second, "b-2")
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"bytes over all its jobs here; the limit is 10 messages and {12 * MIB} bytes" in caught.value.details()
    attacker.end_job(first)
    attacker.end_job(second)
    assert attacker.unread(first)["count"] == attacker.unread(second)["count"] == 0


def test_a_replayed_message_is_refused(site: Site, attacker: Attacker) -> None:
    job = attacker.new_job()
    envelope = json_envelope(job, b'"pay"', tag="transfer", seq=3)
    assert push(attacker.channel, envelope, b'"pay"').received == 5
    with pytest.raises(grpc.RpcError) as caught:
        push(attacker.channel, envelope, b'"pay"')
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "sequence number 3 of 'transfer'" in caught.value.details()
    assert "not above 3, the last one accepted on that stream" in site.node_log(10000)
    assert attacker.unread(job)["count"] == 1
    attacker.end_job(job)


def test_a_decreasing_sequence_number_is_refused_and_each_stream_counts_alone(site: Site, attacker: Attacker) -> None:
    job = attacker.new_job()
    push(attacker.channel, json_envelope(job, b"1", tag="grad", seq=10), b"1")
    with pytest.raises(grpc.RpcError) as caught:
        push(attacker.channel, json_envelope(job, b"2", tag="grad", seq=9), b"2")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "sequence number 9 of 'grad'" in caught.value.details()
    assert "not above 10" in caught.value.details()
    # Another tag is another stream: a task's one counter gives it lower numbers than 'grad' got.
    push(attacker.channel, json_envelope(job, b"3", tag="loss", seq=4), b"3")
    with pytest.raises(grpc.RpcError) as caught:
        push(attacker.channel, json_envelope(job, b"4", tag="loss", seq=0), b"4")
    assert "message carries no sequence number" in caught.value.details()
    attacker.end_job(job)


def test_a_message_refused_for_its_body_does_not_use_up_its_number(site: Site, attacker: Attacker) -> None:
    """A sender's number is taken only by a message the node kept."""
    job = attacker.new_job()
    with pytest.raises(grpc.RpcError) as caught:
        push(attacker.channel, json_envelope(job, b"12345678", tag="t", seq=1), b"1234")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert push(attacker.channel, json_envelope(job, b"1", tag="t", seq=1), b"1").received == 1
    attacker.end_job(job)


def test_a_task_replaying_its_own_message_to_a_task_of_the_same_party_is_refused(site: Site) -> None:
    """Guest and host both at 10000: the message goes task -> node -> mailbox, with the same checks.

    The job succeeds, and the message its host never read is dropped when it ends.
    """
    config = {
        "name": "replay",
        "initiator": {"role": "guest", "party_id": 10000},
        "parties": {"guest": [10000], "host": [10000]},
        "timeout_s": 120,
        "components": [{"name": "replay_0", "component": "replay"}],
    }
    client = site.client(10000)
    job = JobHandle(client.post("/jobs", config)["job_id"], client)
    job.wait(timeout=120)
    guest_log = client.text(f"/jobs/{job.job_id}/logs", role="guest")
    assert "seq 1000: accepted" in guest_log
    assert "seq 1000: PERMISSION_DENIED: sequence number 1000 of 'once'" in guest_log
    assert "seq 999: PERMISSION_DENIED: sequence number 999 of 'once'" in guest_log
    assert "received 'pay' once, and no other copy" in client.text(f"/jobs/{job.job_id}/logs", role="host")
    assert "not above 1000, the last one accepted on that stream" in site.node_log(10000)
    # The job succeeded with one message never read: its end (EndJob, just after the status) dropped it.
    dropped = f"job {job.job_id}: dropped 1 unread messages"
    site.wait_for(lambda: dropped in site.node_log(10000), 30, "the job's unread message to be dropped")
    assert client.get(f"/jobs/{job.job_id}")["unread_messages"] == {"count": 0, "bytes": 0}
