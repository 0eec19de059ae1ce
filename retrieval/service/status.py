"""Which gRPC status code an exception becomes.

Bad input is never INTERNAL: every ``RetrievalError`` a client can cause maps to the code that
tells it what to do (fix the request, retry later, retry elsewhere). Only exceptions that are
bugs of ours become INTERNAL, with a generic message (the traceback goes to the log).
"""

from __future__ import annotations

import asyncio

import grpc

from ..errors import BundleError, ConfigError, CorpusError, NotFoundError, QueryError, RetrievalError
from ..errors import ShardUnavailableError, StoreUnavailableError
from ..generation.errors import (
    GenerationError,
    GenerationHTTPError,
    GenerationTimeoutError,
    GeneratorUnavailableError,
    MalformedEventError,
    PromptError,
)
from .batcher import BatcherClosedError, BatcherError
from .errors import DeadlineExpired, NoGenerator, NotServing, Overloaded, RequestTooLarge, ResponseTooLarge, Unauthenticated

Code = grpc.StatusCode

# Most specific first: the first class an exception is an instance of decides.
_CODES: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (Overloaded, Code.RESOURCE_EXHAUSTED),
    (ResponseTooLarge, Code.RESOURCE_EXHAUSTED),  # what gRPC itself says for an oversized message
    (RequestTooLarge, Code.RESOURCE_EXHAUSTED),
    (DeadlineExpired, Code.DEADLINE_EXCEEDED),
    (NotServing, Code.UNAVAILABLE),
    (Unauthenticated, Code.UNAUTHENTICATED),
    (NoGenerator, Code.FAILED_PRECONDITION),
    (BatcherClosedError, Code.UNAVAILABLE),  # shutting down
    (BatcherError, Code.INTERNAL),  # the embedder broke its contract: a bug, not the request
    (StoreUnavailableError, Code.UNAVAILABLE),
    (ShardUnavailableError, Code.UNAVAILABLE),  # a served shard has no live replica: retry later  # the chunk store (PostgreSQL) cannot be reached: retry later
    (NotFoundError, Code.NOT_FOUND),
    (QueryError, Code.INVALID_ARGUMENT),
    (ConfigError, Code.INVALID_ARGUMENT),
    (CorpusError, Code.INVALID_ARGUMENT),
    (PromptError, Code.INVALID_ARGUMENT),  # ContextWindowError included: the question is too long
    (GeneratorUnavailableError, Code.UNAVAILABLE),
    (GenerationTimeoutError, Code.DEADLINE_EXCEEDED),
    (MalformedEventError, Code.UNAVAILABLE),  # the upstream endpoint is broken, not the request
    (GenerationError, Code.UNAVAILABLE),  # e.g. the generator was closed during shutdown
    (BundleError, Code.FAILED_PRECONDITION),
    (TimeoutError, Code.DEADLINE_EXCEEDED),
    (asyncio.TimeoutError, Code.DEADLINE_EXCEEDED),
)

INTERNAL_MESSAGE = "internal error (the server logged the details)"


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and the message a client sees for ``exc``."""
    if isinstance(exc, GenerationHTTPError):
        return _http_code(exc.status), str(exc)
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code, (INTERNAL_MESSAGE if code is Code.INTERNAL else str(exc) or kind.__name__)
    if isinstance(exc, RetrievalError):  # a library error without a class of its own above
        return Code.FAILED_PRECONDITION, str(exc)
    return Code.INTERNAL, INTERNAL_MESSAGE


def _http_code(status: int) -> grpc.StatusCode:
    if status == 429:
        return Code.RESOURCE_EXHAUSTED
    if status >= 500:
        return Code.UNAVAILABLE
    # The endpoint refused what we sent it (a 4xx): our configuration, not the client's input.
    return Code.FAILED_PRECONDITION


# The HTTP status of each gRPC code: Google's own mapping (google/rpc/code.proto), so an HTTP
# client retries, backs off or gives up exactly as a gRPC client would.
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.UNAUTHENTICATED: 401,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
}


def http_status_for(exc: BaseException, code: grpc.StatusCode) -> int:
    """The HTTP status of a call that failed with ``exc`` (mapped to ``code``)."""
    if isinstance(exc, RequestTooLarge):
        return 413  # RESOURCE_EXHAUSTED would read as 429, "retry later": this one never fits
    return HTTP_STATUS.get(code, 500)
