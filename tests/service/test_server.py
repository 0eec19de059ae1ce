"""Every RPC end to end against an in-process server, with health, reflection, metrics, logs."""

from __future__ import annotations

import json
import logging

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from retrieval.errors import NotFoundError
from retrieval.search.modes import mode_names
from retrieval.service.protos import retrieval_pb2 as pb

from .conftest import DOCS, QUERIES
from .fakes import ScriptedEngine
from .harness import ServerThread

TIMEOUT = 30.0


def _code(call, *args, **kwargs) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call(*args, timeout=TIMEOUT, **kwargs)
    return info.value.code()


# -- Search ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", mode_names())
def test_search_returns_what_the_engine_returns(stub, engine, mode: str) -> None:
    for query in QUERIES:
        response = stub.Search(pb.SearchRequest(query=query, k=4, mode=mode), timeout=TIMEOUT)
        expected = engine.search(query, 4, mode)
        assert [h.chunk_id for h in response.hits] == [h.id for h in expected.hits]
        assert [h.document_id for h in response.hits] == [h.doc_id for h in expected.hits]
        assert [h.text for h in response.hits] == [h.text for h in expected.hits]
        assert [h.score for h in response.hits] == pytest.approx([h.score for h in expected.hits], rel=1e-5, abs=1e-6)
        # dense and hybrid rank every chunk; bm25 and prefilter only those sharing a term
        assert len(response.hits) == 4 if mode in ("dense", "hybrid") else response.hits


def test_search_reports_stage_timings_and_serves_repeats_from_the_cache(stub) -> None:
    request = pb.SearchRequest(query="which module measures short durations", k=3, mode="hybrid")
    first = stub.Search(request, timeout=TIMEOUT)
    assert not first.cached
    assert {"queue", "embed", "analyze", "bm25", "dense", "fuse", "fetch"} <= set(first.timings_ms)
    assert all(ms >= 0 for ms in first.timings_ms.values())
    again = stub.Search(request, timeout=TIMEOUT)
    assert again.cached and set(again.timings_ms) == {"cache"}
    assert list(again.hits) == list(first.hits)
    other_k = stub.Search(pb.SearchRequest(query=request.query, k=2, mode="hybrid"), timeout=TIMEOUT)
    assert not other_k.cached and list(other_k.hits) == list(first.hits)[:2]


def test_search_applies_per_call_params(stub) -> None:
    dense_only = pb.SearchRequest(query="event loop coroutines", k=3, mode="hybrid", params=pb.SearchParams(dense_weight=1.0))
    keyword_only = pb.SearchRequest(query="event loop coroutines", k=3, mode="hybrid", params=pb.SearchParams(dense_weight=0.0))
    dense = stub.Search(pb.SearchRequest(query="event loop coroutines", k=3, mode="dense"), timeout=TIMEOUT)
    assert [h.chunk_id for h in stub.Search(dense_only, timeout=TIMEOUT).hits] == [h.chunk_id for h in dense.hits]
    assert stub.Search(keyword_only, timeout=TIMEOUT).hits[0].chunk_id == "asyncio#0"


# -- SearchBatch -------------------------------------------------------------------------------


def test_search_batch_answers_each_query_in_order(stub) -> None:
    requests = [pb.SearchRequest(query=q, k=3, mode=m) for q in QUERIES for m in ("bm25", "dense", "prefilter")]
    batch = stub.SearchBatch(pb.SearchBatchRequest(requests=requests), timeout=TIMEOUT)
    assert len(batch.responses) == len(requests)
    for request, response in zip(requests, batch.responses):
        single = stub.Search(request, timeout=TIMEOUT)
        assert [h.chunk_id for h in response.hits] == [h.chunk_id for h in single.hits]
    assert stub.SearchBatch(pb.SearchBatchRequest(), timeout=TIMEOUT).responses == []


def test_search_batch_names_the_bad_request(stub) -> None:
    requests = [pb.SearchRequest(query="json"), pb.SearchRequest(query="json", k=5000)]
    with pytest.raises(grpc.RpcError) as info:
        stub.SearchBatch(pb.SearchBatchRequest(requests=requests), timeout=TIMEOUT)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("requests[1]: k must be between 1 and 1000")


