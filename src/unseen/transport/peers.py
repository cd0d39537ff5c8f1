"""Calling other parties' nodes: one mutually-authenticated gRPC channel per peer, trusting that peer alone.

grpcio's Python API has no certificate verification callback (grpc/grpc#32635), so before a peer's channel is
made this node opens one short TLS connection of its own to the peer, takes the certificate its server
presents and checks it with ``PeerTrust.check_server``: it names that party and verifies against that party's
anchor only. The channel then gets that anchor as its only root certificate and ``party-<id>`` as the name to
check, so every later connection (reconnects included) is held to the same anchor by gRPC itself. The client
presents its own party certificate. gRPC errors come back as ``PeerError`` with a message a person can act
on: which party, at which address, what went wrong.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from unseen.config.node import PeerConfig
from unseen.transport import peer_attestation
from unseen.transport.framing import GRPC_MESSAGE_LIMIT, Frame
from unseen.transport.methods import push_method, push_one_method
from unseen.transport.proto import federation_pb2 as pb
from unseen.transport.proto import federation_pb2_grpc as pb_grpc
from unseen.transport.tls import CertificateError, TlsPaths, server_name
from unseen.transport.trust import PeerTrust

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 10.0

# A channel whose peer went away fails every call at once with the last error ("Connection refused") until
# its next reconnect attempt, and gRPC spaces attempts by an exponential backoff of 1 s x 1.6 per failure up
# to 120 s. A partner restarted after an outage was therefore refused for 8-28 s, once 80 s, while it was up.
# Attempts here start 100 ms apart and never wait more than 1 s: a restarted partner is reachable within
# about a second, and a dead one costs at most one failed TCP connect a second.
RECONNECT_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", GRPC_MESSAGE_LIMIT),
    ("grpc.max_receive_message_length", GRPC_MESSAGE_LIMIT),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    *RECONNECT_OPTIONS,
]


class PeerError(RuntimeError):
    """A call to another party's node failed; the message says which party and why."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


def describe_rpc_error(party_id: int, address: str, error: grpc.RpcError) -> PeerError:
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else str(error)
    if code == grpc.StatusCode.UNAVAILABLE:
        message = (
            f"party {party_id}'s node at {address} is unreachable ({details}); check that it is running "
            "(`unseen standalone status`) and that its certificate verifies against the anchor under its "
            f"`peers: {party_id}:` entry (and this node's against the anchor it has for this party)"
        )
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        message = f"party {party_id}'s node at {address} did not answer in time ({details})"
    else:
        name = code.name if code is not None else "UNKNOWN"
        message = f"party {party_id}'s node at {address} refused the call: {name}: {details}"
    return PeerError(message, code)


def fetch_server_certificate(host: str, port: int, tls: TlsPaths, timeout: float) -> bytes:
    """The certificate (PEM) a TLS server at ``host:port`` presents, nothing verified yet: the caller verifies it
    against the one anchor it trusts for that address. This node's certificate is presented, as gRPC will."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # verified below against exactly one anchor, not the system's roots
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2"])
    context.load_cert_chain(tls.cert, tls.key)
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=None) as conn,
    ):
        der = conn.getpeercert(binary_form=True)
    if not der:
        raise CertificateError("the server presented no certificate")
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


class PeerClients:
    """Channels to every peer in the routing table, each checked and pinned to its peer's anchor, opened on
    first use and reused."""

    def __init__(
        self, peers: dict[int, PeerConfig], tls: TlsPaths, trust: PeerTrust, probe_timeout: float = PROBE_TIMEOUT_S
    ) -> None:
        self._peers = peers
        self._tls = tls
        self._key, self._chain = tls.read()
        self._trust = trust
        self._probe_timeout = probe_timeout
        self._channels: dict[int, grpc.Channel] = {}
        self._lock = threading.Lock()

    def check_peer(self, party_id: int) -> None:
        """Dial ``party_id`` once with this node's own TLS client and check what its server presents; raises
        ``PeerError`` (UNAVAILABLE when unreachable, UNAUTHENTICATED when its certificate is not that party's)."""
        peer = self._peers[party_id]
        address = self.address(party_id)
        try:
            pem = fetch_server_certificate(peer.host, peer.port, self._tls, self._probe_timeout)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise PeerError(
                f"party {party_id}'s node at {address} is unreachable ({exc}); check that it is running",
                grpc.StatusCode.UNAVAILABLE,
            ) from None
        try:
            self._trust.check_server(party_id, pem)
        except CertificateError as exc:
            log.warning("refused party %d's server at %s: %s", party_id, address, exc)
            raise PeerError(
                f"party {party_id}'s node at {address} presented a certificate this node does not accept as "
                f"party {party_id}: {exc}",
                grpc.StatusCode.UNAUTHENTICATED,
            ) from None
        checker = peer_attestation.active()  # then its evidence, before the channel carries any data
        try:
            if checker is not None:
                checker.check_server(party_id, pem, address)
        except peer_attestation.AttestationRefusedError as exc:
            log.warning("refused party %d's server at %s: %s", party_id, address, exc)
            raise PeerError(str(exc), grpc.StatusCode.PERMISSION_DENIED) from None

    def address(self, party_id: int) -> str:
        peer = self._peers.get(party_id)
        if peer is None:
            known = ", ".join(str(p) for p in sorted(self._peers)) or "none"
            raise PeerError(
                f"party {party_id} is not in this node's routing table (peers: {known}); add it under `peers:`"
            )
        return f"{peer.host}:{peer.port}"

    def channel(self, party_id: int) -> grpc.Channel:
        with self._lock:
            channel = self._channels.get(party_id)
        if channel is not None:
            return channel
        address = self.address(party_id)  # refuses a party not in the routing table
        self.check_peer(party_id)  # outside the lock: one slow peer does not hold up channels to the others
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self._trust.anchor(party_id).pem, private_key=self._key, certificate_chain=self._chain
        )
        options = [*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", server_name(party_id))]
        with self._lock:
            channel = self._channels.get(party_id)
            if channel is None:
                channel = grpc.secure_channel(address, credentials, options=options)
                self._channels[party_id] = channel
            return channel

    def push(self, party_id: int, frames: Iterator[Frame], timeout: float) -> pb.Ack:
        try:
            ack: pb.Ack = push_method(self.channel(party_id))(frames, timeout=timeout)
        except grpc.RpcError as error:
            raise describe_rpc_error(party_id, self.address(party_id), error) from None
        return ack

    def push_one(self, party_id: int, message: pb.Small, timeout: float) -> pb.Ack:
        try:
            ack: pb.Ack = push_one_method(self.channel(party_id))(message, timeout=timeout)
        except grpc.RpcError as error:
            raise describe_rpc_error(party_id, self.address(party_id), error) from None
        return ack

    def control(self, party_id: int) -> pb_grpc.ControlStub:
        return pb_grpc.ControlStub(self.channel(party_id))

    def call(self, party_id: int, method: str, request: Any, timeout: float) -> Any:
        """A unary control call (``Propose``, ``StartTask``, ...) with errors described."""
        try:
            return getattr(self.control(party_id), method)(request, timeout=timeout)
        except grpc.RpcError as error:
            raise describe_rpc_error(party_id, self.address(party_id), error) from None

    def close(self) -> None:
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()
