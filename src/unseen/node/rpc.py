"""The node's gRPC services: Federation and Control for peers (mutual TLS), TaskChannel for its own tasks."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Executor
from typing import Any, NoReturn, TypeVar, cast

import grpc

from unseen import ids
from unseen.node.executor import TaskExecutor, TaskIdentity
from unseen.node.messaging import (
    MalformedMessageError,
    MessageRefusedError,
    MessageRouter,
    OversizedRefusalError,
    check_envelope_ids,
)
from unseen.node.service import JobService
from unseen.runtime.spec import TOKEN_HEADER
from unseen.storage.repository import MetricPoint
from unseen.transport import peer_attestation
from unseen.transport.awaiting import AwaitableMailbox
from unseen.transport.delivery import Delivery, DeliveryFailedError
from unseen.transport.framing import CHUNK_SIZE, FramingError, decode_frame, header_of
from unseen.transport.gate import PeerGate
from unseen.transport.mailbox import MailboxClosedError, MailKey, ReceiveTimeoutError
from unseen.transport.methods import CONTROL_METHODS, control_handler, federation_handler, parse, task_channel_handler
from unseen.transport.peers import PeerError
from unseen.transport.proto import federation_pb2 as pb
from unseen.transport.shared_buffer import BodyWriter, BufferReader, SendBufferError
from unseen.transport.tls import CertificateError
from unseen.transport.trust import PeerTrust

log = logging.getLogger(__name__)
R = TypeVar("R")
Q = TypeVar("Q")


class PeerIdentity:
    """Which party a federation call comes from, proven by its client certificate.

    gRPC's handshake has accepted any client certificate that chains to one of the partners' anchors; here the
    certificate must also name a party and verify against that party's own anchor (``PeerTrust.caller_party``),
    so partner A's CA cannot vouch for a caller claiming to be partner B.
    """

    def __init__(self, trust: PeerTrust) -> None:
        self.trust = trust

    def __call__(self, context: grpc.ServicerContext) -> int:
        certs = context.auth_context().get("x509_pem_cert") or []
        if not certs:
            _abort(context, grpc.StatusCode.UNAUTHENTICATED, "no client certificate")
        try:
            party = self.trust.caller_party(certs[0])
        except (CertificateError, ValueError) as exc:
            log.warning("refused a call from %s: %s", ids.printable(context.peer() or "?"), exc)
            _abort(context, grpc.StatusCode.UNAUTHENTICATED, f"certificate refused: {exc}")
        attestation = peer_attestation.active()  # then its evidence, against the policy for that party
        refusal = attestation.refusal(party, certs[0]) if attestation is not None else None
        if refusal is not None:
            log.warning("refused a call from party %d: %s", party, refusal)
            _abort(context, grpc.StatusCode.PERMISSION_DENIED, refusal)
        return party


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, details: str) -> NoReturn:
    context.abort(code, details)
    raise AssertionError("context.abort returns only by raising")


def _guard(context: grpc.ServicerContext, action: Callable[[], R], caller: int | None = None) -> R:
    """Run ``action``, turning the federation's failures into gRPC statuses the other side can explain.
    ``caller`` is the proven party that sent the request, for the log line of a refusal."""
    try:
        return action()
    except OversizedRefusalError as exc:
        _abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
    except (MalformedMessageError, DeliveryFailedError) as exc:
        _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    except (FramingError, SendBufferError) as exc:
        log.warning("refused a malformed message%s: %s", f" from party {caller}" if caller else "", exc)
        _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    except MessageRefusedError as exc:
        _abort(context, grpc.StatusCode.PERMISSION_DENIED, str(exc))
    except PeerError as exc:
        _abort(context, exc.code or grpc.StatusCode.UNAVAILABLE, str(exc))
    except (ReceiveTimeoutError, TimeoutError) as exc:
        _abort(context, grpc.StatusCode.DEADLINE_EXCEEDED, str(exc))
    except MailboxClosedError as exc:
        _abort(context, grpc.StatusCode.CANCELLED, str(exc))


class FederationService:
    """Messages from other parties' nodes, streamed into this party's mailbox."""

    def __init__(self, router: MessageRouter, peer_party: PeerIdentity) -> None:
        self.peer_party = peer_party
        self.router = router

    def push(self, raw_frames: Iterator[bytes], context: grpc.ServicerContext) -> pb.Ack:
        party = self.peer_party(context)
        frames = map(decode_frame, raw_frames)  # decoded here, not by gRPC: a bad frame is a refusal, not a crash

        def receive() -> pb.Ack:
            envelope = header_of(frames)
            return pb.Ack(received=self.router.accept(envelope, frames, party))

        return _guard(context, receive, party)

    def push_one(self, raw: bytes, context: grpc.ServicerContext) -> pb.Ack:
        party = self.peer_party(context)

        def receive() -> pb.Ack:
            request = parse(pb.Small, raw)
            return pb.Ack(received=self.router.accept(request.header, [memoryview(request.data)], party))

        return _guard(context, receive, party)

    def handler(self, gate: PeerGate) -> grpc.GenericRpcHandler:
        """The methods as served: every call admitted and watched by ``gate``."""
        return federation_handler(gate.stream("Push", self.push), gate.unary("PushOne", self.push_one))


class ControlService:
    """Control calls from the job's initiator (and this node's own driver), decoded and handed to the job service."""

    def __init__(self, service: JobService, peer_party: PeerIdentity) -> None:
        self.service = service
        self.peer_party = peer_party

    def handler(self, gate: PeerGate) -> grpc.GenericRpcHandler:
        """The methods as served: every call admitted and watched by ``gate``, each decoding its own request
        (gRPC would log a traceback for bytes it cannot)."""

        def raw_handler(method: str, kind: type[Any]) -> Callable[[bytes, grpc.ServicerContext], Any]:
            def handle(raw: bytes, context: grpc.ServicerContext) -> Any:
                try:
                    request = parse(kind, raw)
                except FramingError as exc:
                    log.warning("refused %s from party %d: %s", method, self.peer_party(context), exc)
                    _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
                return self._handle(method, request, context)

            return handle

        return control_handler(
            {name: gate.unary(name, raw_handler(name, request)) for name, (request, _) in CONTROL_METHODS.items()}
        )

    def _handle(self, method: str, request: Any, context: grpc.ServicerContext) -> Any:
        party = self.peer_party(context)
        try:
            return self.service.handle(party, method, request)
        except ids.IdentifierError as exc:  # one line, not grpc's traceback and UNKNOWN
            log.warning("refused %s from party %d: %s", method, party, exc)
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))


class _RefusalError(Exception):
    """A call on the task channel ends with this status; raised where the synchronous code would abort."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _SyncContext:
    """What the task channel's synchronous code asks of its context, for a call that ``grpc.aio`` serves.

    That code runs in a pool thread, where the aio context's ``abort`` (a coroutine) cannot be awaited; here
    ``abort`` raises ``_RefusalError`` instead, and the handler on the event loop aborts the call with it.
    """

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self._context = context

    @classmethod
    def of(cls, context: grpc.aio.ServicerContext[Any, Any]) -> grpc.ServicerContext:
        return cast(grpc.ServicerContext, cls(context))

    def invocation_metadata(self) -> Any:
        return self._context.invocation_metadata()

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        raise _RefusalError(code, details)


