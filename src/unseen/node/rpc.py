"""The node's gRPC services: Federation and Control for peers (mutual TLS), TaskChannel for its own tasks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any, TypeVar

import grpc

from unseen.node.executor import TaskExecutor, TaskIdentity
from unseen.node.messaging import MalformedMessageError, MessageRefusedError, MessageRouter, mail_key
from unseen.node.service import JobService
from unseen.runtime.spec import TOKEN_HEADER
from unseen.storage.repository import MetricPoint
from unseen.transport.framing import FramingError, OversizedMessageError, assemble, to_chunks
from unseen.transport.mailbox import MailboxClosedError, MailKey, ReceiveTimeoutError
from unseen.transport.peers import PeerError
from unseen.transport.proto import federation_pb2 as pb
from unseen.transport.proto import federation_pb2_grpc as pb_grpc
from unseen.transport.tls import CertificateError, party_id_of

log = logging.getLogger(__name__)
R = TypeVar("R")


@lru_cache(maxsize=256)
def _party_of_pem(pem: bytes) -> int:
    return party_id_of(pem)


def peer_party(context: grpc.ServicerContext) -> int:
    """The party the caller's verified TLS certificate names; aborts the call if there is none."""
    certs = context.auth_context().get("x509_pem_cert") or []
    if not certs:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "no client certificate")
    try:
        return _party_of_pem(certs[0])
    except (CertificateError, ValueError) as exc:
        log.warning("refused a peer whose certificate names no party: %s", exc)
        context.abort(grpc.StatusCode.UNAUTHENTICATED, f"certificate names no party: {exc}")
        raise  # unreachable: abort raises


def _receive(chunks: Iterator[pb.Chunk], limit: int, context: grpc.ServicerContext, who: str) -> Any:
    try:
        return assemble(chunks, limit)
    except OversizedMessageError as exc:
        log.warning("refused an oversized message from %s: %s", who, exc)
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
    except FramingError as exc:
        log.warning("refused a malformed message from %s: %s", who, exc)
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))


class FederationService(pb_grpc.FederationServicer):
    def __init__(self, router: MessageRouter) -> None:
        self.router = router

    def Push(self, request_iterator: Iterator[pb.Chunk], context: grpc.ServicerContext) -> pb.Ack:  # noqa: N802
        party = peer_party(context)
        message = _receive(request_iterator, self.router.service.config.max_message_bytes, context, f"party {party}")
        try:
            self.router.accept(message, party)
        except MalformedMessageError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except MessageRefusedError as exc:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        return pb.Ack(received=len(message.body))


class ControlService(pb_grpc.ControlServicer):
    def __init__(self, service: JobService) -> None:
        self.service = service

    def _handle(self, method: str, request: Any, context: grpc.ServicerContext) -> Any:
        return self.service.handle(peer_party(context), method, request)

    def Propose(self, request: pb.JobProposal, context: grpc.ServicerContext) -> pb.ProposalReply:  # noqa: N802
        return self._handle("Propose", request, context)  # type: ignore[no-any-return]

    def StartTask(self, request: pb.TaskRef, context: grpc.ServicerContext) -> pb.TaskReply:  # noqa: N802
        return self._handle("StartTask", request, context)  # type: ignore[no-any-return]

    def QueryTasks(self, request: pb.JobRef, context: grpc.ServicerContext) -> pb.TaskStates:  # noqa: N802
        return self._handle("QueryTasks", request, context)  # type: ignore[no-any-return]

    def EndJob(self, request: pb.JobEnd, context: grpc.ServicerContext) -> pb.TaskReply:  # noqa: N802
        return self._handle("EndJob", request, context)  # type: ignore[no-any-return]


class TaskChannelService(pb_grpc.TaskChannelServicer):
    """A task's only door to the federation: it can send and receive as itself, in its own job, and nothing else."""

    def __init__(self, router: MessageRouter, executor: TaskExecutor) -> None:
        self.router = router
        self.executor = executor

    def _identity(self, context: grpc.ServicerContext) -> TaskIdentity:
        token = dict(context.invocation_metadata()).get(TOKEN_HEADER, "")
        identity = self.executor.identity_for(str(token)) if token else None
        if identity is None:
            log.warning("refused a local call with a missing or unknown task token")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown task token")
        assert identity is not None
        return identity

    def Send(self, request_iterator: Iterator[pb.Chunk], context: grpc.ServicerContext) -> pb.Ack:  # noqa: N802
        me = self._identity(context)
        message = _receive(request_iterator, self.router.service.config.max_message_bytes, context, f"task {me.me}")
        e = message.envelope
        if (e.job_id, e.component, e.src_role, e.src_party) != (
            me.job_id,
            me.component,
            me.me.role.value,
            me.me.party_id,
        ):
            log.warning(
                "refused a message from task %s of job %s claiming to be %s:%d of %s/%s",
                me.me,
                me.job_id,
                e.src_role,
                e.src_party,
                e.job_id,
                e.component,
            )
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "a task may only send as itself, in its own job")
        problem = self.router.service.route_problem(e)
        if problem:
            log.warning("refused a message from task %s: %s", me.me, problem)
            context.abort(grpc.StatusCode.PERMISSION_DENIED, problem)
        return _guard(context, lambda: self._forward(message))

    def _forward(self, message: Any) -> pb.Ack:
        self.router.forward(message)
        return pb.Ack(received=len(message.body))

    def Recv(self, request: pb.RecvRequest, context: grpc.ServicerContext) -> Iterator[pb.Chunk]:  # noqa: N802
        me = self._identity(context)
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
        message = _guard(context, lambda: self.router.mailbox.get(key, timeout))
        assert mail_key(message) == key
        yield from to_chunks(message.envelope, message.body)

    def LogMetrics(self, request: pb.MetricBatch, context: grpc.ServicerContext) -> pb.Ack:  # noqa: N802
        import json

        me = self._identity(context)
        try:
            points = [
                MetricPoint(m.name, m.step if m.step >= 0 else None, json.loads(m.value_json)) for m in request.metrics
            ]
        except json.JSONDecodeError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"metric value is not JSON: {exc}")
        self.router.service.store.add_metrics(me.job_id, me.component, me.me.role.value, me.me.party_id, points)
        return pb.Ack(received=len(points))


def _guard(context: grpc.ServicerContext, action: Callable[[], R]) -> R:
    """Run ``action``, turning the federation's failures into gRPC statuses the task can explain."""
    try:
        return action()
    except MalformedMessageError as exc:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    except MessageRefusedError as exc:
        context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
    except PeerError as exc:
        context.abort(grpc.StatusCode.UNAVAILABLE if exc.code is None else exc.code, str(exc))
    except ReceiveTimeoutError as exc:
        context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, str(exc))
    except MailboxClosedError as exc:
        context.abort(grpc.StatusCode.CANCELLED, str(exc))
    raise AssertionError("unreachable")
