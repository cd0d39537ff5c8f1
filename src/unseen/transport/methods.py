"""The federation's and the task channel's gRPC methods, wired by hand rather than by generated stubs.

Method paths and message layouts are exactly those of federation.proto, so the wire is what the schema
says; only the Python side differs: the streamed Push's data frames skip the protobuf object model (see
``framing``). On the federation port every method, unary ones included, is served as a client stream so
that ``transport.gate`` can watch the wait for its request (a client sees no difference). Control's clients
keep the generated stubs.

A server never lets gRPC decode what a peer sends: gRPC logs a traceback for a request its deserializer
cannot read and answers INTERNAL. Peers' bytes reach the handlers raw, and the handlers decode them with
``parse`` and ``decode_frame``, whose ``FramingError`` the node answers as INVALID_ARGUMENT in one log line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message

from unseen.transport.framing import FramingError, encode_frame
from unseen.transport.proto import federation_pb2 as pb

FEDERATION = "unseen.federation.v1.Federation"
CONTROL = "unseen.federation.v1.Control"
TASK_CHANNEL = "unseen.federation.v1.TaskChannel"
# Control's methods: request type, reply type (as federation.proto says)
CONTROL_METHODS: dict[str, tuple[Any, Any]] = {
    "Propose": (pb.JobProposal, pb.ProposalReply),
    "StartTask": (pb.TaskRef, pb.TaskReply),
    "QueryTasks": (pb.JobRef, pb.TaskStates),
    "EndJob": (pb.JobEnd, pb.TaskReply),
    "QueryJob": (pb.JobRef, pb.JobEnd),
}

M = TypeVar("M", bound=Message)

RawPushHandler = Callable[[Iterator[bytes], grpc.ServicerContext], pb.Ack]
RawStreamedHandler = Callable[[Iterator[bytes], grpc.ServicerContext], Any]
# The task channel is served by grpc.aio: its behaviours are coroutines (request, aio context) -> reply.
TaskHandler = Callable[[Any, Any], Awaitable[Any]]


def push_method(channel: grpc.Channel) -> Any:
    return channel.stream_unary(
        f"/{FEDERATION}/Push", request_serializer=encode_frame, response_deserializer=pb.Ack.FromString
    )


def push_one_method(channel: grpc.Channel) -> Any:
    return channel.unary_unary(
        f"/{FEDERATION}/PushOne", request_serializer=pb.Small.SerializeToString, response_deserializer=pb.Ack.FromString
    )


def send_one_method(channel: grpc.Channel) -> Any:
    return channel.unary_unary(
        f"/{TASK_CHANNEL}/SendOne",
        request_serializer=pb.Small.SerializeToString,
        response_deserializer=pb.Ack.FromString,
    )


def send_shared_method(channel: grpc.Channel) -> Any:
    return channel.unary_unary(
        f"/{TASK_CHANNEL}/SendShared",
        request_serializer=pb.SharedSend.SerializeToString,
        response_deserializer=pb.Ack.FromString,
    )


def recv_method(channel: grpc.Channel) -> Any:
    return channel.unary_unary(
        f"/{TASK_CHANNEL}/Recv",
        request_serializer=pb.RecvRequest.SerializeToString,
        response_deserializer=pb.Small.FromString,
    )


def log_metrics_method(channel: grpc.Channel) -> Any:
    return channel.unary_unary(
        f"/{TASK_CHANNEL}/LogMetrics",
        request_serializer=pb.MetricBatch.SerializeToString,
        response_deserializer=pb.Ack.FromString,
    )


def _one(handler: TaskHandler) -> grpc.RpcMethodHandler:
    return grpc.unary_unary_rpc_method_handler(
        handler, request_deserializer=pb.Small.FromString, response_serializer=pb.Ack.SerializeToString
    )


def parse(kind: type[M], raw: bytes) -> M:
    """A peer's request bytes as a ``kind`` message; ``FramingError`` if they are not one."""
    try:
        return kind.FromString(raw)
    except DecodeError as exc:
        raise FramingError(f"request is not a {kind.__name__}: {exc}") from None


def federation_handler(push: RawPushHandler, push_one: RawStreamedHandler) -> grpc.GenericRpcHandler:
    """Both served as client streams of raw bytes: Push's frames (decode each with ``decode_frame``), and
    PushOne's one ``Small`` (decode it with ``parse``)."""
    return grpc.method_handlers_generic_handler(
        FEDERATION,
        {
            "Push": grpc.stream_unary_rpc_method_handler(push, response_serializer=pb.Ack.SerializeToString),
            "PushOne": grpc.stream_unary_rpc_method_handler(push_one, response_serializer=pb.Ack.SerializeToString),
        },
    )


def control_handler(handlers: dict[str, RawStreamedHandler]) -> grpc.GenericRpcHandler:
    """Control's unary methods, each served as a client stream of raw bytes (see the module's docstring)."""
    return grpc.method_handlers_generic_handler(
        CONTROL,
        {
            name: grpc.stream_unary_rpc_method_handler(handlers[name], response_serializer=reply.SerializeToString)
            for name, (_request, reply) in CONTROL_METHODS.items()
        },
    )


def task_channel_handler(
    send_one: TaskHandler, send_shared: TaskHandler, recv: TaskHandler, log_metrics: TaskHandler
) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        TASK_CHANNEL,
        {
            "SendOne": _one(send_one),
            "SendShared": grpc.unary_unary_rpc_method_handler(
                send_shared, request_deserializer=pb.SharedSend.FromString, response_serializer=pb.Ack.SerializeToString
            ),
            "Recv": grpc.unary_unary_rpc_method_handler(
                recv, request_deserializer=pb.RecvRequest.FromString, response_serializer=pb.Small.SerializeToString
            ),
            "LogMetrics": grpc.unary_unary_rpc_method_handler(
                log_metrics,
                request_deserializer=pb.MetricBatch.FromString,
                response_serializer=pb.Ack.SerializeToString,
            ),
        },
    )
