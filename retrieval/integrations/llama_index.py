"""A LlamaIndex retriever over an index or a running server.

    retriever = RetrievalRetriever(Engine.open("index/"), k=5, filters={"lang": "en"})
    nodes = retriever.retrieve("how do I parse json")       # list[NodeWithScore]
    nodes = await retriever.aretrieve("how do I parse json")

Only the retriever base and the node types are used: nothing here loads a tokenizer, a model or
NLTK data, so retrieving never touches the network.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..types import SearchResult
from .searching import METADATA_KEYS, Searcher, hit_metadata, require

_retrievers = require("llama_index.core.retrievers", "llama-index")

from llama_index.core.schema import (  # noqa: E402  (only once llama-index is known to be there)
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)

# LlamaIndex writes a node's metadata into the prompt and the text it embeds: of ours only the
# title helps there; ids, scores and timings would be noise the model reads.
HIDDEN_FROM_MODELS = [key for key in METADATA_KEYS if key != "title"]


class RetrievalRetriever(_retrievers.BaseRetriever):
    """LlamaIndex ``BaseRetriever``: the top ``k`` chunks as scored ``TextNode``s.

    ``engine``: an ``Engine``, a ``RetrievalClient`` or the path of an index. A node's id is the
    chunk id and its source node the document id (``node.ref_doc_id``).
    """

    def __init__(
        self,
        engine: Any,
        k: int = 4,
        mode: str | None = None,
        filters: Any = None,
        params: Mapping[str, Any] | None = None,
        **base: Any,
    ) -> None:
        self.searcher = Searcher(engine, k=k, mode=mode, filters=filters, params=params)
        super().__init__(**base)  # callback_manager, verbose

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return nodes(self.searcher.search(query_bundle.query_str))

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return nodes(await self.searcher.asearch(query_bundle.query_str))


def nodes(result: SearchResult) -> list[NodeWithScore]:
    return [
        NodeWithScore(
            node=TextNode(
                text=hit.text,
                id_=hit.id,
                metadata=hit_metadata(hit, result),
                excluded_llm_metadata_keys=list(HIDDEN_FROM_MODELS),
                excluded_embed_metadata_keys=list(HIDDEN_FROM_MODELS),
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=hit.doc_id)},
            ),
            score=hit.score,
        )
        for hit in result.hits
    ]
