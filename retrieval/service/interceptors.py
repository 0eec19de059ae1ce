"""The observing interceptor: status codes, metrics and one log line for every Retrieval call.

Every call of ``retrieval.v1.Retrieval`` passes through here (health and reflection do not):

- it is counted in (``Lifecycle.enter``: UNAVAILABLE while warming up or draining) and out;
- an exception becomes the right status (``status.py``): the servicer stays free of
  ``context.abort`` and bad input never surfaces as INTERNAL or UNKNOWN;
- a request over ``--max-receive-bytes`` is RESOURCE_EXHAUSTED and one whose bytes do not parse
  is INVALID_ARGUMENT (``parsing.py``), counted and logged like every other call; calls of the
  other services (health, reflection) get the same two checks, without the counting; a call that
  ends before its request arrives (over gRPC's own limit) is counted as unread;
- the request counter, latency and in-flight gauge are updated, and one JSON line is logged on
  the ``retrieval.service`` logger: method, code, ms, k, mode, cached, peer (+ what the
  servicer adds to the call's ``CallRecord``).

The counting, status, metrics and log are ``calls.CallObserver``'s, shared with the HTTP gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable

import grpc

from .calls import LOG, Call, CallObserver
from .config import ServiceConfig
from .lifecycle import Lifecycle
from .parsing import checked_deserializer, guard_handler

SERVICE_PREFIX = "/retrieval.v1.Retrieval/"
# The client's deadline fires a little before the server's copy of it (the server starts its
# clock when the call arrives): a cancel this close to the deadline is the deadline.
DEADLINE_SLACK_S = 0.1


class ObservingInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        lifecycle: Lifecycle,
        metrics: Any = None,
        logger: logging.Logger = LOG,
        max_receive_bytes: int = ServiceConfig.max_receive_bytes,
    ) -> None:
        self.observer = CallObserver(lifecycle, metrics, logger)
        self.metrics = metrics
        self.max_receive_bytes = max_receive_bytes

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        full_name = handler_call_details.method
        if handler is None:
            return handler
        if not full_name.startswith(SERVICE_PREFIX):
            return guard_handler(handler, self.max_receive_bytes)
        method = full_name[len(SERVICE_PREFIX):]
        arrival = self._watch_arrival(method)
        deserialize = checked_deserializer(handler.request_deserializer, self.max_receive_bytes)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary, arrival), deserialize, handler.response_serializer
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(method, handler.unary_stream, arrival), deserialize, handler.response_serializer
            )
        return handler  # no client-streaming methods in this service

    def _watch_arrival(self, method: str) -> "_Arrival":
        """Counts the call as unread if it ends before its request arrives: gRPC cut off a
        request over its own limit (twice ours), or the client cancelled before sending it.
        This runs in the call's own task, which ends when the call does."""
        arrival = _Arrival()
        task = asyncio.current_task()
        if task is not None and self.metrics is not None:
            metrics = self.metrics
            task.add_done_callback(lambda _: arrival.arrived or metrics.unread(method))
        return arrival

    def _unary(
        self, method: str, behavior: Callable[..., Awaitable[Any]], arrival: "_Arrival"
    ) -> Callable[..., Awaitable[Any]]:
        async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            arrival.arrived = True
            call = self._begin(method, context)
            try:
                self._enter(request)
                try:
                    return await behavior(request, context)
                finally:
                    self.observer.exit()
            except BaseException as exc:
                await self._fail(call, exc, context)
                raise
            finally:
                self._end(call)

        return observed

    def _streaming(
        self, method: str, behavior: Callable[..., AsyncIterator[Any]], arrival: "_Arrival"
    ) -> Callable[..., AsyncIterator[Any]]:
        async def observed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            arrival.arrived = True
            call = self._begin(method, context)
            try:
                self._enter(request)
                try:
                    # Closing this generator (the client went away) closes the servicer's at once.
                    async with contextlib.aclosing(behavior(request, context)) as messages:
                        async for message in messages:
                            yield message
                finally:
                    self.observer.exit()
            except BaseException as exc:
                await self._fail(call, exc, context)
                raise
            finally:
                self._end(call)

        return observed

    # -- steps ------------------------------------------------------------------------------

    def _begin(self, method: str, context: grpc.aio.ServicerContext) -> Call:
        return self.observer.begin(method, context.peer(), lambda: dict(context.invocation_metadata() or ()))

    def _enter(self, request: Any) -> None:
        self.observer.enter(request)

    async def _fail(self, call: Call, exc: BaseException, context: grpc.aio.ServicerContext) -> None:
        """Record the outcome; abort with the mapped status unless gRPC already has one."""
        if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
            remaining = context.time_remaining()
            expired = remaining is not None and remaining <= DEADLINE_SLACK_S
            call.record.code = "DEADLINE_EXCEEDED" if expired else "CANCELLED"
            return
        if isinstance(exc, grpc.aio.AbortError):  # aborted further in: not by this code base
            code = context.code()
            call.record.code = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
            return
        code, message = self.observer.failed(call, exc)
        self._end(call)  # before abort: the client may see the status before abort returns
        await context.abort(code, message)  # raises AbortError in place of exc

    def _end(self, call: Call) -> None:
        self.observer.end(call)


@dataclass
class _Arrival:
    arrived: bool = False  # the request arrived and the call began
