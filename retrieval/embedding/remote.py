"""The remote embedder: any OpenAI-compatible ``/v1/embeddings`` endpoint, over plain HTTP(S).

``openai:MODEL@URL`` names it (the OpenAI API, or a local server speaking its protocol: vLLM,
infinity, text-embeddings-inference, llama.cpp's server, ``retrieval.bench.embed_server``).
Only the standard library is used: ``http.client`` with kept-alive connections, a thread pool
bounding the requests in flight.

Texts go out in input order, in requests of at most ``batch_size`` texts and ``batch_tokens``
estimated tokens; replies are checked (count, indices, numbers, dimension), put back in input
order and L2-normalised here, so a server that does not normalise gives the same vectors.
Connection errors, timeouts, HTTP 429 and 5xx are retried with exponential backoff; any other
failure is an ``EmbeddingEndpointError`` at once. The API key is read from the environment at
each request and appears in no description, fingerprint, repr or error message.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
import math
import os
import random
import socket
import ssl
import threading
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Sequence
from urllib.parse import urlsplit

import numpy as np

from ..errors import ConfigError, RetrievalError
from .base import EmbedResult, check_texts

SPEC_FORM = "openai:MODEL@URL (e.g. openai:text-embedding-3-small@https://api.openai.com/v1)"
MAX_BACKOFF_S = 10.0  # also the cap on a server's Retry-After
_EXCERPT_CHARS = 200
# Where each option lives in ``EmbeddingConfig``, so an error names the key a user would set.
_CONFIG_KEYS = {
    "batch_size": "embedding.remote_batch",
    "batch_tokens": "embedding.remote_batch_tokens",
    "concurrency": "embedding.remote_concurrency",
    "timeout_s": "embedding.remote_timeout_s",
    "retries": "embedding.remote_retries",
    "api_key_env": "embedding.api_key_env",
}


class EmbeddingEndpointError(RetrievalError):
    """An embeddings endpoint failed: unreachable or failing after retries, refused the request,
    or sent a reply that is not what the OpenAI protocol promises. The message (one line) names
    the endpoint and what to do."""


class _Retryable(Exception):
    """One failed attempt that another attempt may fix; ``kind`` picks the final message."""

    def __init__(self, kind: str, cause: str, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.kind, self.cause, self.retry_after = kind, cause, retry_after


def parse_remote_spec(spec: str) -> tuple[str, str]:
    """``(model, url)`` from ``"openai:MODEL@URL"``; the model may contain ``@`` (the last one splits).

    The URL is returned without trailing slashes; ``ConfigError`` when it is not http(s) with a host.
    """
    if not isinstance(spec, str) or not spec.startswith("openai:") or "@" not in spec:
        raise ConfigError(f"remote embedder {spec!r} must be {SPEC_FORM}")
    model, url = spec[len("openai:") :].rsplit("@", 1)
    if not model.strip():
        raise ConfigError(f"remote embedder {spec!r} names no model: expected {SPEC_FORM}")
    return model, _check_url(url, spec)


def embeddings_url(url: str) -> str:
    """Where requests go: ``{url}/embeddings`` when ``url`` ends with ``/v1``, else ``{url}/v1/embeddings``."""
    base = url.rstrip("/")
    return base + "/embeddings" if urlsplit(base).path.endswith("/v1") else base + "/v1/embeddings"


def estimate_tokens(text: str) -> int:
    """An estimate (~4 characters per token): the remote model's tokenizer is unknown here."""
    return len(text) // 4 + 1


