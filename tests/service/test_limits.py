"""Size limits: an oversized request is refused and counted; a response that cannot fit is
refused before any of its work is done."""

from __future__ import annotations

import time

import grpc
import pytest

from retrieval.service.config import ServiceConfig
from retrieval.service.protos import retrieval_pb2 as pb

from .fakes import ScriptedEngine
from .harness import ServerThread
from .test_metrics import samples

TIMEOUT = 30.0


def test_requests_over_the_receive_limit_are_counted_and_logged(engine) -> None:
    config = ServiceConfig(port=0, metrics_port=0, max_receive_bytes=2048)
    with ServerThread(engine, config) as server, server.channel() as channel:
        stub = server.stub(channel)
        big = pb.SearchRequest(query="json " * 600, mode="bm25")  # ~3 KB: over 2048
        with pytest.raises(grpc.RpcError) as info:
            stub.Search(big, timeout=TIMEOUT)
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "over this server's limit of 2048" in info.value.details()
        batch = pb.SearchBatchRequest(requests=[pb.SearchRequest(query="json " * 100)] * 5)
        with pytest.raises(grpc.RpcError) as info:
            stub.SearchBatch(batch, timeout=TIMEOUT)
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        # Over gRPC's own limit (twice ours): cut off unread by the transport, counted as unread.
        huge = pb.SearchRequest(query="json " * 2000, mode="bm25")  # ~10 KB
        with pytest.raises(grpc.RpcError) as info:
            stub.Search(huge, timeout=TIMEOUT)
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert stub.Search(pb.SearchRequest(query="json", k=1, mode="bm25"), timeout=TIMEOUT).hits
        got = samples(server.server.metrics)
    assert got[("retrieval_requests_total", (("code", "RESOURCE_EXHAUSTED"), ("method", "Search")))] == 1
    assert got[("retrieval_requests_total", (("code", "RESOURCE_EXHAUSTED"), ("method", "SearchBatch")))] == 1
    assert got[("retrieval_requests_total", (("code", "OK"), ("method", "Search")))] == 1
    assert got[("retrieval_requests_unread_total", (("method", "Search"),))] == 1
    assert ("retrieval_requests_unread_total", (("method", "SearchBatch"),)) not in got  # read: not unread


def test_a_batch_whose_response_cannot_fit_is_refused_before_any_search(engine) -> None:
    scripted = ScriptedEngine(engine)
    config = ServiceConfig(port=0, metrics_port=0, max_send_bytes=8192, result_cache_size=0)
    with ServerThread(scripted, config) as server, server.channel() as channel:
        stub = server.stub(channel)
        # 256 hybrid queries at k=1000: every chunk of the bundle for each, far over 8 KiB.
        queries = [pb.SearchRequest(query=f"json parsing {i}", k=1000, mode="hybrid") for i in range(256)]
        started = time.perf_counter()
        with pytest.raises(grpc.RpcError) as info:
            stub.SearchBatch(pb.SearchBatchRequest(requests=queries), timeout=TIMEOUT)
        elapsed = time.perf_counter() - started
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        details = info.value.details()
        assert "256 queries x up to 10 hits" in details and "over this server's limit of 8192" in details
        assert "smaller k or fewer queries" in details
        assert scripted.calls == []  # nothing was searched (nor embedded: hybrid embeds first)
        assert elapsed < 1.0  # measured 0.012 s; without the check the 256 searches ran, for 2.75 s
        # What fits is still served: a small batch, and one query of the same shape.
        small = pb.SearchBatchRequest(requests=queries[:2])
        assert len(stub.SearchBatch(small, timeout=TIMEOUT).responses) == 2
        assert len(stub.Search(queries[0], timeout=TIMEOUT).hits) == 10
        assert len(scripted.calls) == 3


def test_a_single_search_too_large_to_send_is_refused_before_it_runs(engine) -> None:
    scripted = ScriptedEngine(engine)
    config = ServiceConfig(port=0, metrics_port=0, max_send_bytes=1024, result_cache_size=0)
    with ServerThread(scripted, config) as server, server.channel() as channel:
        with pytest.raises(grpc.RpcError) as info:
            server.stub(channel).Search(pb.SearchRequest(query="json", k=10, mode="dense"), timeout=TIMEOUT)
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "up to 10 hits" in info.value.details() and "ask for a smaller k" in info.value.details()
        assert scripted.calls == []
