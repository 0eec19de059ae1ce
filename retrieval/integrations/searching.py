"""What every framework adapter shares: the arguments, checked once, and the search itself.

An adapter only converts: a query in, ``Searcher.search``/``asearch``, hits out as its
framework's documents with ``hit_metadata`` as their metadata.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

from ..errors import QueryError
from ..search.filters import normalize_filters
from ..search.modes import SEARCH_MODES
from ..types import Hit, SearchResult

MAX_K = 1000
#: the metadata keys of every document an adapter returns
METADATA_KEYS = ("chunk_id", "doc_id", "score", "title", "timings_ms")


def require(module: str, extra: str) -> ModuleType:
    """Import a framework, or ``ImportError`` with the exact command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"this adapter needs {module.split('.')[0]}: pip install 'retrieval[{extra}]' ({exc})"
        ) from None


class Searcher:
    """An engine (or a server's client) with the adapter's fixed ``k``, mode, filters, params.

    ``engine``: an ``Engine``, a ``RetrievalClient``, or a path to open. ``mode`` None: hybrid
    when the index has vectors, else bm25 (over a client: the server's default).
    """

    def __init__(
        self,
        engine: Any,
        k: int = 4,
        mode: str | None = None,
        filters: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.engine = _opened(engine)
        self.k = check_k(k)
        self.mode = self._mode(mode)
        self.filters = normalize_filters(filters) or None  # a bad filter fails here, not per query
        if params is not None and not isinstance(params, Mapping):
            raise QueryError(f"params must be a mapping of search parameters, got {type(params).__name__}")
        self.params = dict(params or {})

    def _mode(self, mode: str | None) -> str | None:
        if mode is not None and mode not in SEARCH_MODES:
            raise QueryError(f"unknown mode {mode!r}; choose one of {', '.join(SEARCH_MODES)}")
        modes = getattr(self.engine, "modes", None)
        if modes is None:  # a client: the server checks the mode against its bundle
            return mode
        if mode is None:
            return "hybrid" if "hybrid" in modes else "bm25"
        if mode not in modes:
            raise QueryError(f"mode {mode!r} is not available in this index (it has: {', '.join(modes)})")
        return mode

    def search(self, query: str, k: int | None = None) -> SearchResult:
        return self.engine.search(check_query(query), self._k(k), self.mode, params=self.params or None, filters=self.filters)

    async def asearch(self, query: str, k: int | None = None) -> SearchResult:
        return await self.engine.asearch(
            check_query(query), self._k(k), self.mode, params=self.params or None, filters=self.filters
        )

    def _k(self, k: int | None) -> int:
        return self.k if k is None else check_k(k)


def hit_metadata(hit: Hit, result: SearchResult) -> dict[str, Any]:
    """A document's metadata: where it came from, its score, and the search's stage timings."""
    return {
        "chunk_id": hit.id,
        "doc_id": hit.doc_id,
        "score": hit.score,
        "title": hit.title,
        "timings_ms": result.timings.as_dict(),
    }


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise QueryError(f"k must be an integer between 1 and {MAX_K}, got {k!r}")
    return k


def check_query(query: Any) -> str:
    if not isinstance(query, str):
        raise QueryError(f"the query must be a string, got {type(query).__name__}")
    return query


def _opened(engine: Any) -> Any:
    if isinstance(engine, (str, Path)):
        from ..engine import Engine

        return Engine.open(engine)
    if not callable(getattr(engine, "search", None)) or not callable(getattr(engine, "asearch", None)):
        raise QueryError(
            f"engine must be an Engine, a RetrievalClient or the path of an index, got {type(engine).__name__}"
        )
    return engine
