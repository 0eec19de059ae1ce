"""The LangChain retriever: langchain-tests' standard suite over a bundle and over a server,
then what the suite does not check (filters, no hits, argument errors, metadata, async)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from retrieval.errors import QueryError
from retrieval.integrations.langchain import RetrievalRetriever
from retrieval.integrations.searching import METADATA_KEYS

from .conftest import GROUP_B, NO_MATCH, QUERY


class StandardSuite(RetrieversIntegrationTests):
    """The suite reads its constructor arguments from properties: the engine is set per test."""

    engine: Any = None

    @property
    def retriever_constructor(self) -> type[RetrievalRetriever]:
        return RetrievalRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"engine": self.engine}

    @property
    def retriever_query_example(self) -> str:
        return QUERY


# The suite's async test carries no marker of its own (it expects asyncio_mode=auto), and no
# standard test may be overridden: mark the whole class, and let its sync tests be.
ASYNC_SUITE = pytest.mark.asyncio
SYNC_TESTS_TOO = pytest.mark.filterwarnings("ignore:The test <Function .*> is marked with '@pytest.mark.asyncio'")


@ASYNC_SUITE
@SYNC_TESTS_TOO
class TestStandardOverBundle(StandardSuite):
    @pytest.fixture(autouse=True)
    def _engine(self, engine) -> None:
        self.engine = engine


@ASYNC_SUITE
@SYNC_TESTS_TOO
class TestStandardOverServer(StandardSuite):
    @pytest.fixture(autouse=True)
    def _engine(self, client) -> None:
        self.engine = client


def test_documents_carry_text_and_metadata(source) -> None:
    docs = RetrievalRetriever(engine=source, k=3).invoke(QUERY)
    assert [type(d) for d in docs] == [Document] * 3
    assert docs[0].metadata["chunk_id"] == "json#0" and "json.loads" in docs[0].page_content
    for doc in docs:
        assert tuple(doc.metadata) == METADATA_KEYS
        assert doc.metadata["timings_ms"] and all(isinstance(v, float) for v in doc.metadata["timings_ms"].values())
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)


def test_filters_keep_only_matching_documents(source) -> None:
    docs = RetrievalRetriever(engine=source, k=10, mode="bm25", filters={"group": "b"}).invoke("module")
    assert docs and {d.metadata["doc_id"] for d in docs} <= GROUP_B


def test_no_matching_term_returns_no_documents(source) -> None:
    assert RetrievalRetriever(engine=source, mode="bm25").invoke(NO_MATCH) == []


def test_async_matches_sync(source) -> None:
    retriever = RetrievalRetriever(engine=source, k=3)
    sync = [d.metadata["chunk_id"] for d in retriever.invoke(QUERY, k=2)]
    docs = asyncio.run(retriever.ainvoke(QUERY, k=2))
    assert [d.metadata["chunk_id"] for d in docs] == sync and len(sync) == 2


def test_opens_a_path(keyword_bundle) -> None:
    retriever = RetrievalRetriever(engine=str(keyword_bundle))
    assert retriever.mode == "bm25"  # keyword-only: the default is bm25, not hybrid
    assert retriever.invoke(QUERY)[0].metadata["chunk_id"] == "json#0"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"k": 0}, "k must be an integer between 1 and 1000, got 0"),
        ({"k": "3"}, "k must be an integer"),
        ({"k": True}, "k must be an integer"),
        ({"mode": "semantic"}, "unknown mode 'semantic'; choose one of bm25, dense, hybrid, prefilter, auto"),
        ({"filters": {"group": []}}, "filter 'group' needs at least one value"),
        ({"filters": {"": "a"}}, "a filter key must be a non-empty string"),
        ({"params": 3}, "params must be a mapping"),
        ({"engine": None}, "engine must be an Engine, a RetrievalClient or the path of an index"),
    ],
)
def test_bad_arguments_fail_at_construction(engine, arguments, message) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(")) as raised:
        RetrievalRetriever(**{"engine": engine, **arguments})
    assert "\n" not in str(raised.value)


def test_mode_missing_from_the_index_fails_at_construction(keyword_bundle) -> None:
    with pytest.raises(QueryError, match="mode 'dense' is not available in this index"):
        RetrievalRetriever(engine=keyword_bundle, mode="dense")


def test_bad_per_call_arguments(engine) -> None:
    retriever = RetrievalRetriever(engine=engine)
    with pytest.raises(QueryError, match="k must be an integer"):
        retriever.invoke(QUERY, k=0)
    with pytest.raises(QueryError, match="unknown retriever argument"):
        retriever.invoke(QUERY, top_k=2)  # misspelt: refused, not ignored


def test_async_over_a_client_stays_on_the_loop(client, monkeypatch) -> None:
    # grpc.aio all the way: the sync search (what a thread hop would run) is never called.
    retriever = RetrievalRetriever(engine=client, k=2)
    monkeypatch.setattr(client, "search", lambda *a, **kw: pytest.fail("ainvoke used the blocking search"))
    assert [d.metadata["chunk_id"] for d in asyncio.run(retriever.ainvoke(QUERY))][0] == "json#0"
