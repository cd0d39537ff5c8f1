"""A node refuses what it must, over real mutual TLS, each with a clear log line.

Each test plays a peer (or an impostor) against party 10000's running node. Party 9999 proposes a job to
10000 first, so that there is a job 10000 knows for which messages can be right or wrong.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import grpc
import pytest

from tests.integration.conftest import Site, make_site, stop_site
from tests.integration.peer_tools import as_party, channel_to, json_envelope, propose, push, task_socket, tls_files
from unseen.transport.proto import federation_pb2 as pb
from unseen.transport.proto import federation_pb2_grpc as pb_grpc
from unseen.transport.tls import create_ca, issue_party_certificate, load_ca

pytestmark = pytest.mark.integration

TOY = {
    "initiator": {"role": "guest", "party_id": 9999},
    "parties": {"guest": [9999], "host": [10000]},
    "components": [{"name": "sum_0", "component": "toy_secure_sum"}],
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Three parties, each with its own CA: 10001 is a genuine partner of 10000 that plays no part in the
    jobs 9999 proposes, so it can try to speak for 9999 with certificates its own CA issues."""
    running = make_site(tmp_path_factory.mktemp("home"), [9999, 10000, 10001])
    yield running
    stop_site(running)


@pytest.fixture(scope="module")
def job_at_10000(site: Site) -> str:
    """A job that party 9999 proposed to 10000 and 10000 accepted (its tasks are never started)."""
    job_id = "probe" + secrets.token_hex(4)
    reply = propose(as_party(site, 9999, 10000), job_id, 9999, TOY)
    assert reply.accepted, reply.reason
    return job_id


def _pem(obj: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    if hasattr(obj, "private_bytes"):
        return obj.private_bytes(  # type: ignore[no-any-return]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    return obj.public_bytes(serialization.Encoding.PEM)  # type: ignore[attr-defined, no-any-return]


def test_a_peer_with_a_certificate_from_another_ca_is_refused(site: Site) -> None:
    rogue_key, rogue_ca = create_ca("rogue CA")
    key, cert = issue_party_certificate(rogue_key, rogue_ca, 9999)
    _, _, real_ca = tls_files(site, 9999)
    channel = channel_to(site, 10000, _pem(key), _pem(cert), real_ca)
    job_id = "rogue" + secrets.token_hex(4)
    with pytest.raises(grpc.RpcError) as caught:
        propose(channel, job_id, 9999, TOY)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    jobs = site.client(10000).get("/jobs")
    assert job_id not in {job["job_id"] for job in jobs}


def test_a_proposal_naming_another_initiator_is_refused(site: Site) -> None:
    reply = propose(as_party(site, 9999, 10000), "impostor" + secrets.token_hex(4), 10001, TOY)
    assert not reply.accepted
    assert "party 9999 proposed a job naming party 10001 as initiator" in reply.reason


def test_a_party_claiming_another_id_is_refused(site: Site, job_at_10000: str) -> None:
    body = b'"hello"'
    with pytest.raises(grpc.RpcError) as caught:
        push(as_party(site, 9999, 10000), json_envelope(job_at_10000, body, src_party=10000), body)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "party 9999 sent a message claiming to be from party 10000" in caught.value.details()
    assert "claiming to be from party 10000" in site.node_log(10000)


def test_a_message_for_an_unknown_job_is_refused(site: Site) -> None:
    body = b"1"
    with pytest.raises(grpc.RpcError) as caught:
        push(as_party(site, 9999, 10000), json_envelope("nosuchjob", body), body)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "unknown job nosuchjob" in caught.value.details()
    assert "message for unknown job nosuchjob" in site.node_log(10000)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"src_role": "host"}, "source party 9999 does not play host"),
        ({"dst_role": "guest"}, "destination party 10000 does not play guest"),
        ({"component": "other_0"}, "has no component 'other_0'"),
    ],
)
def test_a_role_the_party_does_not_play_is_refused(
    site: Site, job_at_10000: str, fields: dict[str, object], expected: str
) -> None:
    body = b"1"
    with pytest.raises(grpc.RpcError) as caught:
        push(as_party(site, 9999, 10000), json_envelope(job_at_10000, body, **fields), body)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert expected in caught.value.details()
    assert expected in site.node_log(10000)


