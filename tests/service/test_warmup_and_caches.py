"""Health follows warm-up; the semantic cache; a keyword-only bundle behind the service."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from retrieval import Engine, IndexConfig
from retrieval.service.protos import retrieval_pb2 as pb

from .conftest import DOCS
from .fakes import ScriptedEngine
from .harness import ServerThread

TIMEOUT = 30.0


def test_health_says_serving_only_once_warm_up_is_done(engine) -> None:
    gate = threading.Event()
    server = ServerThread(ScriptedEngine(engine, warm_gate=gate))
    try:
        starting = asyncio.run_coroutine_threadsafe(server.server.start(), server.loop)
        deadline = time.monotonic() + TIMEOUT
        while server.server.port is None:  # bound, warm-up in progress (held at the gate)
            assert time.monotonic() < deadline and not starting.done()
            time.sleep(0.01)
        with server.channel() as channel:
            health = health_pb2_grpc.HealthStub(channel)
            status = health.Check(health_pb2.HealthCheckRequest(service="retrieval.v1.Retrieval"), timeout=TIMEOUT)
            assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
            with pytest.raises(grpc.RpcError) as info:
                server.stub(channel).Search(pb.SearchRequest(query="json"), timeout=TIMEOUT)
            assert info.value.code() is grpc.StatusCode.UNAVAILABLE and "warming up" in info.value.details()
            gate.set()
            starting.result(TIMEOUT)
            status = health.Check(health_pb2.HealthCheckRequest(service="retrieval.v1.Retrieval"), timeout=TIMEOUT)
            assert status.status == health_pb2.HealthCheckResponse.SERVING
            assert server.stub(channel).Search(pb.SearchRequest(query="json"), timeout=TIMEOUT).hits
    finally:
        gate.set()
        server.stop()


def test_warm_up_queries_fill_the_result_cache(engine) -> None:
    recent = ("how do I parse json", "x" * 5000)  # the second is over the query limit: skipped
    with ServerThread(engine, warmup_queries=recent) as server, server.channel() as channel:
        stub = server.stub(channel)
        assert stub.Search(pb.SearchRequest(query=recent[0]), timeout=TIMEOUT).cached
        assert not stub.Search(pb.SearchRequest(query=recent[0], k=3), timeout=TIMEOUT).cached


def test_semantic_cache_reuses_results_of_a_paraphrase(engine) -> None:
    # Measured cosines: "how do I parse json" vs "how do i parse JSON?" 0.995, vs "how can I parse
    # json text" 0.936, vs "read a file line by line" 0.21.
    with ServerThread(engine, result_cache_size=0, semantic_cache_threshold=0.98) as server, server.channel() as channel:
        stub = server.stub(channel)
        first = stub.Search(pb.SearchRequest(query="how do I parse json", k=3, mode="dense"), timeout=TIMEOUT)
        same = stub.Search(pb.SearchRequest(query="how do i parse JSON?", k=3, mode="dense"), timeout=TIMEOUT)
        assert not first.cached and same.cached
        assert [h.chunk_id for h in same.hits] == [h.chunk_id for h in first.hits]
        assert {"queue", "embed", "cache"} == set(same.timings_ms)
        for query, k in (("how can I parse json text", 3), ("read a file line by line", 3), ("how do I parse json", 2)):
            assert not stub.Search(pb.SearchRequest(query=query, k=k, mode="dense"), timeout=TIMEOUT).cached
        text = server.server.metrics.render().decode()
        assert 'retrieval_cache_hits_total{cache="semantic"} 1.0' in text
        assert 'retrieval_cache_misses_total{cache="semantic"} 4.0' in text


def test_a_keyword_only_bundle_serves_bm25(tmp_path: Path) -> None:
    keyword = Engine.build(DOCS, tmp_path / "kw", IndexConfig.from_dict({"dense": False}))
    with ServerThread(keyword) as server, server.channel() as channel:
        stub = server.stub(channel)
        response = stub.Search(pb.SearchRequest(query="parse json"), timeout=TIMEOUT)
        assert response.hits[0].chunk_id == "json#0" and "embed" not in response.timings_ms
        batch = stub.SearchBatch(pb.SearchBatchRequest(requests=[pb.SearchRequest(query="csv rows")]), timeout=TIMEOUT)
        assert batch.responses[0].hits[0].chunk_id == "csv#0"
        with pytest.raises(grpc.RpcError) as info:
            stub.Search(pb.SearchRequest(query="parse json", mode="dense"), timeout=TIMEOUT)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT and "needs a dense index" in info.value.details()
