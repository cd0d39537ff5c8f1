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
from pathlib import Path
from typing import Any

import grpc

from unseen.runtime.parties import PartyRef
from unseen.runtime.spec import TOKEN_HEADER
from unseen.storage.repository import MetricPoint
from unseen.transport import codec
from unseen.transport.framing import CHUNK_SIZE, GRPC_MESSAGE_LIMIT
from unseen.transport.methods import log_metrics_method, recv_method, send_one_method, send_shared_method
from unseen.transport.proto import federation_pb2 as pb
from unseen.transport.shared_buffer import ReceiveFiles, SendBuffer


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
        encoded = codec.encode(value)
        with self._seq_lock:
            seq = next(self._seq)
        envelope = pb.Envelope(
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