def test_a_well_formed_message_from_the_right_party_is_accepted(site: Site, job_at_10000: str) -> None:
    body = b'{"ok":true}'
    ack = push(as_party(site, 9999, 10000), json_envelope(job_at_10000, body, tag="welcome"), body)
    assert ack.received == len(body)


def test_an_oversized_message_is_refused_at_its_header(site: Site, job_at_10000: str) -> None:
    envelope = json_envelope(job_at_10000, b"")
    envelope.payload.size = 1 << 40
    with pytest.raises(grpc.RpcError) as caught:
        push(as_party(site, 9999, 10000), envelope, b"")
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "exceeds the" in caught.value.details()
    assert "from party 9999: message of 1099511627776 bytes exceeds the" in site.node_log(10000)


def test_a_truncated_message_is_refused(site: Site, job_at_10000: str) -> None:
    envelope = json_envelope(job_at_10000, b"12345678")
    with pytest.raises(grpc.RpcError) as caught:
        push(as_party(site, 9999, 10000), envelope, b"1234")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ended after 4 of 8 declared bytes" in caught.value.details()
    assert "from party 9999: message body ended after 4 of 8 declared bytes" in site.node_log(10000)


@pytest.mark.parametrize(
    ("payload", "body", "expected"),
    [
        (pb.PayloadHeader(kind=pb.JSON), b"{not json", "malformed JSON payload"),
        (pb.PayloadHeader(kind=pb.NDARRAY, dtype="object", shape=[1]), b"\0" * 8, "dtype 'object' is not allowed"),
        (pb.PayloadHeader(kind=pb.NDARRAY, dtype="float64", shape=[3]), b"\0" * 16, "needs 24 bytes"),
        (pb.PayloadHeader(kind=pb.BIGINT_VECTOR, width=0, count=0), b"", "width 0"),
        (pb.PayloadHeader(kind=pb.NDARRAY, dtype="float64", shape=[0, 2**63]), b"", "out-of-range dimension"),
        # a sender's int64 -1 is this uint64 on the wire
        (pb.PayloadHeader(kind=pb.NDARRAY, dtype="float64", shape=[0, 2**64 - 1]), b"", "out-of-range dimension"),
        (pb.PayloadHeader(kind=pb.NDARRAY, dtype="float64", shape=[0, 2**40, 2**40]), b"", "more than"),
        (pb.PayloadHeader(kind=pb.NDARRAY, dtype="uint8", shape=[1] * 33), b"\0", "33 dimensions"),
        (pb.PayloadHeader(kind=pb.PAYLOAD_KIND_UNSPECIFIED), b"x", "unknown payload kind"),
    ],
)
def test_a_malformed_payload_is_refused(
    site: Site, job_at_10000: str, payload: pb.PayloadHeader, body: bytes, expected: str
) -> None:
    envelope = json_envelope(job_at_10000, body)
    envelope.payload.CopyFrom(payload)
    envelope.payload.size = len(body)
    with pytest.raises(grpc.RpcError) as caught:
        push(as_party(site, 9999, 10000), envelope, body)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in caught.value.details()
    assert "malformed payload: " in site.node_log(10000)


def test_only_the_initiator_may_start_or_end_a_job(site: Site, job_at_10000: str) -> None:
    """Party 10001 holds a valid certificate but did not initiate the job."""
    stub = pb_grpc.ControlStub(as_party(site, 10001, 10000))
    reply = stub.StartTask(pb.TaskRef(job_id=job_at_10000, component="sum_0", role="host", party=10000), timeout=10)
    assert not reply.ok and "party 10001 is not the initiator" in reply.reason
    reply = stub.EndJob(pb.JobEnd(job_id=job_at_10000, status="canceled", reason="nope"), timeout=10)
    assert not reply.ok and "not the initiator" in reply.reason


