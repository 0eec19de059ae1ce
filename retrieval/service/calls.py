"""What every call of the service goes through, whatever carried it (gRPC or HTTP/JSON).

``CallObserver`` is the one place a call is counted in and out (``Lifecycle``), timed, given its
status (``status.py``), counted in the metrics and logged as one JSON line on the
``retrieval.service`` logger. The gRPC interceptor and the HTTP gateway are thin shells around
it, so both transports report the same codes, metrics and request log.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import grpc

from .. import tracing
from .lifecycle import Lifecycle
from .parsing import RequestProblem
from .status import status_for

LOG = logging.getLogger("retrieval.service")


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


@dataclass
class Call:
    record: CallRecord
    started_ns: int
    span: tracing.ServerSpan | None = None  # None: tracing is off
    ended: bool = False


class CallObserver:
    """Begin, admit, fail and end calls (see the module docstring)."""

    def __init__(self, lifecycle: Lifecycle, metrics: Any = None, logger: logging.Logger = LOG) -> None:
        self.lifecycle = lifecycle
        self.metrics = metrics
        self.logger = logger

    def begin(
        self,
        method: str,
        peer: str,
        carrier: Callable[[], Mapping[str, str]] = dict,
        transport: str = "grpc",
    ) -> Call:
        """``carrier``: the call's metadata or headers, read only when tracing (``traceparent``).
        A call not over gRPC says which transport it came by in its log line."""
        record = CallRecord(method, peer, details={} if transport == "grpc" else {"transport": transport})
        _CURRENT.set(record)  # each call runs in its own task: nothing leaks to the next call
        if self.metrics is not None:
            self.metrics.inflight.inc()
        return Call(record, time.perf_counter_ns(), tracing.begin_server_span(method, carrier, transport))

    def enter(self, request: Any = None) -> None:
        """Count the call in (``NotServing`` while warming or draining); a request that could
        not be read is refused here, after the count, so it is logged like any other call."""
        self.lifecycle.enter()
        if isinstance(request, RequestProblem):
            self.lifecycle.exit()
            raise request.error

    def exit(self) -> None:
        self.lifecycle.exit()

    def failed(self, call: Call, exc: BaseException) -> tuple[grpc.StatusCode, str]:
        """Record ``exc`` as the call's outcome; the status code and message the client gets."""
        code, message = status_for(exc)
        call.record.code = code.name
        if code is grpc.StatusCode.INTERNAL:
            self.logger.error("unexpected error in %s", call.record.method, exc_info=exc)
        else:
            call.record.note(error=message)
        return code, message

    def end(self, call: Call) -> None:
        if call.ended:
            return
        call.ended = True
        ms = (time.perf_counter_ns() - call.started_ns) / 1e6
        if call.span is not None:
            call.span.end(call.record.code)
        if self.metrics is not None:
            self.metrics.inflight.dec()
            self.metrics.request(call.record.method, call.record.code, ms)
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info(call.record.line(ms))
