"""Calling other parties' nodes: one mutually-authenticated gRPC channel per peer.

The client checks that the server's certificate names the party it meant to dial (``party-<id>``), and
presents its own party certificate. gRPC errors come back as ``PeerError`` with a message a person can act
on: which party, at which address, what went wrong.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import grpc

from unseen.config.node import PeerConfig
from unseen.transport import peer_attestation
from unseen.transport.framing import GRPC_MESSAGE_LIMIT, Frame
from unseen.transport.methods import push_method, push_one_method
from unseen.transport.proto import federation_pb2 as pb
from unseen.transport.proto import federation_pb2_grpc as pb_grpc
from unseen.transport.tls import TlsPaths, server_name

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
            "(`unseen standalone status`) and that its certificate is signed by a CA this node trusts"
        )
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        message = f"party {party_id}'s node at {address} did not answer in time ({details})"
    else:
        name = code.name if code is not None else "UNKNOWN"
        message = f"party {party_id}'s node at {address} refused the call: {name}: {details}"
    return PeerError(message, code)


class PeerClients:
    """Channels to every peer in the routing table, opened on first use and reused."""

    def __init__(self, peers: dict[int, PeerConfig], tls: TlsPaths) -> None:
        self._peers = peers
        self._tls = tls
        key, chain, trusted = tls.read()
        self._credentials = grpc.ssl_channel_credentials(
            root_certificates=trusted, private_key=key, certificate_chain=chain
        )
        self._channels: dict[int, grpc.Channel] = {}
        self._lock = threading.Lock()

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
        if channel is None:
            self._attest(party_id)  # outside the lock: a slow partner's handshake must not hold up the others
        with self._lock:
            channel = self._channels.get(party_id)
            if channel is None:
                options = [*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", server_name(party_id))]
                channel = grpc.secure_channel(self.address(party_id), self._credentials, options=options)
                self._channels[party_id] = channel
            return channel

    def _attest(self, party_id: int) -> None:
        """Before a channel to a peer carries data, its certificate's evidence meets the policy (if any)."""
        checker = peer_attestation.active()
        peer = self._peers.get(party_id)
        if checker is None or peer is None:
            return
        try:
            checker.check_server(party_id, peer.host, peer.port, self._tls)
        except peer_attestation.AttestationRefusedError as exc:
            raise PeerError(str(exc), grpc.StatusCode.PERMISSION_DENIED) from None
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise PeerError(
                f"party {party_id}'s node at {peer.host}:{peer.port} could not be attested: {exc}",
                grpc.StatusCode.UNAVAILABLE,
            ) from None

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
