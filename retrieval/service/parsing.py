"""Request bytes to messages, with the size limit and parse errors turned into statuses.

gRPC itself refuses a request over its receive limit before any Python code sees it (so the
refusal would be missing from the metrics and the request log), and reports bytes that do not
parse as INTERNAL or UNKNOWN. So the transport limit is set above ours (``transport_limit``) and
every request is checked here, on its raw bytes, before it is parsed:

- over ``--max-receive-bytes``: a ``RequestProblem`` standing in for the request, which
  ``ObservingInterceptor`` refuses with RESOURCE_EXHAUSTED (counted and logged like any call);
- bytes that are not a message of the method's type: INVALID_ARGUMENT, same path.

A handler without a request deserializer (what ``auth.py`` returns for a call it refuses) gets
the raw bytes unread: an unauthenticated caller learns nothing about the request it sent.
Services other than ``retrieval.v1.Retrieval`` (health, reflection) get the same checks from
``guard_handler``, which aborts the call itself.
"""

from __future__ import annotations

import inspect
from typing import Any, AsyncIterator, Callable

import grpc
from google.protobuf.message import DecodeError

from ..errors import QueryError, RetrievalError
from .config import MAX_MESSAGE_BYTES
from .errors import RequestTooLarge
from .status import status_for

Deserializer = Callable[[bytes], Any]


def transport_limit(max_receive_bytes: int) -> int:
    """gRPC's own receive limit: twice ours, so that what lies between is refused by us.

    Only a request over twice the limit is cut off by gRPC unread (``ObservingInterceptor``
    counts it in ``retrieval_requests_unread``); what a request may hold in memory stays bounded.
    """
    return min(MAX_MESSAGE_BYTES, 2 * max_receive_bytes)


class RequestProblem:
    """Stands in for a request that was refused before it was parsed."""

    def __init__(self, error: RetrievalError) -> None:
        self.error = error


def checked_deserializer(deserialize: Deserializer | None, max_bytes: int) -> Deserializer | None:
    """``deserialize`` that returns a ``RequestProblem`` for an oversized or unparsable request
    instead of raising (None stays None: such a handler takes the raw bytes, unread)."""
    if deserialize is None:
        return None

    def parse(data: bytes) -> Any:
        if len(data) > max_bytes:
            return RequestProblem(
                RequestTooLarge(f"the request is {len(data)} bytes, over this server's limit of {max_bytes}")
            )
        try:
            return deserialize(data)
        except (DecodeError, ValueError, UnicodeDecodeError) as exc:
            return RequestProblem(
                QueryError(f"the request is not a valid message for this method: {str(exc) or type(exc).__name__}")
            )

    return parse


def guard_handler(handler: grpc.RpcMethodHandler, max_bytes: int) -> grpc.RpcMethodHandler:
    """``handler`` (of a service outside ``retrieval.v1.Retrieval``) aborting with the right
    status when its request is oversized or unparsable, instead of UNKNOWN."""
    deserialize = checked_deserializer(handler.request_deserializer, max_bytes)
    serialize = handler.response_serializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_unary(handler.unary_unary), deserialize, serialize)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_unary_stream(handler.unary_stream), deserialize, serialize)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(_stream_unary(handler.stream_unary), deserialize, serialize)
    return grpc.stream_stream_rpc_method_handler(_stream_stream(handler.stream_stream), deserialize, serialize)


async def _refuse(problem: RequestProblem, context: grpc.aio.ServicerContext) -> None:
    code, message = status_for(problem.error)
    await context.abort(code, message)


def _unary(behavior: Callable[..., Any]) -> Callable[..., Any]:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, RequestProblem):
            await _refuse(request, context)
        return await behavior(request, context)

    return guarded


def _unary_stream(behavior: Callable[..., Any]) -> Callable[..., Any]:
    if not inspect.isasyncgenfunction(behavior):  # writes with context.write (health's Watch)
        return _unary(behavior)

    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        if isinstance(request, RequestProblem):
            await _refuse(request, context)
        async for message in behavior(request, context):
            yield message

    return guarded


def _checked_stream(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    async def checked() -> AsyncIterator[Any]:
        async for request in requests:
            if isinstance(request, RequestProblem):
                await _refuse(request, context)
            yield request

    return checked()


def _stream_unary(behavior: Callable[..., Any]) -> Callable[..., Any]:
    async def guarded(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        return await behavior(_checked_stream(requests, context), context)

    return guarded


def _stream_stream(behavior: Callable[..., Any]) -> Callable[..., Any]:
    if not inspect.isasyncgenfunction(behavior):  # writes with context.write
        return _stream_unary(behavior)

    async def guarded(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for message in behavior(_checked_stream(requests, context), context):
            yield message

    return guarded
