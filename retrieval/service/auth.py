"""Bearer-token authentication.

Clients send ``authorization: Bearer <token>`` metadata. Tokens come from a file (one per line,
``#`` comments and blank lines ignored) and/or ``RETRIEVAL_TOKENS`` (comma-separated). The
health service is exempt, so load balancers and orchestrators can probe without a secret.

Comparison is constant-time: each presented token is hashed and compared with every known
token's hash with ``hmac.compare_digest``, all of them, so neither the position of the first
wrong byte nor which token matched shows in the timing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Awaitable, Callable, Iterable, Sequence

import grpc

from ..errors import ConfigError
from .errors import Unauthenticated

TOKENS_ENV = "RETRIEVAL_TOKENS"
EXEMPT_PREFIXES = ("/grpc.health.v1.Health/",)
DENIED = "missing or invalid bearer token (send 'authorization: Bearer <token>' metadata)"


def load_tokens(token_file: str | Path | None = None, environ: dict[str, str] | None = None) -> frozenset[str]:
    """Tokens from ``token_file`` and the ``RETRIEVAL_TOKENS`` variable, together."""
    env = os.environ if environ is None else environ
    tokens = {t.strip() for t in env.get(TOKENS_ENV, "").split(",") if t.strip()}
    if token_file is not None:
        path = Path(token_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the token file {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"the token file {path} is not UTF-8 text") from None
        file_tokens = {line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")}
        if not file_tokens:
            raise ConfigError(f"the token file {path} holds no tokens")
        tokens |= file_tokens
    return frozenset(tokens)


class TokenSet:
    """Known tokens, kept only as SHA-256 digests; ``matches`` is constant-time."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._digests = tuple(_digest(t) for t in tokens)
        if not self._digests:
            raise ConfigError("bearer-token auth needs at least one token")

    def matches(self, presented: str) -> bool:
        digest = _digest(presented)
        found = False
        for known in self._digests:  # every one, no early exit
            found |= hmac.compare_digest(digest, known)
        return found

    def allows(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> bool:
        """Whether call ``metadata`` carries a known bearer token."""
        for key, value in metadata or ():
            if key.lower() != "authorization" or not isinstance(value, str):
                continue
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and self.matches(token.strip()):
                return True
        return False


class BearerAuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without a known token (UNAUTHENTICATED), except health checks.

    Under ``mapped_prefix`` (the methods ``ObservingInterceptor`` wraps, outside this one) a
    refused call raises ``Unauthenticated`` for it to map, count and log; elsewhere (reflection)
    the call is aborted here. A refused call's request is never parsed: whatever bytes it sent,
    the answer is UNAUTHENTICATED, with nothing about the method's message type.
    """

    def __init__(self, tokens: TokenSet, exempt: Sequence[str] = EXEMPT_PREFIXES, mapped_prefix: str | None = None) -> None:
        self.tokens = tokens
        self.exempt = tuple(exempt)
        self.mapped_prefix = mapped_prefix

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(self.exempt):
            return handler
        if self.tokens.allows(handler_call_details.invocation_metadata):
            return handler
        mapped = self.mapped_prefix is not None and handler_call_details.method.startswith(self.mapped_prefix)
        return _denying(handler, abort=not mapped)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _denying(handler: grpc.RpcMethodHandler, abort: bool) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that refuses the call: aborts with
    UNAUTHENTICATED (``abort``) or raises ``Unauthenticated``. It has no request deserializer:
    gRPC hands it the raw bytes, so a malformed request cannot be reported before the refusal."""

    async def deny(request: object, context: grpc.aio.ServicerContext) -> None:
        if abort:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, DENIED)
        raise Unauthenticated(DENIED)

    async def deny_stream(request: object, context: grpc.aio.ServicerContext):  # type: ignore[no-untyped-def]
        await deny(request, context)
        yield  # pragma: no cover - makes this an async generator; deny raises first

    des, ser = None, handler.response_serializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(deny, des, ser)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(deny_stream, des, ser)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(deny, des, ser)
    return grpc.stream_stream_rpc_method_handler(deny_stream, des, ser)
