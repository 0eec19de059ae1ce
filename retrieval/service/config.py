"""The service's settings: one frozen dataclass, checked when it is made.

Everything that bounds work (queue, in-flight calls, query length, k, batch size, message sizes)
lives here, so an operator sees every limit in one place and a typo fails at startup, not at
the first request. ``retrieval serve`` fills it from its command-line options (``main.py``).
"""

from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

MIB = 1 << 20
MAX_PORT = 65535
MAX_MESSAGE_BYTES = (1 << 31) - 1  # gRPC's own ceiling


@dataclass(frozen=True)
class ServiceConfig:
    """Where to listen, how much work to accept, and what to protect.

    ``max_inflight`` calls run at once (embedding, searching, preparing a prompt); up to
    ``queue_limit`` more wait for a slot, interactive calls (Search, Answer) ahead of
    SearchBatch; beyond that a call gets RESOURCE_EXHAUSTED at once. ``workers`` threads do the
    CPU work (0: one per core, at most 4). ``tokens`` turn on bearer-token auth; listening on
    anything but loopback without tokens is refused unless ``insecure_no_auth``.
    """

    host: str = "127.0.0.1"
    port: int = 50051
    metrics_port: int = 9464  # 0: no metrics endpoint
    http_port: int | None = None  # HTTP/JSON beside gRPC on the same host (0: a free port); None: off
    metrics_host: str | None = None  # None: the gRPC host. The endpoint has no auth.
    workers: int = 0
    max_inflight: int = 64
    queue_limit: int = 256
    # Request limits.
    max_query_chars: int = 4096
    max_k: int = 1000
    default_k: int = 10
    default_mode: str | None = None  # None: hybrid when the bundle has vectors, else bm25
    max_batch_queries: int = 256
    max_candidates: int = 10_000  # bounds per-call candidates / ef_search: memory per call
    # Query-embedding micro-batching.
    embed_max_batch: int = 32
    embed_max_wait_ms: float = 2.0
    # Caches.
    result_cache_size: int = 4096  # 0: off; entries hold the hits' text (~k KB each)
    result_cache_ttl_s: float | None = None
    semantic_cache_threshold: float | None = None  # cosine; None: off (opt-in)
    semantic_cache_size: int = 1000
    # Answers.
    max_answer_streams: int = 4  # answers generating or waiting for the generator
    default_answer_tokens: int = 256
    max_answer_tokens: int = 1024
    # Transport and security.
    max_receive_bytes: int = 4 * MIB
    max_send_bytes: int = 16 * MIB
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tokens: frozenset[str] = field(default_factory=frozenset, repr=False)
    insecure_no_auth: bool = False
    # Lifecycle.
    grace_s: float = 10.0
    drain_delay_s: float = 0.0  # NOT_SERVING this long before refusing calls (load balancers)
    warmup_queries: tuple[str, ...] = ()
    # Follow updates of the bundle (retrieval sync/update/compact in another process): check
    # its manifest this often and switch versions when it changed. 0: serve what was opened.
    reload_interval_s: float = 5.0

    def __post_init__(self) -> None:
        _int("port", self.port, 0, MAX_PORT)
        _int("metrics_port", self.metrics_port, 0, MAX_PORT)
        if self.http_port is not None:
            _int("http_port", self.http_port, 0, MAX_PORT)
            if self.http_port and self.http_port in (self.port, self.metrics_port):
                raise ConfigError(f"service.http_port {self.http_port} is already the gRPC or the metrics port")
        _int("workers", self.workers, 0, 256)
        _int("max_inflight", self.max_inflight, 1, 100_000)
        _int("queue_limit", self.queue_limit, 0, 1_000_000)
        _int("max_query_chars", self.max_query_chars, 1, 1_000_000)
        _int("max_k", self.max_k, 1, 10_000)
        _int("default_k", self.default_k, 1, self.max_k)
        _int("max_batch_queries", self.max_batch_queries, 1, 100_000)
        _int("max_candidates", self.max_candidates, 1, 1_000_000)
        _int("embed_max_batch", self.embed_max_batch, 1, 4096)
        _number("embed_max_wait_ms", self.embed_max_wait_ms, 0.0, 1000.0)
        _int("result_cache_size", self.result_cache_size, 0, 100_000_000)
        if self.result_cache_ttl_s is not None:
            _number("result_cache_ttl_s", self.result_cache_ttl_s, 0.001, math.inf)
        if self.semantic_cache_threshold is not None:
            _number("semantic_cache_threshold", self.semantic_cache_threshold, 0.0, 1.0)
        _int("semantic_cache_size", self.semantic_cache_size, 1, 10_000_000)
        _int("max_answer_streams", self.max_answer_streams, 1, 10_000)
        _int("max_answer_tokens", self.max_answer_tokens, 1, 1_000_000)
        _int("default_answer_tokens", self.default_answer_tokens, 1, self.max_answer_tokens)
        _int("max_receive_bytes", self.max_receive_bytes, 1024, MAX_MESSAGE_BYTES)
        _int("max_send_bytes", self.max_send_bytes, 1024, MAX_MESSAGE_BYTES)
        _number("grace_s", self.grace_s, 0.0, 3600.0)
        _number("drain_delay_s", self.drain_delay_s, 0.0, 3600.0)
        _number("reload_interval_s", self.reload_interval_s, 0.0, 86400.0)
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("TLS needs both a certificate and a key (--tls-cert and --tls-key)")
        if any(not t or any(c.isspace() for c in t) for t in self.tokens):
            raise ConfigError("auth tokens must be non-empty and contain no whitespace")
        if self.tokens and self.insecure_no_auth:
            raise ConfigError("tokens were given together with --insecure-no-auth: choose one")
        if not self.tokens and not self.insecure_no_auth and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to listen on {self.host} without authentication: give --token-file or "
                "RETRIEVAL_TOKENS, or pass --insecure-no-auth"
            )

    @property
    def auth_enabled(self) -> bool:
        return bool(self.tokens)

    @property
    def tls_enabled(self) -> bool:
        return self.tls_cert is not None

    @property
    def worker_threads(self) -> int:
        """CPU worker threads: ``workers``, or one per core (at most 4) when 0."""
        if self.workers:
            return self.workers
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return max(1, min(4, cores))

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (``localhost``, 127/8, ``::1``)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"service.{name} must be an integer in [{low}, {high}], got {value!r}")


def _number(name: str, value: object, low: float, high: float) -> None:
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    if not low <= number <= high:  # NaN fails every comparison
        raise ConfigError(f"service.{name} must be a number in [{low:g}, {high:g}], got {value!r}")
