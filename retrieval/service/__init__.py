"""The gRPC retrieval service (``retrieval serve``).

    from retrieval import Engine
    from retrieval.service import RetrievalServer, ServiceConfig

    server = RetrievalServer(Engine.open("indexes/demo"), ServiceConfig(port=50051), generator=None)
    await server.start()                 # bound, warmed up, health SERVING
    await server.stop(grace=10)          # NOT_SERVING, drain in-flight calls, stop

Modules, one concept each: ``config`` (limits and security settings), ``validation`` (request
fields), ``convert`` (protobuf at the edge), ``admission`` (in-flight bound, queue, priorities),
``workers`` (CPU thread pool with deadline checks), ``pipeline`` / ``answering`` (the search and
answer paths), ``servicer`` (thin), ``interceptors`` (status mapping, metrics, request log),
``parsing`` (request size limit and parse errors), ``response_budget`` (refusing a response too
large to send before its work), ``status`` (exception → status code), ``errors`` (the service's
own refusals), ``auth`` (bearer tokens), ``lifecycle`` (warming, serving, draining), ``preflight``
(port and TLS files checked before binding), ``server`` (gRPC server, health, reflection, TLS),
``main`` (the command line); ``batcher``, ``caches``, ``metrics``, ``warmup`` serve them. Importing this package loads
nothing heavy: gRPC loads with the first name used from it.
"""

from __future__ import annotations

from ..lazy import lazy_getattr

_LAZY = {
    "RetrievalServer": ".server",
    "ServiceConfig": ".config",
    "add_serve_parser": ".main",
    "cmd_serve": ".main",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr(__name__, _LAZY)