def _spoofed_by_10001(site: Site, claimed: int) -> tuple[bytes, bytes]:
    """A certificate for ``claimed`` that partner 10001's own CA (trusted by 10000, as 10001's anchor) issues."""
    ca_dir = site.standalone.node_dir(10001) / "ca"
    ca_key, ca_cert = load_ca(ca_dir / "ca.crt", ca_dir / "ca.key")
    key, cert = issue_party_certificate(ca_key, ca_cert, claimed)
    return _pem(key), _pem(cert)


def test_a_partner_cannot_speak_for_another_party(site: Site) -> None:
    """10001's CA is 10000's anchor for 10001 only: a certificate it issues naming 9999 passes the handshake
    (it chains to a partner's anchor) but is refused as 9999, for control calls and for messages alike."""
    key, cert = _spoofed_by_10001(site, 9999)
    channel = channel_to(site, 10000, key, cert, tls_files(site, 10001)[2])
    job_id = "spoof" + secrets.token_hex(4)
    with pytest.raises(grpc.RpcError) as caught:
        propose(channel, job_id, 9999, TOY)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "does not verify against party 9999's CA" in (caught.value.details() or "")
    with pytest.raises(grpc.RpcError) as pushed:
        push(channel, json_envelope(job_id, b"{}"), b"{}")
    assert pushed.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert job_id not in {job["job_id"] for job in site.client(10000).get("/jobs")}
    site.wait_for(
        lambda: (
            "refused a call from" in site.node_log(10000)
            and "does not verify against party 9999's CA" in site.node_log(10000)
        ),
        what="the refusal's log line",
    )


def test_the_routing_table_anchor_of_each_party_is_its_own_ca(site: Site) -> None:
    """What makes the spoof above fail: each peer entry names that party's CA, a different one for each."""
    config = site.standalone.node_config(10000)
    anchors = {party: peer.ca.read_bytes() for party, peer in config.peers.items() if peer.ca}
    assert set(anchors) == {9999, 10001}
    assert anchors[9999] != anchors[10001]
    assert anchors[9999] == (site.standalone.node_dir(9999) / "ca" / "ca.crt").read_bytes()


def test_a_local_caller_without_a_task_token_is_refused(site: Site) -> None:
    credentials = grpc.local_channel_credentials(grpc.LocalConnectionType.UDS)
    channel = grpc.secure_channel(f"unix:{task_socket(site, 10000)}", credentials)
    stub = pb_grpc.TaskChannelStub(channel)
    request = pb.RecvRequest(tag="x", src_party=9999, src_role="guest", timeout_s=1)
    for metadata in ((), (("x-unseen-task-token", "forged"),)):
        with pytest.raises(grpc.RpcError) as caught:
            stub.Recv(request, metadata=metadata, timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "refused a local call with a missing or unknown task token" in site.node_log(10000)


def test_the_one_call_path_makes_the_same_checks(site: Site, job_at_10000: str) -> None:
    """Small messages arrive as one unary PushOne; an impostor using it directly is refused the same way."""
    push_one = as_party(site, 9999, 10000).unary_unary(
        "/unseen.federation.v1.Federation/PushOne",
        request_serializer=pb.Small.SerializeToString,
        response_deserializer=pb.Ack.FromString,
    )
    body = b'"hi"'
    with pytest.raises(grpc.RpcError) as caught:
        push_one(pb.Small(header=json_envelope(job_at_10000, body, src_party=10000), data=body), timeout=10)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "claiming to be from party 10000" in caught.value.details()
    with pytest.raises(grpc.RpcError) as caught:
        push_one(pb.Small(header=json_envelope(job_at_10000, b"12345678"), data=b"1234"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    ack = push_one(pb.Small(header=json_envelope(job_at_10000, body, tag="one"), data=body), timeout=10)
    assert ack.received == len(body)