def plan_requests(tokens: Sequence[int], batch_size: int, batch_tokens: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges of consecutive texts: at most ``batch_size`` texts and
    ``batch_tokens`` estimated tokens each; a text longer than ``batch_tokens`` goes alone."""
    ranges: list[tuple[int, int]] = []
    start, total = 0, 0
    for i, count in enumerate(tokens):
        if i > start and (i - start >= batch_size or total + count > batch_tokens):
            ranges.append((start, i))
            start, total = i, 0
        total += count
    if len(tokens) > start:
        ranges.append((start, len(tokens)))
    return ranges


class RemoteEmbedder:
    """Sentence embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint.

    ``model``: the name sent with each request. ``url``: the server, with or without ``/v1``.
    ``batch_size`` texts and ``batch_tokens`` estimated tokens (``estimate_tokens``) per request;
    ``concurrency`` requests in flight at most, across every thread using this embedder.
    ``timeout_s``: to connect, and at most between received bytes. ``retries``: extra attempts
    after a connection error, timeout, 429 or 5xx, ``backoff_s * 2**attempt`` apart (plus jitter,
    at most ``MAX_BACKOFF_S``; a numeric ``Retry-After`` is honoured up to the same cap).
    ``api_key_env``: the environment variable holding the key, sent as a bearer token when set.
    ``query_prompt`` / ``document_prompt``: prepended by ``embed_queries`` / ``embed``.
    ``max_tokens``: what the model reads (recorded only: the server truncates, not this client).
    ``dim``: the vector length; None asks the endpoint once, now. Every reply is checked against it.

    Thread-safe; ``close()`` (or ``with``) stops the pool and its connections.
    """

    variant = "remote"
    contextual = False  # pooled vectors only: no token states for sentence pooling

    def __init__(
        self,
        model: str,
        url: str,
        *,
        batch_size: int = 64,
        batch_tokens: int = 8192,
        concurrency: int = 4,
        timeout_s: float = 30.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        api_key_env: str = "OPENAI_API_KEY",
        query_prompt: str = "",
        document_prompt: str = "",
        max_tokens: int = 512,
        dim: int | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"remote embedder model must be a non-empty string, got {model!r}")
        self.url = _check_url(url, url)
        for name, value in (("batch_size", batch_size), ("batch_tokens", batch_tokens), ("concurrency", concurrency), ("max_tokens", max_tokens)):
            _check_int(name, value, 1)
        _check_int("retries", retries, 0)
        if dim is not None:
            _check_int("dim", dim, 1)
        _check_seconds("timeout_s", timeout_s, positive=True)
        _check_seconds("backoff_s", backoff_s, positive=False)
        if not isinstance(api_key_env, str) or not api_key_env or "=" in api_key_env or "\0" in api_key_env:
            raise ConfigError(f"remote embedder {_option('api_key_env')} must name an environment variable, got {api_key_env!r}")
        for name, value in (("query_prompt", query_prompt), ("document_prompt", document_prompt)):
            if not isinstance(value, str):
                raise ConfigError(f"remote embedder {name} must be a string, got {type(value).__name__}")
        self.model_id = model
        self.endpoint = embeddings_url(self.url)
        self.batch_size, self.batch_tokens, self.concurrency = batch_size, batch_tokens, concurrency
        self.timeout_s, self.retries, self.backoff_s = float(timeout_s), retries, float(backoff_s)
        self.api_key_env = api_key_env
        self.query_prompt, self.document_prompt = query_prompt, document_prompt
        self.max_tokens = max_tokens
        parts = urlsplit(self.endpoint)
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname or "", parts.port
        self._path = parts.path
        self._pool = _ConnectionPool(functools.partial(_open_connection, self._https, self._host, self._port, self.timeout_s), concurrency)
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="remote-embed")
        # Closed when the embedder is dropped, even unclosed (an engine's): no socket left open.
        self._finalizer = weakref.finalize(self, _shut, self._executor, self._pool)
        self.dim: int = 0
        try:
            # The probe text's vector sets the dimension every later reply is checked against.
            self.dim = dim if dim is not None else int(self._request(["dimension"]).shape[1])
        except BaseException:
            self.close()
            raise
        self._fingerprint = hashlib.sha256(json.dumps(self._identity(), sort_keys=True).encode("utf-8")).hexdigest()

    @classmethod
    def from_spec(cls, spec: str, **options: Any) -> "RemoteEmbedder":
        """The embedder ``"openai:MODEL@URL"`` names, with ``__init__``'s keyword options."""
        model, url = parse_remote_spec(spec)
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise ConfigError(f"unknown remote embedder option(s) {', '.join(unknown)}; known: {', '.join(sorted(_OPTIONS))}")
        return cls(model, url, **options)

    # -- identity ---------------------------------------------------------------------------

    def _identity(self) -> dict[str, Any]:
        # Not the endpoint (the same model served elsewhere gives the same vectors), never the key.
        return {"kind": "openai", "model_id": self.model_id, "dim": self.dim, "prompts": self._prompts()}

    def _prompts(self) -> dict[str, str]:
        return {"query": self.query_prompt, "document": self.document_prompt}

    @property
    def fingerprint(self) -> str:
        """sha256 over kind, model id, dimension and prompts: equal fingerprints, equal vectors."""
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        """Identity for an index bundle's manifest (no key: it stays in the environment)."""
        return {
            "kind": "openai",
            "implementation": "openai-http",
            "model_id": self.model_id,
            "endpoint": self.url,
            "dim": self.dim,
            "max_tokens": self.max_tokens,
            "variant": self.variant,
            "pooling": "remote",
            "normalized": True,
            "prompts": self._prompts(),
            "weights_sha256": None,
            "tokenizer_sha256": None,
            "fingerprint": self._fingerprint,
        }

    # -- embedding --------------------------------------------------------------------------

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Documents (``document_prompt`` first): float32 [len(texts), dim], unit rows, input order."""
        return self.embed_with_info(texts).vectors

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Queries: as ``embed``, with ``query_prompt`` in place of ``document_prompt``."""
        return self.embed_with_info(texts, query=True).vectors

    def embed_with_info(self, texts: Sequence[str], query: bool = False) -> EmbedResult:
        """``embed`` (``embed_queries`` when ``query``) plus estimated tokens; truncation is the
        server's and unknown here, so ``truncated`` is all False."""
        prompt = self.query_prompt if query else self.document_prompt
        items = [prompt + t for t in check_texts(texts)] if prompt else check_texts(texts)
        tokens = np.fromiter((estimate_tokens(t) for t in items), dtype=np.int64, count=len(items))
        ranges = plan_requests(tokens.tolist(), self.batch_size, self.batch_tokens)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        futures: list[Future[np.ndarray]] = []
        try:
            for start, stop in ranges:
                futures.append(self._executor.submit(self._request, items[start:stop]))
        except RuntimeError:  # the executor is shut down
            raise EmbeddingEndpointError(f"remote embedder for {self.endpoint} is closed: create a new one") from None
        try:
            for (start, stop), future in zip(ranges, futures):
                out[start:stop] = future.result()
        finally:
            for future in futures:  # after a failure, requests not yet sent are not sent
                future.cancel()
        return EmbedResult(vectors=out, tokens=tokens, truncated=np.zeros(len(items), dtype=bool))

    def token_counts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(estimated tokens, truncated=False)`` per document text, without a request."""
        items = [self.document_prompt + t for t in check_texts(texts)]
        tokens = np.fromiter((estimate_tokens(t) for t in items), dtype=np.int64, count=len(items))
        return tokens, np.zeros(len(items), dtype=bool)

    # -- one request ------------------------------------------------------------------------

    def _request(self, texts: list[str]) -> np.ndarray:
        """Unit float32 vectors for ``texts`` (one request, retried), or ``EmbeddingEndpointError``."""
        body = json.dumps({"model": self.model_id, "input": texts, "encoding_format": "float"}).encode("utf-8")
        for attempt in range(self.retries + 1):
            try:
                status, headers, payload = self._post(body)
                return self._vectors(status, headers, payload, len(texts))
            except _Retryable as failure:
                if attempt == self.retries:
                    raise self._gave_up(failure, attempt + 1) from None
                delay = min(MAX_BACKOFF_S, self.backoff_s * 2**attempt) * (1 + 0.1 * random.random())
                if failure.retry_after is not None:
                    delay = failure.retry_after
                time.sleep(min(delay, MAX_BACKOFF_S))
        raise AssertionError("unreachable")  # pragma: no cover

    def _post(self, body: bytes) -> tuple[int, http.client.HTTPMessage, bytes]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        while True:
            conn, reused = self._pool.take()
            try:
                conn.request("POST", self._path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except ssl.SSLCertVerificationError as exc:  # another attempt cannot fix a certificate
                conn.close()
                raise EmbeddingEndpointError(f"embedding endpoint {self.endpoint}: TLS certificate rejected: {_reason(exc)}") from None
            except (socket.timeout, TimeoutError):
                conn.close()
                raise _Retryable("timeout", f"no answer within {self.timeout_s:g} s") from None
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                if reused:  # the server closed an idle kept-alive connection: not a failure
                    continue
                raise _Retryable("connection", _reason(exc)) from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise _Retryable("connection", _reason(exc)) from None
            if response.will_close:
                conn.close()
            else:
                self._pool.give(conn)
            return response.status, response.headers, payload

    def _vectors(self, status: int, headers: http.client.HTTPMessage, payload: bytes, count: int) -> np.ndarray:
        where = f"embedding endpoint {self.endpoint}"
        if status == 429:
            raise _Retryable("status", "HTTP 429 (rate limited)", _retry_after(headers.get("Retry-After")))
        if status >= 500 or status == 408:
            raise _Retryable("status", f"HTTP {status}: {self._excerpt(payload)}")
        if status in (401, 403):
            raise EmbeddingEndpointError(f"{where} refused the request (HTTP {status}): set the environment variable {self.api_key_env} to a valid API key")
        if status == 404:
            raise EmbeddingEndpointError(f"{where} answered HTTP 404: the URL or the model {self.model_id!r} may be wrong (expected an OpenAI-compatible /v1/embeddings)")
        if not 200 <= status < 300:
            raise EmbeddingEndpointError(f"{where} rejected the request (HTTP {status}): {self._excerpt(payload)}")
        vectors = _parse_reply(payload, count)
        if isinstance(vectors, str):
            raise EmbeddingEndpointError(f"{where} sent a malformed reply: {vectors}; is it an OpenAI-compatible /v1/embeddings endpoint?")
        if self.dim and vectors.shape[1] != self.dim:
            raise EmbeddingEndpointError(f"{where} returned {vectors.shape[1]}-d vectors, expected {self.dim} (model {self.model_id!r}): point it at the model the index was built with")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, np.finfo(np.float32).tiny)

    def _gave_up(self, failure: _Retryable, attempts: int) -> EmbeddingEndpointError:
        what, hint = {
            "connection": ("unreachable", "is the server running at that address?"),
            "timeout": ("timed out", "raise embedding.remote_timeout_s or lower embedding.remote_batch"),
            "status": ("failed", "the server is failing or rate limiting: retry later or lower embedding.remote_concurrency"),
        }[failure.kind]
        plural = "s" if attempts != 1 else ""
        return EmbeddingEndpointError(f"embedding endpoint {self.endpoint} {what} after {attempts} attempt{plural}: {failure.cause}; {hint}")

    def _excerpt(self, payload: bytes) -> str:
        text = " ".join(payload.decode("utf-8", "replace").split())[:_EXCERPT_CHARS] or "(empty body)"
        key = os.environ.get(self.api_key_env)
        return text.replace(key, "***") if key else text

    def close(self) -> None:
        """Stop the request threads and close kept-alive connections; later calls fail clearly."""
        self._finalizer()

    def __enter__(self) -> "RemoteEmbedder":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteEmbedder(model={self.model_id!r}, endpoint={self.endpoint!r}, dim={self.dim}, batch_size={self.batch_size}, concurrency={self.concurrency})"


_OPTIONS = frozenset(
    ["batch_size", "batch_tokens", "concurrency", "timeout_s", "retries", "backoff_s", "api_key_env", "query_prompt", "document_prompt", "max_tokens", "dim"]
)


def _open_connection(https: bool, host: str, port: int | None, timeout_s: float) -> http.client.HTTPConnection:
    if https:
        return http.client.HTTPSConnection(host, port, timeout=timeout_s, context=ssl.create_default_context())
    return http.client.HTTPConnection(host, port, timeout=timeout_s)


def _shut(executor: ThreadPoolExecutor, pool: "_ConnectionPool") -> None:
    # Not waiting: the last reference may be dropped on one of the executor's own threads.
    executor.shutdown(wait=False, cancel_futures=True)
    pool.close()


class _ConnectionPool:
    """Idle kept-alive connections, any thread takes one (or a new one) and gives it back."""

    def __init__(self, connect: Any, keep: int) -> None:
        self._connect, self._keep = connect, keep
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def take(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def give(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._keep:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _parse_reply(payload: bytes, count: int) -> np.ndarray | str:
    """float32 [count, d] rows in index order, or what is wrong with the reply."""
    try:
        reply = json.loads(payload)
    except ValueError:
        return f"not JSON ({len(payload)} bytes)"
    data = reply.get("data") if isinstance(reply, dict) else None
    if not isinstance(data, list):
        return "no 'data' list"
    if len(data) != count:
        return f"{len(data)} embeddings for {count} inputs"
    rows: list[np.ndarray | None] = [None] * count
    for item in data:
        index = item.get("index") if isinstance(item, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count or rows[index] is not None:
            return f"item index {index!r} is missing, out of range or repeated"
        try:
            vector = np.array(item.get("embedding"))
        except (ValueError, TypeError):  # ragged nesting
            vector = np.array([])
        if vector.ndim != 1 or vector.size == 0 or vector.dtype.kind not in "fi" or not np.isfinite(vector).all():
            return f"item {index}'s 'embedding' is not a list of finite numbers"
        rows[index] = vector
    lengths = {len(row) for row in rows if row is not None}
    if len(lengths) > 1:
        return f"vectors of different lengths {sorted(lengths)} in one reply"
    return np.asarray(rows, dtype=np.float32)


def _retry_after(value: str | None) -> float | None:
    """A numeric ``Retry-After`` in seconds (capped), or None (absent, or an HTTP date: use backoff)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return None if seconds is None or not math.isfinite(seconds) or seconds < 0 else min(seconds, MAX_BACKOFF_S)


def _reason(exc: BaseException) -> str:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    return " ".join(str(reason).split())


def _option(name: str) -> str:
    return f"{name} ({_CONFIG_KEYS[name]})" if name in _CONFIG_KEYS else name


def _check_url(url: Any, shown: Any) -> str:
    if not isinstance(url, str):
        raise ConfigError(f"remote embedder URL must be a string, got {type(url).__name__}: expected {SPEC_FORM}")
    parts = urlsplit(url.strip())
    try:
        parts.port  # raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"remote embedder {shown!r} has a bad port: expected {SPEC_FORM}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"remote embedder {shown!r} needs an http:// or https:// URL with a host: expected {SPEC_FORM}")
    if parts.query or parts.fragment:
        raise ConfigError(f"remote embedder {shown!r}: the URL must have no query or fragment")
    return url.strip().rstrip("/")


def _check_int(name: str, value: Any, least: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ConfigError(f"remote embedder {_option(name)} must be an integer >= {least}, got {value!r}")


def _check_seconds(name: str, value: Any, positive: bool) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        raise ConfigError(f"remote embedder {_option(name)} must be a finite number of seconds {'> 0' if positive else '>= 0'}, got {value!r}")
