"""The LlamaIndex retriever over a bundle, a collection and a server."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core.schema import NodeWithScore, TextNode

from retrieval.errors import QueryError
from retrieval.integrations.llama_index import RetrievalRetriever
from retrieval.integrations.searching import METADATA_KEYS

from .conftest import GROUP_B, NO_MATCH, QUERY


def test_nodes_carry_text_score_and_metadata(source) -> None:
    nodes = RetrievalRetriever(source, k=3).retrieve(QUERY)
    assert len(nodes) == 3 and all(isinstance(n, NodeWithScore) and isinstance(n.node, TextNode) for n in nodes)
    best = nodes[0].node
    assert best.node_id == "json#0" and best.ref_doc_id == "json" and "json.loads" in best.text
    for n in nodes:
        assert tuple(n.node.metadata) == METADATA_KEYS
        assert n.score == n.node.metadata["score"]
    assert [n.score for n in nodes] == sorted((n.score for n in nodes), reverse=True)


def test_only_the_title_reaches_the_model(engine) -> None:
    node = RetrievalRetriever(engine, k=1).retrieve(QUERY)[0].node
    assert node.get_metadata_str(mode="llm") == "title: json"
    assert node.get_metadata_str(mode="embed") == "title: json"


def test_async_matches_sync(source) -> None:
    retriever = RetrievalRetriever(source, k=2)
    nodes = asyncio.run(retriever.aretrieve(QUERY))
    assert [n.node.node_id for n in nodes] == [n.node.node_id for n in retriever.retrieve(QUERY)]


@pytest.mark.asyncio
async def test_async_on_a_running_loop(source) -> None:
    nodes = await RetrievalRetriever(source, k=2, mode="bm25").aretrieve(QUERY)
    assert nodes[0].node.node_id == "json#0"


def test_filters_keep_only_matching_documents(source) -> None:
    nodes = RetrievalRetriever(source, k=10, mode="bm25", filters={"group": ["b"]}).retrieve("module")
    assert nodes and {n.node.ref_doc_id for n in nodes} <= GROUP_B


def test_no_matching_term_returns_no_nodes(source) -> None:
    assert RetrievalRetriever(source, mode="bm25").retrieve(NO_MATCH) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"k": 1001}, "k must be an integer between 1 and 1000, got 1001"),
        ({"mode": "semantic"}, "unknown mode 'semantic'"),
        ({"filters": {"group": [["a"]]}}, "values must be strings, numbers or booleans"),
    ],
)
def test_bad_arguments_fail_at_construction(engine, arguments, message) -> None:
    with pytest.raises(QueryError, match=message):
        RetrievalRetriever(engine, **arguments)


def test_bad_engine_fails_at_construction() -> None:
    with pytest.raises(QueryError, match="engine must be an Engine, a RetrievalClient or the path of an index"):
        RetrievalRetriever(object())
