"""Talking to a running node the way another party's node (or an impostor) would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc

from tests.integration.conftest import Site
from unseen.transport.framing import GRPC_MESSAGE_LIMIT
from unseen.transport.proto import federation_pb2 as pb
from unseen.transport.proto import federation_pb2_grpc as pb_grpc
from unseen.transport.tls import server_name


def site_cas(site: Site) -> bytes:
    """Every party's CA certificate, as one bundle: what a test client trusts to reach any node of the site."""
    parties = site.standalone.require().parties
    return b"".join((site.standalone.node_dir(p) / "ca" / "ca.crt").read_bytes() for p in parties)


def tls_files(site: Site, party: int) -> tuple[bytes, bytes, bytes]:
    """``party``'s key and certificate, and the bundle of the site's CAs (to verify whichever node it dials)."""
    node = site.standalone.node_dir(party)
    return (node / "tls" / "node.key").read_bytes(), (node / "tls" / "node.crt").read_bytes(), site_cas(site)


def channel_to(site: Site, target: int, key: bytes, cert: bytes, trusted: bytes) -> grpc.Channel:
    """A channel to ``target``'s federation port presenting the given client certificate."""
    port = site.standalone.node_config(target).federation_port
    credentials = grpc.ssl_channel_credentials(root_certificates=trusted, private_key=key, certificate_chain=cert)
    options = [
        ("grpc.ssl_target_name_override", server_name(target)),
        ("grpc.max_send_message_length", GRPC_MESSAGE_LIMIT),
    ]
    return grpc.secure_channel(f"127.0.0.1:{port}", credentials, options=options)


def as_party(site: Site, party: int, target: int) -> grpc.Channel:
    return channel_to(site, target, *tls_files(site, party))


def propose(channel: grpc.Channel, job_id: str, initiator: int, config: dict[str, object]) -> pb.ProposalReply:
    stub = pb_grpc.ControlStub(channel)
    request = pb.JobProposal(job_id=job_id, initiator_party=initiator, config_json=json.dumps(config))
    reply: pb.ProposalReply = stub.Propose(request, timeout=10)
    return reply


def push(channel: grpc.Channel, envelope: pb.Envelope, body: bytes) -> pb.Ack:
    def chunks() -> Iterator[pb.Chunk]:
        yield pb.Chunk(header=envelope)
        if body:
            yield pb.Chunk(data=body)

    ack: pb.Ack = pb_grpc.FederationStub(channel).Push(chunks(), timeout=10)
    return ack


def json_envelope(job_id: str, body: bytes, **fields: object) -> pb.Envelope:
    values: dict[str, object] = {
        "job_id": job_id,
        "component": "sum_0",
        "tag": "probe",
        "src_party": 9999,
        "src_role": "guest",
        "dst_party": 10000,
        "dst_role": "host",
        "seq": 1,
    }
    values.update(fields)
    return pb.Envelope(payload=pb.PayloadHeader(kind=pb.JSON, size=len(body)), **values)  # type: ignore[arg-type]


def task_socket(site: Site, party: int) -> Path:
    return site.standalone.node_config(party).task_socket
