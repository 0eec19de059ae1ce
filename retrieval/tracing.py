"""OpenTelemetry spans for every stage of a search or an answer; off and free when not configured.

Tracing is on when ``opentelemetry`` is installed and the application has set a tracer
provider (``trace.set_tracer_provider(...)``, or the OpenTelemetry distro's auto-configuration).
Otherwise nothing here does more than read one global per request.

Stage spans are made from the timings the engine already takes: ``StageClock.lap("bm25")``
records the stage's milliseconds (what results report in ``timings``) and, when tracing, a span
named ``bm25`` with the same start and end under the current span. So the spans and the
reported timings can never disagree, and a stage costs a span only when someone reads them.
Inside a ``span(...)`` block the stage spans are made when the block ends, in one go: the SDK's
Python work (tens of microseconds a span) then runs in one tight loop instead of between the
native stages, which measured about half the overhead on hybrid searches.

    retrieval.search            (BundleView.search: one per query; mode, k, hits)
      analyze, bm25, embed, dense, fuse, fetch, filter
    retrieval.prepare           (Answerer.prepare)
      prompt_room, retrieval.search, limit, compress, prompt
    prefill, decode             (when an answer stream ends, under the span it was started in)
    retrieval.v1.Retrieval/M    (the service: one SERVER span per call, its parent taken from the
                                 W3C ``traceparent`` in gRPC metadata or HTTP headers)
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from typing import Any, Callable, Iterator, Mapping

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate as otel_propagate
    from opentelemetry import trace as otel_trace
except ImportError:  # not installed: tracing stays off
    otel_trace = None  # type: ignore[assignment]

INSTRUMENTATION = "retrieval"
_OFF_PROVIDERS: tuple[type, ...] = (
    (otel_trace.ProxyTracerProvider, otel_trace.NoOpTracerProvider) if otel_trace is not None else ()
)
# The last provider seen and its tracer (get_tracer is not free). Held, not keyed by id(): a
# replaced provider's id can be reused by the next one.
_cached: tuple[Any, Any] = (None, None)
# Inside span(...): the stages lapped meanwhile, as (name, start, end) epoch ns, made at its end.
_PENDING: contextvars.ContextVar[list[tuple[str, int, int]] | None] = contextvars.ContextVar(
    "retrieval_stage_spans", default=None
)


class _Discard(list):  # type: ignore[type-arg]
    """The stages of a span the sampler dropped: none of them would be exported either."""

    def append(self, item: Any) -> None:
        pass


_DISCARD = _Discard()


def active_tracer() -> Any:
    """The tracer to record with, or None when tracing is off (the common, free case)."""
    if otel_trace is None:
        return None
    provider = otel_trace.get_tracer_provider()
    if isinstance(provider, _OFF_PROVIDERS):
        return None
    global _cached
    cached_provider, tracer = _cached
    if cached_provider is not provider:
        from . import __version__

        tracer = provider.get_tracer(INSTRUMENTATION, __version__)
        _cached = (provider, tracer)
    return tracer


class StageClock:
    """Milliseconds per stage, in the order they ran; a span per stage when tracing is on."""

    __slots__ = ("stages", "_last", "_tracer", "_epoch")

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self._tracer = active_tracer()
        self._last = time.perf_counter_ns()
        # Spans take wall-clock (epoch) times: one offset per clock, not one clock read per lap.
        self._epoch = time.time_ns() - self._last if self._tracer is not None else 0

    def lap(self, stage: str, traced: bool = True) -> float:
        """End ``stage`` now (it began at the previous lap); its milliseconds. ``traced=False``:
        no span (the stage has a span of its own, e.g. a search inside an answer)."""
        now = time.perf_counter_ns()
        elapsed = now - self._last
        ms = elapsed / 1e6
        self.stages[stage] = self.stages.get(stage, 0.0) + ms
        if traced and self._tracer is not None:
            end = now + self._epoch
            pending = _PENDING.get()
            if pending is not None:
                pending.append((stage, end - elapsed, end))
            else:
                record_span(self._tracer, stage, elapsed, end)
            now = time.perf_counter_ns()  # the span's own cost belongs to no stage
        self._last = now
        return ms


def record_span(tracer: Any, name: str, elapsed_ns: int, end_ns: int | None = None, parent: Any = None) -> None:
    """A span ``name`` that ended at ``end_ns`` (epoch ns; now if None) after ``elapsed_ns``."""
    end = time.time_ns() if end_ns is None else end_ns
    # No attributes: the name is the stage, and every attribute costs the SDK a few microseconds.
    tracer.start_span(name, context=parent, start_time=end - elapsed_ns).end(end_time=end)


def record_stage(name: str, elapsed_ns: int, end_ns: int | None = None, parent: Any = None) -> None:
    """``record_span`` with the active tracer, if any (for stages timed outside a ``StageClock``)."""
    tracer = active_tracer()
    if tracer is not None:
        record_span(tracer, name, elapsed_ns, end_ns, parent)


@contextlib.contextmanager
def _span(tracer: Any, name: str, attributes: Mapping[str, Any]) -> Iterator[Any]:
    # start_span + attach rather than start_as_current_span: the same span, fewer layers per call.
    span = tracer.start_span(name, attributes=attributes)
    context = otel_trace.set_span_in_context(span)
    token = otel_context.attach(context)
    stages: list[tuple[str, int, int]] = [] if span.is_recording() else _DISCARD
    collecting = _PENDING.set(stages)
    try:
        yield span
    except BaseException as exc:
        span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        _PENDING.reset(collecting)
        otel_context.detach(token)
        for stage, start, end in stages:
            tracer.start_span(stage, context=context, start_time=start).end(end_time=end)
        span.end()


_NO_SPAN = contextlib.nullcontext(None)


def span(name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """A span around a block, current inside it (yields the span, or None when off); the
    stages lapped inside become its children when it ends."""
    tracer = active_tracer()
    if tracer is None:
        return _NO_SPAN
    return _span(tracer, name, attributes)


def set_attributes(span_or_none: Any, **attributes: Any) -> None:
    if span_or_none is not None:
        span_or_none.set_attributes(attributes)


def current_context() -> Any:
    """The current trace context (to parent spans recorded later, elsewhere), or None when off."""
    return otel_context.get_current() if active_tracer() is not None else None


# -- the service ------------------------------------------------------------------------------


class ServerSpan:
    """The SERVER span of one service call, current in the call's task until ``end``."""

    __slots__ = ("span", "_token")

    def __init__(self, span: Any, token: Any) -> None:
        self.span = span
        self._token = token

    def end(self, code: str) -> None:
        self.span.set_attribute("rpc.grpc.status_code", code)
        if code != "OK":
            self.span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, code))
        self.span.end()
        otel_context.detach(self._token)


def begin_server_span(method: str, carrier: Callable[[], Mapping[str, str]], transport: str) -> ServerSpan | None:
    """Start the call's span under the caller's trace (W3C ``traceparent`` in ``carrier()``);
    None when tracing is off (``carrier`` is then never called)."""
    tracer = active_tracer()
    if tracer is None:
        return None
    parent = otel_propagate.extract(carrier())
    span = tracer.start_span(
        f"retrieval.v1.Retrieval/{method}",
        context=parent,
        kind=otel_trace.SpanKind.SERVER,
        attributes={"rpc.system": "grpc" if transport == "grpc" else "http", "rpc.method": method,
                    "rpc.service": "retrieval.v1.Retrieval", "retrieval.transport": transport},
    )  # fmt: skip
    token = otel_context.attach(otel_trace.set_span_in_context(span, parent))
    return ServerSpan(span, token)
