"""The service over a sharded collection: every RPC answers as it does over one bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from retrieval import Engine
from retrieval.search.modes import mode_names
from retrieval.service.protos import retrieval_pb2 as pb

from .conftest import DOCS, QUERIES
from .harness import ServerThread

TIMEOUT = 30.0


@pytest.fixture(scope="module")
def collection_server(tmp_path_factory, generator) -> Iterator[ServerThread]:
    root: Path = tmp_path_factory.mktemp("service-collection") / "collection"
    Engine.build(DOCS, root, shards=3)
    with ServerThread(Engine.open(root), generator=generator) as running:
        yield running


@pytest.fixture()
def collection_stub(collection_server):
    with collection_server.channel() as channel:
        yield collection_server.stub(channel), channel


@pytest.mark.parametrize("mode", mode_names())
def test_search_over_a_collection_equals_one_bundle(collection_stub, engine, mode: str) -> None:
    stub, _ = collection_stub
    for query in QUERIES:
        for filters in (None, {"group": ["b"]}):
            request = pb.SearchRequest(query=query, k=4, mode=mode,
                                       filters=[pb.Filter(key=k, values=v) for k, v in (filters or {}).items()])
            response = stub.Search(request, timeout=TIMEOUT)
            expected = engine.search(query, 4, mode, filters=filters)
            assert [h.chunk_id for h in response.hits] == [h.id for h in expected.hits]
            assert [h.score for h in response.hits] == pytest.approx([h.score for h in expected.hits], rel=1e-6)


def test_search_batch_over_a_collection(collection_stub, engine) -> None:
    stub, _ = collection_stub
    requests = [pb.SearchRequest(query=q, k=3, mode=m) for q in QUERIES for m in ("bm25", "hybrid")]
    batch = stub.SearchBatch(pb.SearchBatchRequest(requests=requests), timeout=TIMEOUT)
    for request, response in zip(requests, batch.responses):
        expected = engine.search(request.query, 3, request.mode)
        assert [h.chunk_id for h in response.hits] == [h.id for h in expected.hits]


def test_answer_over_a_collection_streams_with_sources(collection_stub) -> None:
    stub, _ = collection_stub
    request = pb.AnswerRequest(question="How do I parse a JSON string?", k=3, budget_tokens=60, max_tokens=8)
    events = list(stub.Answer(request, timeout=TIMEOUT))
    assert events[-1].WhichOneof("event") == "done" and len(events) > 1
    done = events[-1].done
    assert done.sources[0].chunk_id == "json#0" and done.context_tokens_after <= 60


def test_health_over_a_collection(collection_stub) -> None:
    _, channel = collection_stub
    health = health_pb2_grpc.HealthStub(channel)
    response = health.Check(health_pb2.HealthCheckRequest(service="retrieval.v1.Retrieval"), timeout=TIMEOUT)
    assert response.status == health_pb2.HealthCheckResponse.SERVING
