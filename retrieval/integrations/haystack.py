"""A Haystack component retrieving from an index or a running server.

    retriever = RetrievalRetriever(Engine.open("index/"), k=5, filters={"lang": "en"})
    retriever.run(query="how do I parse json")["documents"]               # list[Document]
    pipeline.add_component("retriever", retriever)                         # or in a Pipeline
    await retriever.run_async(query="how do I parse json", top_k=2)

Haystack sends usage telemetry unless ``HAYSTACK_TELEMETRY_ENABLED=False``; that is the
application's choice, so this module leaves it alone.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..types import SearchResult
from .searching import Searcher, hit_metadata, require

require("haystack", "haystack")

from haystack import Document, component  # noqa: E402  (only once haystack is known to be there)


@component
class RetrievalRetriever:
    """Haystack retriever: ``run(query, top_k)`` -> ``{"documents": [...]}``, best first.

    ``engine``: an ``Engine``, a ``RetrievalClient`` or the path of an index. A Document's id is
    the chunk id, its score the hit's, its meta ``hit_metadata``.
    """

    def __init__(
        self,
        engine: Any,
        k: int = 4,
        mode: str | None = None,
        filters: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.searcher = Searcher(engine, k=k, mode=mode, filters=filters, params=params)

    @component.output_types(documents=list[Document])
    def run(self, query: str, top_k: int | None = None) -> dict[str, list[Document]]:
        return {"documents": documents(self.searcher.search(query, top_k))}

    @component.output_types(documents=list[Document])
    async def run_async(self, query: str, top_k: int | None = None) -> dict[str, list[Document]]:
        return {"documents": documents(await self.searcher.asearch(query, top_k))}


def documents(result: SearchResult) -> list[Document]:
    return [
        Document(id=hit.id, content=hit.text, score=hit.score, meta=hit_metadata(hit, result))
        for hit in result.hits
    ]
