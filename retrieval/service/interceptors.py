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
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

import grpc

from .config import ServiceConfig
from .lifecycle import Lifecycle
from .parsing import RequestProblem, checked_deserializer, guard_handler
from .status import status_for

LOG = logging.getLogger("retrieval.service")
SERVICE_PREFIX = "/retrieval.v1.Retrieval/"
# The client's deadline fires a little before the server's copy of it (the server starts its
# clock when the call arrives): a cancel this close to the deadline is the deadline.
DEADLINE_SLACK_S = 0.1


@dataclass
class CallRecord:
    """What one call did; the servicer fills in the request's details as it learns them."""

    method: str
    peer: str
    code: str = "OK"
    details: dict[str, Any] = field(default_factory=dict)

    def note(self, **details: Any) -> None:
        self.details.update(details)

    def line(self, ms: float) -> str:
        record = {"method": self.method, "code": self.code, "ms": round(ms, 3), "k": None, "mode": None, "cached": False}
        record.update(self.details)
        record["peer"] = self.peer
        return json.dumps(record, ensure_ascii=False, default=str)


_CURRENT: contextvars.ContextVar[CallRecord | None] = contextvars.ContextVar("retrieval_service_call", default=None)


def current_call() -> CallRecord:
    """The record of the call being served (a throwaway one outside a call)."""
    record = _CURRENT.get()
    return record if record is not None else CallRecord("?", "?")


class ObservingInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        lifecycle: Lifecycle,
        metrics: Any = None,
        logger: logging.Logger = LOG,
        max_receive_bytes: int = ServiceConfig.max_receive_bytes,
    ) -> None:
        self.lifecycle = lifecycle
        self.metrics = metrics
        self.logger = logger
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
                    self.lifecycle.exit()
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
                    self.lifecycle.exit()
            except BaseException as exc:
                await self._fail(call, exc, context)
                raise
            finally:
                self._end(call)

        return observed

    # -- steps ------------------------------------------------------------------------------

    def _begin(self, method: str, context: grpc.aio.ServicerContext) -> "_Call":
        record = CallRecord(method, context.peer())
        _CURRENT.set(record)  # each call runs in its own task: nothing leaks to the next call
        if self.metrics is not None:
            self.metrics.inflight.inc()
        return _Call(record, time.perf_counter_ns())

    def _enter(self, request: Any) -> None:
        self.lifecycle.enter()
        if isinstance(request, RequestProblem):
            self.lifecycle.exit()
            raise request.error

    async def _fail(self, call: "_Call", exc: BaseException, context: grpc.aio.ServicerContext) -> None:
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
        code, message = status_for(exc)
        call.record.code = code.name
        if code is grpc.StatusCode.INTERNAL:
            self.logger.error("unexpected error in %s", call.record.method, exc_info=exc)
        else:
            call.record.note(error=message)
        self._end(call)  # before abort: the client may see the status before abort returns
        await context.abort(code, message)  # raises AbortError in place of exc

    def _end(self, call: "_Call") -> None:
        if call.ended:
            return
        call.ended = True
        ms = (time.perf_counter_ns() - call.started_ns) / 1e6
        if self.metrics is not None:
            self.metrics.inflight.dec()
            self.metrics.request(call.record.method, call.record.code, ms)
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info(call.record.line(ms))


@dataclass
class _Arrival:
    arrived: bool = False  # the request arrived and the call began


@dataclass
class _Call:
    record: CallRecord
    started_ns: int
    ended: bool = False