# -- Answer ------------------------------------------------------------------------------------


def test_answer_streams_tokens_then_one_final_message(stub) -> None:
    request = pb.AnswerRequest(question="How do I parse a JSON string?", k=3, budget_tokens=60, max_tokens=8)
    events = list(stub.Answer(request, timeout=TIMEOUT))
    tokens = [e.token for e in events[:-1]]
    assert all(e.WhichOneof("event") == "token" for e in events[:-1]) and tokens
    done = events[-1].done
    assert events[-1].WhichOneof("event") == "done"
    assert 1 <= done.completion_tokens <= 8 and done.finish_reason in ("stop", "length")
    assert done.ttft_ms > 0 and done.prompt_tokens > done.context_tokens_after > 0
    assert done.context_tokens_after <= 60 <= done.context_tokens_before
    assert {"queue", "search", "compress", "prompt", "prefill"} <= set(done.timings_ms)
    assert [s.number for s in done.sources] and done.sources[0].chunk_id == "json#0"
    assert "".join(tokens).strip()


def test_answer_without_a_generator_is_a_failed_precondition(engine) -> None:
    with ServerThread(engine, generator=None) as server, server.channel() as channel:
        with pytest.raises(grpc.RpcError) as info:
            list(server.stub(channel).Answer(pb.AnswerRequest(question="why?"), timeout=TIMEOUT))
        assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "--generator none" in info.value.details()


def test_an_unreachable_generator_endpoint_is_unavailable(engine, free_port_factory) -> None:
    from retrieval.generation import make_generator

    port = free_port_factory()  # nothing listens there
    generator = make_generator("openai", base_url=f"http://127.0.0.1:{port}/v1", retries=0, connect_timeout=1.0)
    try:
        with ServerThread(engine, generator=generator) as server, server.channel() as channel:
            request = pb.AnswerRequest(question="How do I parse JSON?", k=2, budget_tokens=40, max_tokens=4)
            with pytest.raises(grpc.RpcError) as info:
                list(server.stub(channel).Answer(request, timeout=TIMEOUT))
            assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        generator.close()


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("request_", [
    pb.SearchRequest(query=""),
    pb.SearchRequest(query="json", k=1001),
    pb.SearchRequest(query="json", mode="semantic"),
    pb.SearchRequest(query="x" * 4097),
    pb.SearchRequest(query="json", mode="hybrid", params=pb.SearchParams(fusion_method="max")),
    pb.SearchRequest(query="json", mode="hybrid", params=pb.SearchParams(dense_weight=2.0)),
    pb.SearchRequest(query="json", mode="dense", params=pb.SearchParams(ef_search=16)),  # flat index
    pb.SearchRequest(query="json", mode="bm25", params=pb.SearchParams(rrf_k=3)),
    pb.SearchRequest(query="json", filters=[pb.Filter(key="lang", values=[])]),
    pb.SearchRequest(query="json", filters=[pb.Filter(key="", values=["en"])]),
    pb.SearchRequest(query="json", filters=[pb.Filter(key="lang", values=[""])]),
], ids=["empty", "k", "mode", "long", "fusion", "weight", "index-param", "mode-param", "filter-values",
        "filter-key", "filter-empty-value"])  # fmt: skip
def test_bad_requests_are_invalid_argument(stub, request_) -> None:
    assert _code(stub.Search, request_) is grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("mode", mode_names())
def test_search_with_filters_returns_only_matching_documents(stub, engine, mode) -> None:
    group_b = {d.id for d in DOCS if d.metadata["group"] == "b"}
    filters = [pb.Filter(key="group", values=["b"]), pb.Filter(key="stdlib", values=["true"])]
    reply = stub.Search(pb.SearchRequest(query="the module", k=10, mode=mode, filters=filters), timeout=TIMEOUT)
    got = [h.document_id for h in reply.hits]
    assert got and set(got) <= group_b
    want = engine.search("the module", 10, mode, filters={"group": ["b"], "stdlib": ["true"]})
    assert got == [h.doc_id for h in want.hits]
    none = stub.Search(pb.SearchRequest(query="json", mode=mode, filters=[pb.Filter(key="lang", values=["en"])]),
                       timeout=TIMEOUT)  # fmt: skip
    assert list(none.hits) == []


