"""OpenTelemetry spans: one per stage in the library and the service, under the caller's trace.

The SDK's in-memory exporter collects them. The tracer provider is swapped in per test (and
out again after), so every other test runs with tracing off, as a user without OpenTelemetry.
"""

from __future__ import annotations

import asyncio
from typing import Iterator

import httpx
import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from retrieval import tracing
from retrieval.answer import Answerer
from retrieval.service.protos import retrieval_pb2 as pb

from .harness import ServerThread, wait_for

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture()
def spans(monkeypatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(otel_trace, "get_tracer_provider", lambda: provider)
    yield exporter
    provider.shutdown()


@pytest.fixture(scope="module")
def traced_server(engine, generator) -> Iterator[ServerThread]:
    with ServerThread(engine, generator=generator, http_port=0, result_cache_size=0) as running:
        yield running


def _by_name(exporter: InMemorySpanExporter) -> dict[str, list]:
    named: dict[str, list] = {}
    for span in exporter.get_finished_spans():
        named.setdefault(span.name, []).append(span)
    return named


def _children(exporter: InMemorySpanExporter, parent) -> list[str]:
    """The names of ``parent``'s children, in the order they started."""
    children = [s for s in exporter.get_finished_spans() if s.parent is not None and s.parent.span_id == parent.context.span_id]
    return [s.name for s in sorted(children, key=lambda s: s.start_time)]


# -- off ----------------------------------------------------------------------------------------


def test_off_when_no_provider_is_configured(engine, monkeypatch) -> None:
    assert tracing.active_tracer() is None
    assert tracing.current_context() is None

    def no_spans(*args, **kwargs):
        raise AssertionError("a span was recorded with tracing off")

    monkeypatch.setattr(tracing, "record_span", no_spans)
    result = engine.search("how do I parse json", k=3, mode="hybrid")
    assert result.hits and set(result.timings.stages) == {"analyze", "bm25", "embed", "dense", "fuse", "fetch"}


# -- the library --------------------------------------------------------------------------------


def test_a_search_the_sampler_drops_makes_no_stage_spans(engine, monkeypatch) -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(otel_trace, "get_tracer_provider", lambda: provider)
    made = []
    real_start = provider.get_tracer("x").__class__.start_span

    def counting(self, name, *args, **kwargs):
        made.append(name)
        return real_start(self, name, *args, **kwargs)

    monkeypatch.setattr(provider.get_tracer("x").__class__, "start_span", counting)
    result = engine.search("how do I parse json", k=3, mode="hybrid")
    assert result.hits and "embed" in result.timings.stages
    assert made == ["retrieval.search"] and exporter.get_finished_spans() == ()




def test_a_search_is_a_span_with_one_child_per_stage(engine, spans) -> None:
    result = engine.search("how do I parse json", k=3, mode="hybrid", filters={"group": ["a"]})
    named = _by_name(spans)
    (search,) = named["retrieval.search"]
    assert search.attributes["retrieval.mode"] == "hybrid" and search.attributes["retrieval.k"] == 3
    assert search.attributes["retrieval.hits"] == len(result.hits)
    stages = ["filter", "analyze", "bm25", "embed", "dense", "fuse", "fetch"]
    assert _children(spans, search) == stages
    # The spans are the reported timings: same durations, to the nanosecond's rounding.
    for stage in stages:
        (span,) = named[stage]
        assert (span.end_time - span.start_time) / 1e6 == pytest.approx(result.timings.stages[stage], abs=1e-3)
        assert search.start_time <= span.start_time <= span.end_time <= search.end_time


def test_a_search_joins_the_callers_trace(engine, spans) -> None:
    tracer = otel_trace.get_tracer_provider().get_tracer("app")
    with tracer.start_as_current_span("app request") as app:
        engine.search("regular expression", k=2, mode="bm25")
    (search,) = _by_name(spans)["retrieval.search"]
    assert search.parent.span_id == app.get_span_context().span_id
    assert search.context.trace_id == app.get_span_context().trace_id
    assert _children(spans, search) == ["analyze", "bm25", "fetch"]


def test_an_answer_traces_its_preparation_and_generation(engine, generator, spans) -> None:
    answerer = Answerer(engine, generator, budget_tokens=60)
    tracer = otel_trace.get_tracer_provider().get_tracer("app")

    async def ask():
        with tracer.start_as_current_span("app answer") as app:
            answer = await answerer.answer("What does the json module do?", max_tokens=4)
        return app, answer

    app, answer = asyncio.run(ask())
    named = _by_name(spans)
    (prepare,) = named["retrieval.prepare"]
    assert prepare.parent.span_id == app.get_span_context().span_id
    assert _children(spans, prepare) == ["prompt_room", "retrieval.search", "limit", "compress", "prompt"]
    (prefill,), (decode,) = named["prefill"], named["decode"]
    assert prefill.parent.span_id == decode.parent.span_id == app.get_span_context().span_id
    assert prefill.end_time == decode.start_time and prefill.start_time >= prepare.end_time - 1_000_000
    assert (decode.end_time - decode.start_time) / 1e6 == pytest.approx(answer.metrics.timings_ms["decode"], abs=1e-2)


# -- the service --------------------------------------------------------------------------------


def test_a_grpc_call_continues_the_callers_trace(traced_server, spans) -> None:
    with traced_server.channel() as channel:
        stub = traced_server.stub(channel)
        stub.Search(pb.SearchRequest(query="read a file", k=2, mode="hybrid"), metadata=(("traceparent", TRACEPARENT),))
    _check_service_trace(spans, "grpc")


def test_an_http_call_continues_the_callers_trace(traced_server, spans) -> None:
    response = httpx.post(f"http://127.0.0.1:{traced_server.server.http_port}/v1/search",
                          json={"query": "read a file", "k": 2, "mode": "hybrid"}, headers={"traceparent": TRACEPARENT})  # fmt: skip
    assert response.status_code == 200
    _check_service_trace(spans, "http")


def _check_service_trace(spans: InMemorySpanExporter, transport: str) -> None:
    named = _by_name(spans)
    (server,) = named["retrieval.v1.Retrieval/Search"]
    assert server.kind is otel_trace.SpanKind.SERVER
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert format(server.parent.span_id, "016x") == PARENT_ID and server.parent.is_remote
    assert server.attributes["retrieval.transport"] == transport and server.attributes["rpc.grpc.status_code"] == "OK"
    # The batcher's embedding and the engine's search (on a worker thread) are the call's children.
    assert _children(spans, server) == ["embed", "retrieval.search"]
    (search,) = named["retrieval.search"]
    assert _children(spans, search) == ["analyze", "bm25", "dense", "fuse", "fetch"]
    assert all(s.context.trace_id == server.context.trace_id for s in spans.get_finished_spans())


def test_a_failed_call_is_an_error_span(traced_server, spans) -> None:
    response = httpx.post(f"http://127.0.0.1:{traced_server.server.http_port}/v1/search", json={"query": "x", "mode": "nope"})
    assert response.status_code == 400
    (server,) = _by_name(spans)["retrieval.v1.Retrieval/Search"]
    assert server.attributes["rpc.grpc.status_code"] == "INVALID_ARGUMENT"
    assert server.status.status_code is otel_trace.StatusCode.ERROR


def test_an_answer_call_traces_preparation_and_generation_under_its_span(traced_server, spans) -> None:
    request = {"question": "What does the json module do?", "k": 2, "budget_tokens": 60, "max_tokens": 4}
    with httpx.stream("POST", f"http://127.0.0.1:{traced_server.server.http_port}/v1/answer", json=request,
                      headers={"traceparent": TRACEPARENT}, timeout=60) as response:  # fmt: skip
        assert response.status_code == 200
        assert "event: done" in response.read().decode()
    # A stream's span ends after its last byte is sent: the client may read it first.
    wait_for(lambda: "retrieval.v1.Retrieval/Answer" in _by_name(spans), what="the Answer call's span")
    named = _by_name(spans)
    (server,) = named["retrieval.v1.Retrieval/Answer"]
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert _children(spans, server) == ["retrieval.prepare", "prefill", "decode"]
    (prepare,) = named["retrieval.prepare"]
    assert _children(spans, prepare) == ["prompt_room", "retrieval.search", "limit", "compress", "prompt"]
