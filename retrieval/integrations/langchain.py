"""A LangChain retriever over an index or a running server.

    retriever = RetrievalRetriever(engine=Engine.open("index/"), k=5, filters={"lang": "en"})
    docs = retriever.invoke("how do I parse json")          # list[langchain Document]
    docs = retriever.invoke("how do I parse json", k=2)     # k for this call only
    docs = await retriever.ainvoke("how do I parse json")

The arguments are checked when the retriever is made, so a bad ``k``, mode or filter is a
``QueryError`` there rather than at the first query inside a chain.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import QueryError
from ..types import SearchResult
from .searching import Searcher, hit_metadata, require

_retrievers = require("langchain_core.retrievers", "langchain")

from langchain_core.callbacks import (  # noqa: E402  (only once langchain is known to be there)
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document  # noqa: E402
from pydantic import PrivateAttr  # noqa: E402

# Passed along by ``invoke`` with the caller's keyword arguments; not ours to act on.
RUNNABLE_KWARGS = frozenset({"verbose"})


class RetrievalRetriever(_retrievers.BaseRetriever):
    """LangChain ``BaseRetriever``: the top ``k`` chunks as Documents, ``hit_metadata`` as metadata.

    ``engine``: an ``Engine``, a ``RetrievalClient`` or the path of an index. The arguments are
    fixed at construction (changing a field afterwards does not change the search).
    """

    engine: Any
    k: int = 4
    mode: str | None = None
    filters: Any = None
    params: Mapping[str, Any] | None = None

    _searcher: Searcher = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        # Checked before pydantic sees them: pydantic would wrap QueryError in a ValidationError.
        searcher = Searcher(
            data.pop("engine", None),
            k=data.pop("k", 4),
            mode=data.pop("mode", None),
            filters=data.pop("filters", None),
            params=data.pop("params", None),
        )
        super().__init__(
            engine=searcher.engine, k=searcher.k, mode=searcher.mode, filters=searcher.filters,
            params=searcher.params or None, **data,
        )
        self._searcher = searcher

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None, **kwargs: Any
    ) -> list[Document]:
        _check_kwargs(kwargs)
        return documents(self._searcher.search(query, k))

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k: int | None = None, **kwargs: Any
    ) -> list[Document]:
        _check_kwargs(kwargs)
        return documents(await self._searcher.asearch(query, k))


def documents(result: SearchResult) -> list[Document]:
    return [Document(page_content=hit.text, metadata=hit_metadata(hit, result)) for hit in result.hits]


def _check_kwargs(kwargs: Mapping[str, Any]) -> None:
    # A misspelt per-call argument (``top_k=``, ``filter=``) must not be ignored silently.
    unknown = sorted(set(kwargs) - RUNNABLE_KWARGS)
    if unknown:
        raise QueryError(f"unknown retriever argument(s) {', '.join(unknown)}; per call only k is accepted")
