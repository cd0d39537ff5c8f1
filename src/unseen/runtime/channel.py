"""A task's federation: every message goes through its own node over a local Unix socket.

The task never holds TLS keys or talks to another party directly; it proves who it is with the per-task
token its node gave it, and its node decides where each message may go. Each call is unary: a body of at
most one chunk travels inside it, a larger one through shared memory (the send buffer towards the node,
receive files back), so no large body is copied through the socket.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc

from unseen.runtime.federation import Gathered, broadcast_concurrently, refusal, remaining
from unseen.runtime.parties import PartyRef
from unseen.runtime.spec import TOKEN_HEADER
from unseen.storage.points import MetricPoint
from unseen.transport import codec
from unseen.transport.framing import CHUNK_SIZE, GRPC_MESSAGE_LIMIT
from unseen.transport.methods import log_metrics_method, recv_method, send_one_method, send_shared_method
from unseen.transport.proto import federation_pb2 as pb
from unseen.transport.shared_buffer import ReceiveFiles, SendBuffer

GATHER_CONCURRENCY = 8


class FederationError(RuntimeError):
    """Sending or receiving failed; the message carries the node's reason."""


class NodeChannel:
    def __init__(
        self,
        socket_path: str,
        token: str,
        job_id: str,
        component: str,
        me: PartyRef,
        send_buffer: Path,
        send_timeout: float = 300.0,
    ) -> None:
        options = [
            ("grpc.max_send_message_length", GRPC_MESSAGE_LIMIT),
            ("grpc.max_receive_message_length", GRPC_MESSAGE_LIMIT),
        ]
        credentials = grpc.local_channel_credentials(grpc.LocalConnectionType.UDS)
        self._channel = grpc.secure_channel(f"unix:{socket_path}", credentials, options=options)
        self._send_one = send_one_method(self._channel)
        self._send_shared = send_shared_method(self._channel)
        self._buffer = SendBuffer(send_buffer)
        self._receive_files = ReceiveFiles(send_buffer)
        self._recv = recv_method(self._channel)
        self._log_metrics = log_metrics_method(self._channel)
        self._metadata = ((TOKEN_HEADER, token),)
        self._job_id = job_id
        self._component = component
        self._me = me
        self._send_timeout = send_timeout
        self._seq = itertools.count(1)
        self._seq_lock = threading.Lock()

    def send(self, tag: str, value: codec.Value, to: PartyRef) -> None:
        self._send_encoded(tag, codec.encode(value), to)

    def broadcast(self, tag: str, value: codec.Value, to: Sequence[PartyRef]) -> dict[PartyRef, str]:
        """One encoding for every recipient, and a large body written to the send buffer once for all of them;
        up to ``GATHER_CONCURRENCY`` recipients served at once (as a gather: a bound on the node's task
        threads one broadcast takes). A recipient the node cannot reach is reported; the others are served."""
        encoded = codec.encode(value)
        if encoded.header.size <= CHUNK_SIZE:
            return broadcast_concurrently(
                lambda t, _v, party: self._send_encoded(t, encoded, party), tag, value, to, GATHER_CONCURRENCY
            )
        with self._buffer.lock:  # the node only reads the buffer: every recipient's call may read it at once
            self._buffer.write(encoded.body)
            return broadcast_concurrently(
                lambda t, _v, party: self._send_written(t, encoded, party), tag, value, to, GATHER_CONCURRENCY
            )

    def gather(self, tag: str, frm: Sequence[PartyRef], deadline: float) -> Gathered:
        """Receive from every party at once (at most ``GATHER_CONCURRENCY`` calls in flight, so a gather from
        50 workers cannot take all of the node's task threads), each bounded by the one shared deadline."""
        parties = list(dict.fromkeys(frm))
        result = Gathered()
        if not parties:
            return result

        def one(party: PartyRef) -> tuple[PartyRef, codec.Value | None, BaseException | None]:
            try:
                return party, self.recv(tag, party, remaining(deadline)), None
            except Exception as exc:
                return party, None, exc

        with ThreadPoolExecutor(max_workers=min(GATHER_CONCURRENCY, len(parties))) as pool:
            outcomes = list(pool.map(one, parties))
        for party, value, error in outcomes:
            if error is None:
                result.values[party] = value
                continue
            why = refusal(error)
            if why is None:
                raise error
            result.missing[party] = why
        return result

    def _envelope(self, tag: str, encoded: codec.EncodedPayload, to: PartyRef) -> pb.Envelope:
        with self._seq_lock:
            seq = next(self._seq)
        return pb.Envelope(
            job_id=self._job_id,
            component=self._component,
            tag=tag,
            src_party=self._me.party_id,
            src_role=self._me.role.value,
            dst_party=to.party_id,
            dst_role=to.role.value,
            seq=seq,
            payload=encoded.header,
        )

    def _send_written(self, tag: str, encoded: codec.EncodedPayload, to: PartyRef) -> None:
        """Send a large body the caller has already written to the send buffer (and holds its lock)."""
        try:
            request = pb.SharedSend(header=self._envelope(tag, encoded, to))
            self._send_shared(request, metadata=self._metadata, timeout=self._send_timeout)
        except grpc.RpcError as error:
            raise FederationError(f"sending '{tag}' to {to} failed: {_details(error)}") from None

    def _send_encoded(self, tag: str, encoded: codec.EncodedPayload, to: PartyRef) -> None:
        envelope = self._envelope(tag, encoded, to)
        try:
            if encoded.header.size <= CHUNK_SIZE:
                small = pb.Small(header=envelope, data=bytes(encoded.body))
                self._send_one(small, metadata=self._metadata, timeout=self._send_timeout)
            else:  # the body crosses to the node through shared memory
                with self._buffer.lock:
                    self._buffer.write(encoded.body)
                    request = pb.SharedSend(header=envelope)
                    self._send_shared(request, metadata=self._metadata, timeout=self._send_timeout)
        except grpc.RpcError as error:
            raise FederationError(f"sending '{tag}' to {to} failed: {_details(error)}") from None

    def recv(self, tag: str, frm: PartyRef, timeout: float) -> codec.Value:
        files = self._receive_files
        body_file = files.reserve()
        request = pb.RecvRequest(
            tag=tag, src_party=frm.party_id, src_role=frm.role.value, timeout_s=timeout, body_file=body_file
        )
        taken = False
        try:
            answer = self._recv(request, metadata=self._metadata, timeout=timeout + 30.0)
            size = answer.header.payload.size
            if size <= CHUNK_SIZE:
                return codec.decode(answer.header.payload, answer.data)
            body = files.take(body_file, size)
            taken = True
            return codec.decode(answer.header.payload, body)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise TimeoutError(f"receiving '{tag}' from {frm}: {_details(error)}") from None
            raise FederationError(f"receiving '{tag}' from {frm} failed: {_details(error)}") from None
        finally:
            if not taken:  # the file was not used: it stays ready for the next body
                files.release(body_file)

    def emit(self, points: list[MetricPoint]) -> None:
        batch = pb.MetricBatch(
            metrics=[
                pb.Metric(name=p.name, step=-1 if p.step is None else p.step, value_json=json.dumps(p.value))
                for p in points
            ]
        )
        try:
            self._log_metrics(batch, metadata=self._metadata, timeout=30.0)
        except grpc.RpcError as error:
            raise FederationError(f"logging metrics failed: {_details(error)}") from None

    def close(self) -> None:
        self._buffer.close()
        self._channel.close()


def _details(error: Any) -> str:
    details = error.details() if hasattr(error, "details") else None
    return str(details or error)