class TaskChannelService:
    """A task's only door to the federation: it can send and receive as itself, in its own job, and nothing else."""

    def __init__(
        self, router: MessageRouter, executor: TaskExecutor, mailbox: AwaitableMailbox[Delivery], pool: Executor
    ) -> None:
        self.router = router
        self.executor = executor
        self.mailbox = mailbox
        self.pool = pool  # runs the blocking parts of calls: sends, body copies, metrics
        self.buffers = BufferReader()
        self.bodies = BodyWriter()
        executor.on_exit(self._forget_memory)

    def _forget_memory(self, identity: TaskIdentity) -> None:
        self.bodies.forget(identity.send_buffer)
        self.buffers.forget(identity.send_buffer)

    def handler(self) -> grpc.GenericRpcHandler:
        """The methods for a ``grpc.aio`` server: Recv awaits on the loop, the others run in ``pool``."""
        return task_channel_handler(
            self._in_pool(self.send_one), self._in_pool(self.send_shared), self.recv, self._in_pool(self.log_metrics)
        )

    def _in_pool(self, method: Callable[[Q, grpc.ServicerContext], R]) -> Callable[[Q, Any], Awaitable[R]]:
        async def handle(request: Q, context: grpc.aio.ServicerContext[Any, Any]) -> R:
            try:
                return await asyncio.get_running_loop().run_in_executor(
                    self.pool, method, request, _SyncContext.of(context)
                )
            except _RefusalError as refusal:
                await context.abort(refusal.code, refusal.details)
                raise AssertionError("context.abort returns only by raising") from None

        return handle

    def _identity(self, context: grpc.ServicerContext) -> TaskIdentity:
        token = dict(context.invocation_metadata()).get(TOKEN_HEADER, "")
        identity = self.executor.identity_for(str(token)) if token else None
        if identity is None:
            log.warning("refused a local call with a missing or unknown task token")
            _abort(context, grpc.StatusCode.UNAUTHENTICATED, "unknown task token")
        return identity

    def _check_sender(self, me: TaskIdentity, e: pb.Envelope) -> None:
        check_envelope_ids(e, me.me.party_id)
        claimed = (e.job_id, e.component, e.src_role, e.src_party)
        if claimed != (me.job_id, me.component, me.me.role.value, me.me.party_id):
            log.warning(
                "refused a message from task %s of job %s claiming to be %s:%d of %s/%s",
                me.me,
                me.job_id,
                e.src_role,
                e.src_party,
                e.job_id,
                e.component,
            )
            raise MessageRefusedError("a task may only send as itself, in its own job")
        problem = self.router.service.route_problem(e)
        if problem:
            log.warning("refused a message from task %s: %s", me.me, problem)
            raise MessageRefusedError(problem)

    def send_one(self, request: pb.Small, context: grpc.ServicerContext) -> pb.Ack:
        me = self._identity(context)

        def forward() -> pb.Ack:
            self._check_sender(me, request.header)
            return pb.Ack(received=self.router.forward(request.header, [memoryview(request.data)]))

        return _guard(context, forward)

    def send_shared(self, request: pb.SharedSend, context: grpc.ServicerContext) -> pb.Ack:
        """A large message whose body waits in the task's send buffer: streamed from there, not a socket."""
        me = self._identity(context)

        def forward() -> pb.Ack:
            envelope = request.header
            self._check_sender(me, envelope)
            size = envelope.payload.size
            if size > self.router.max_bytes:  # before mapping anything: the same bound as every message
                raise OversizedRefusalError(f"message of {size} bytes exceeds the {self.router.max_bytes}-byte limit")
            body = self.buffers.view(me.send_buffer, size)
            frames: Iterator[memoryview] = (body[start : start + CHUNK_SIZE] for start in range(0, size, CHUNK_SIZE))
            if envelope.dst_party == self.router.service.party_id:
                # Delivered in this node, the chunks outlive this call; the task reuses its buffer after it.
                frames = (memoryview(bytes(chunk)) for chunk in frames)
            return pb.Ack(received=self.router.forward(envelope, frames))

        return _guard(context, forward)

    async def recv(self, request: pb.RecvRequest, context: grpc.aio.ServicerContext[Any, Any]) -> pb.Small:
        """The next message for this task under a tag from a party: whole, or its envelope and the body in a file.

        The wait for the message is a future on the task channel's event loop, not a thread, so any number of
        tasks may wait at once. A body is handed over only once the whole message has passed the node's
        checks: one larger than a chunk is written into the task's receive file as it arrives (in a pool
        thread), and the task maps it only on this answer; a failed message ends the call with the node's
        reason instead.
        """
        shim = _SyncContext.of(context)
        try:
            me = self._identity(shim)
            try:
                ids.check_tag(request.tag)
                ids.check_role(request.src_role, "src_role")
                ids.check_party(request.src_party, "src_party")
            except ids.IdentifierError as exc:
                log.warning("refused a receive of task %s of job %s: %s", me.me, me.job_id, exc)
                raise _RefusalError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
            key = MailKey(
                me.job_id,
                me.component,
                request.tag,
                request.src_party,
                request.src_role,
                me.me.party_id,
                me.me.role.value,
            )
            timeout = request.timeout_s if request.timeout_s > 0 else self.router.service.config.recv_timeout_s
            try:
                delivery = await self.mailbox.wait(key, timeout)
            except ReceiveTimeoutError as exc:
                raise _RefusalError(grpc.StatusCode.DEADLINE_EXCEEDED, str(exc)) from None
            except MailboxClosedError as exc:
                raise _RefusalError(grpc.StatusCode.CANCELLED, str(exc)) from None
            if delivery.settled() and delivery.envelope.payload.size <= CHUNK_SIZE:
                # Whole and small: joining it never waits, and a thread hop costs more than the join.
                return self._hand_over(me, request, delivery, shim)
            pool = self.pool
            return await asyncio.get_running_loop().run_in_executor(pool, self._hand_over, me, request, delivery, shim)
        except _RefusalError as refusal:
            await context.abort(refusal.code, refusal.details)
            raise AssertionError("context.abort returns only by raising") from None

    def _hand_over(
        self, me: TaskIdentity, request: pb.RecvRequest, delivery: Delivery, context: grpc.ServicerContext
    ) -> pb.Small:
        chunks = delivery.chunks(self.router.service.config.send_timeout_s)
        size = delivery.envelope.payload.size
        if size <= CHUNK_SIZE:
            data = _guard(context, lambda: b"".join(chunks))
            return pb.Small(header=delivery.envelope, data=data)
        _guard(context, lambda: self.bodies.write(me.send_buffer, request.body_file, size, chunks))
        return pb.Small(header=delivery.envelope)

    def log_metrics(self, request: pb.MetricBatch, context: grpc.ServicerContext) -> pb.Ack:
        me = self._identity(context)
        try:
            points = [
                MetricPoint(m.name, m.step if m.step >= 0 else None, json.loads(m.value_json)) for m in request.metrics
            ]
        except json.JSONDecodeError as exc:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"metric value is not JSON: {exc}")
        self.router.service.store.add_metrics(me.job_id, me.component, me.me.role.value, me.me.party_id, points)
        return pb.Ack(received=len(points))
