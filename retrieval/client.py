"""A client of a running ``retrieval serve``: the same ``search``/``asearch`` as an ``Engine``.

    client = RetrievalClient("127.0.0.1:50051", token="s3cret")
    result = client.search("how do I parse json", k=5, mode="hybrid")   # a SearchResult
    result = await client.asearch("how do I parse json", k=5)

Results come back as the library's own ``SearchResult``, so code written against an opened
bundle (the framework adapters in ``retrieval.integrations``) runs unchanged against a server.
A hit's ``chunk`` (the store's row number) is not sent over the wire: it is -1 here.

A refused call raises the library error its status code stands for: INVALID_ARGUMENT is a
``QueryError``, NOT_FOUND a ``NotFoundError``; anything else is a ``ServiceCallError`` carrying
the status code's name in ``code`` (RESOURCE_EXHAUSTED: retry later, UNAVAILABLE: retry or go
elsewhere). The message is the server's, prefixed with the code.
"""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

import grpc

from .errors import NotFoundError, QueryError, RetrievalError
from .search.filters import normalize_filters
from .service.convert import PARAM_NAMES
from .service.protos import retrieval_pb2 as pb
from .service.protos import retrieval_pb2_grpc as pb_grpc
from .types import Hit, SearchResult, StageTimings

# the engine's per-call parameter name -> its SearchParams field
PROTO_FIELDS = {engine_name: field for field, engine_name in PARAM_NAMES.items()}


class ServiceCallError(RetrievalError):
    """The server refused or failed the call; ``code`` is the gRPC status code's name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class RetrievalClient:
    """Searches a ``retrieval serve`` over gRPC (plaintext, or TLS with ``tls_ca``)."""

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        tls_ca: bytes | None = None,
        timeout_s: float | None = 30.0,
    ) -> None:
        if not isinstance(target, str) or ":" not in target:
            raise QueryError(f"the server address must be HOST:PORT, got {target!r}")
        self.target = target
        self.timeout_s = timeout_s
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._tls_ca = tls_ca
        self._channel = self._open(grpc)
        self._stub = pb_grpc.RetrievalStub(self._channel)
        # grpc.aio channels belong to the event loop they were made on: one per loop.
        self._aio: tuple[asyncio.AbstractEventLoop, Any, pb_grpc.RetrievalStub] | None = None

    def _open(self, module: Any) -> Any:
        if self._tls_ca is not None:
            return module.secure_channel(self.target, grpc.ssl_channel_credentials(root_certificates=self._tls_ca))
        return module.insecure_channel(self.target)

    # -- searching --------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str | None = None,
        params: Mapping[str, Any] | None = None,
        filters: Any = None,
    ) -> SearchResult:
        """The server's top ``k`` for ``query`` (``mode`` None: the server's default)."""
        request = search_request(query, k, mode, params, filters)
        try:
            response = self._stub.Search(request, timeout=self.timeout_s, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise call_error(exc) from None
        return search_result(query, mode, response)

    async def asearch(
        self,
        query: str,
        k: int = 10,
        mode: str | None = None,
        params: Mapping[str, Any] | None = None,
        filters: Any = None,
    ) -> SearchResult:
        """``search`` on the running event loop (grpc.aio), without a thread."""
        request = search_request(query, k, mode, params, filters)
        try:
            response = await self._aio_stub().Search(request, timeout=self.timeout_s, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise call_error(exc) from None
        return search_result(query, mode, response)

    def _aio_stub(self) -> pb_grpc.RetrievalStub:
        loop = asyncio.get_running_loop()
        if self._aio is None or self._aio[0] is not loop:
            channel = self._open(grpc.aio)
            self._aio = (loop, channel, pb_grpc.RetrievalStub(channel))
        return self._aio[2]

    # -- closing ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the channels (an aio channel whose loop is gone is left to the collector)."""
        self._channel.close()
        if self._aio is not None:
            loop, channel, _ = self._aio
            self._aio = None
            if not loop.is_closed():
                if loop.is_running():
                    loop.create_task(channel.close())
                else:
                    loop.run_until_complete(channel.close())

    def __enter__(self) -> "RetrievalClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def search_request(
    query: str, k: int, mode: str | None, params: Mapping[str, Any] | None, filters: Any
) -> pb.SearchRequest:
    """A ``SearchRequest``; ``QueryError`` for what no server would accept."""
    if not isinstance(query, str):
        raise QueryError(f"query must be a string, got {type(query).__name__}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise QueryError(f"k must be a positive integer, got {k!r}")
    if mode is not None and not isinstance(mode, str):
        raise QueryError(f"mode must be a string, got {mode!r}")
    search_params = pb.SearchParams()
    for name, value in (params or {}).items():
        field = PROTO_FIELDS.get(name)
        if field is None:
            raise QueryError(f"unknown search parameter {name!r} (known: {', '.join(sorted(PROTO_FIELDS))})")
        try:
            setattr(search_params, field, value)
        except (TypeError, ValueError) as exc:
            raise QueryError(f"search parameter {name!r}: {exc}") from None
    spec = normalize_filters(filters)
    return pb.SearchRequest(
        query=query,
        k=k,
        mode=mode or "",
        params=search_params,
        filters=[pb.Filter(key=key, values=values) for key, values in spec],
    )


def search_result(query: str, mode: str | None, response: pb.SearchResponse) -> SearchResult:
    hits = tuple(
        Hit(chunk=-1, id=h.chunk_id, doc_id=h.document_id, score=float(h.score), text=h.text, title=h.title)
        for h in response.hits
    )
    return SearchResult(query=query, mode=mode or "", hits=hits, timings=StageTimings(dict(response.timings_ms)))


def call_error(exc: grpc.RpcError) -> RetrievalError:
    """The library error a failed call stands for."""
    code = exc.code() if hasattr(exc, "code") else None
    name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    details = (exc.details() if hasattr(exc, "details") else None) or str(exc)
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        return QueryError(details)
    if code is grpc.StatusCode.NOT_FOUND:
        return NotFoundError(details)
    return ServiceCallError(name, details)