def test_malformed_filters_say_what_is_wrong(stub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.Search(pb.SearchRequest(query="json", filters=[pb.Filter(key="lang", values=[])]), timeout=TIMEOUT)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "filter 'lang' needs at least one value" in info.value.details()


def test_bytes_that_are_no_message_are_invalid_argument(channel) -> None:
    raw = channel.unary_unary("/retrieval.v1.Retrieval/Search")  # no serializers: raw bytes
    with pytest.raises(grpc.RpcError) as info:
        raw(b"\xff\xff\xff", timeout=TIMEOUT)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid message" in info.value.details()


def test_unknown_ids_are_not_found_and_bugs_are_internal(engine) -> None:
    scripted = ScriptedEngine(engine, errors={"chunk 99": NotFoundError("chunk 99 does not exist"), "boom": KeyError("x")})
    with ServerThread(scripted) as server, server.channel() as channel:
        stub = server.stub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Search(pb.SearchRequest(query="chunk 99", mode="bm25"), timeout=TIMEOUT)
        assert (info.value.code(), info.value.details()) == (grpc.StatusCode.NOT_FOUND, "chunk 99 does not exist")
        with pytest.raises(grpc.RpcError) as info:
            stub.Search(pb.SearchRequest(query="boom", mode="bm25"), timeout=TIMEOUT)
        assert info.value.code() is grpc.StatusCode.INTERNAL and "KeyError" not in info.value.details()


# -- health, reflection, metrics, logs ---------------------------------------------------------


def test_health_reports_serving(channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "retrieval.v1.Retrieval"):
        response = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT)
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as info:
        health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=TIMEOUT)
    assert info.value.code() is grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_services(channel) -> None:
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    assert {"retrieval.v1.Retrieval", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services
    descriptor = database.FindFileContainingSymbol("retrieval.v1.Retrieval")
    assert descriptor.package == "retrieval.v1"


def test_metrics_count_requests_stages_batches_and_caches(server, stub) -> None:
    stub.Search(pb.SearchRequest(query="metrics probe query", mode="dense"), timeout=TIMEOUT)
    stub.Search(pb.SearchRequest(query="metrics probe query", mode="dense"), timeout=TIMEOUT)
    _code(stub.Search, pb.SearchRequest(query=""))
    text = server.server.metrics.render().decode()
    assert 'retrieval_requests_total{code="OK",method="Search"}' in text
    assert 'retrieval_requests_total{code="INVALID_ARGUMENT",method="Search"}' in text
    assert 'retrieval_stage_seconds_count{stage="embed"}' in text
    assert 'retrieval_stage_seconds_count{stage="dense"}' in text
    assert "retrieval_embed_batch_size_count" in text
    for cache in ("result", "embedding"):
        assert f'retrieval_cache_hit_ratio{{cache="{cache}"}}' in text
    assert "retrieval_inflight_requests 0.0" in text


def test_one_json_log_line_per_request(stub, caplog) -> None:
    caplog.set_level(logging.INFO, logger="retrieval.service")
    stub.Search(pb.SearchRequest(query="log line probe", k=2, mode="bm25"), timeout=TIMEOUT)
    _code(stub.Search, pb.SearchRequest(query="log line probe", k=2000))
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "retrieval.service" and r.getMessage().startswith("{")]
    assert len(lines) == 2
    ok, bad = lines
    assert {"method": "Search", "code": "OK", "k": 2, "mode": "bm25", "cached": False}.items() <= ok.items()
    assert ok["ms"] > 0 and ok["peer"].startswith("ipv4:127.0.0.1:")
    assert bad["code"] == "INVALID_ARGUMENT" and "k must be between" in bad["error"]


def test_a_question_too_long_for_the_context_window_is_invalid_argument(stub) -> None:
    question = "∑" * 1500  # within the 4096-character limit, but 3000 of the model's tokens > n_ctx 2048
    with pytest.raises(grpc.RpcError) as info:
        list(stub.Answer(pb.AnswerRequest(question=question, max_tokens=4), timeout=TIMEOUT))
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "context window" in info.value.details()
