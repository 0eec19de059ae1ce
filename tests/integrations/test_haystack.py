"""The Haystack component over a bundle, a collection and a server, alone and in pipelines.

Telemetry is off for these tests: the conftest sets HAYSTACK_TELEMETRY_ENABLED before haystack
is imported (checked below).
"""

from __future__ import annotations

import asyncio

import pytest
from haystack import Document, Pipeline
from haystack.telemetry import _telemetry

from retrieval.errors import QueryError
from retrieval.integrations.haystack import RetrievalRetriever
from retrieval.integrations.searching import METADATA_KEYS

from .conftest import GROUP_B, NO_MATCH, QUERY


def test_telemetry_is_off() -> None:
    assert _telemetry.telemetry is None


def test_documents_carry_id_text_score_and_meta(source) -> None:
    docs = RetrievalRetriever(source, k=3).run(query=QUERY)["documents"]
    assert len(docs) == 3 and all(isinstance(d, Document) for d in docs)
    assert docs[0].id == "json#0" and "json.loads" in docs[0].content
    for doc in docs:
        assert tuple(doc.meta) == METADATA_KEYS
        assert doc.score == doc.meta["score"] and doc.id == doc.meta["chunk_id"]
        assert isinstance(doc.meta["timings_ms"], dict)
    assert Document.from_dict(docs[0].to_dict()) == docs[0]  # the nested timings serialize


def test_top_k_per_run(source) -> None:
    retriever = RetrievalRetriever(source, k=3)
    assert len(retriever.run(query=QUERY, top_k=1)["documents"]) == 1
    with pytest.raises(QueryError, match="k must be an integer"):
        retriever.run(query=QUERY, top_k=0)


def test_async_matches_sync(source) -> None:
    retriever = RetrievalRetriever(source, k=2)
    docs = asyncio.run(retriever.run_async(query=QUERY))["documents"]
    assert [d.id for d in docs] == [d.id for d in retriever.run(query=QUERY)["documents"]]


def test_in_a_pipeline(source) -> None:
    pipeline = Pipeline()
    pipeline.add_component("retriever", RetrievalRetriever(source, k=2))
    docs = pipeline.run({"retriever": {"query": QUERY}})["retriever"]["documents"]
    assert [d.id for d in docs][0] == "json#0" and len(docs) == 2


@pytest.mark.asyncio
async def test_in_a_pipeline_run_async(source) -> None:
    pipeline = Pipeline()
    pipeline.add_component("retriever", RetrievalRetriever(source, k=2, mode="bm25"))
    result = await pipeline.run_async({"retriever": {"query": QUERY, "top_k": 1}})
    assert [d.id for d in result["retriever"]["documents"]] == ["json#0"]


def test_filters_keep_only_matching_documents(source) -> None:
    docs = RetrievalRetriever(source, k=10, mode="bm25", filters=[("group", "b")]).run(query="module")["documents"]
    assert docs and {d.meta["doc_id"] for d in docs} <= GROUP_B


def test_no_matching_term_returns_no_documents(source) -> None:
    assert RetrievalRetriever(source, mode="bm25").run(query=NO_MATCH) == {"documents": []}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"k": -1}, "k must be an integer between 1 and 1000, got -1"),
        ({"mode": "semantic"}, "unknown mode 'semantic'"),
        ({"filters": "group=b"}, "a filter must be a \\(key, values\\) pair"),
        ({"params": ["candidates"]}, "params must be a mapping"),
    ],
)
def test_bad_arguments_fail_at_construction(engine, arguments, message) -> None:
    with pytest.raises(QueryError, match=message):
        RetrievalRetriever(engine, **arguments)
