"""mode="auto" in the service: queries BM25 answers alone never reach the embedding batcher."""

from __future__ import annotations

import threading
from typing import Any

from retrieval.service.protos import retrieval_pb2 as pb

from .harness import ServerThread

TO_BM25 = "how do I parse json"  # specific terms, few matching chunks: BM25 is confident
TO_HYBRID = "zyzzyva quokka"  # no BM25 match at all: only the dense side can answer


class CountingEngine:
    """The real engine, counting the query texts the batcher embeds."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self.embedded: list[str] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def embed_queries(self, texts: list[str]) -> Any:
        with self._lock:
            self.embedded.extend(texts)
        return self._engine.embed_queries(texts)


def test_auto_skips_the_batcher_for_queries_bm25_answers(engine) -> None:
    assert engine.routes_to_bm25(TO_BM25) and not engine.routes_to_bm25(TO_HYBRID)
    counting = CountingEngine(engine)
    with ServerThread(counting, result_cache_size=0) as server, server.channel() as channel:
        stub = server.stub(channel)
        counting.embedded.clear()  # warm-up embeds its own queries
        routed = stub.Search(pb.SearchRequest(query=TO_BM25, k=3, mode="auto"), timeout=10)
        assert "route_bm25" in routed.timings_ms and "embed" not in routed.timings_ms
        assert counting.embedded == []
        expected = engine.search(TO_BM25, 3, "bm25")
        assert [h.chunk_id for h in routed.hits] == [h.id for h in expected.hits]
        on = stub.Search(pb.SearchRequest(query=TO_HYBRID, k=3, mode="auto"), timeout=10)
        assert "route_hybrid" in on.timings_ms and "embed" in on.timings_ms
        assert counting.embedded == [TO_HYBRID]
        hybrid = engine.search(TO_HYBRID, 3, "hybrid")
        assert [h.chunk_id for h in on.hits] == [h.id for h in hybrid.hits]
        # A batch: only its hybrid-bound queries are embedded, in one go.
        counting.embedded.clear()
        batch = stub.SearchBatch(pb.SearchBatchRequest(requests=[
            pb.SearchRequest(query=TO_BM25 + " now", k=2, mode="auto"),
            pb.SearchRequest(query=TO_HYBRID + " again", k=2, mode="auto"),
        ]), timeout=10)  # fmt: skip
        assert counting.embedded == [TO_HYBRID + " again"]
        assert ["route_bm25" in r.timings_ms for r in batch.responses] == [True, False]
