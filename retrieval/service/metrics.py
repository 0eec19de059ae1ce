"""Prometheus metrics of the service: stage and request latency, load, batching, caches.

Every metric is named ``retrieval_*`` and lives in the instance's own registry (a fresh one by
default), so two servers or two tests in one process never collide over a metric name. Latency
arrives in milliseconds (what the engine's stage timings use) and is exported in seconds, the
Prometheus base unit.

    metrics = ServiceMetrics()
    metrics.stage("embed", 3.2); metrics.request("Search", "OK", 7.9)
    server = metrics.start_http(9464)   # GET http://127.0.0.1:9464/metrics
    server.stop()
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server

from ..errors import ConfigError

#: 0.05 ms .. 5 s, roughly 1-2.5-5 per decade: sub-millisecond stages (BM25, fusion) and
#: multi-second ones (a cold model, a long generation) both land in informative buckets.
LATENCY_BUCKETS_S = (
    0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05,
    0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
)
#: embedding batch sizes: powers of two up to well past the batcher's usual max_batch
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


@dataclass
class MetricsServer:
    """The running /metrics HTTP endpoint; ``port`` is the bound one (useful with port 0)."""

    host: str
    port: int
    _server: Any
    _thread: threading.Thread

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class ServiceMetrics:
    """The service's metrics, recorded through small typed methods."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._stage = Histogram(
            "retrieval_stage_seconds", "Time spent in one query stage (embed, bm25, dense, fuse, fetch, ...)",
            ["stage"], buckets=LATENCY_BUCKETS_S, registry=r,
        )
        self._requests = Counter(
            "retrieval_requests", "Finished RPCs by method and status code", ["method", "code"], registry=r,
        )
        #: Calls that ended before their request arrived: over gRPC's own receive limit, which is
        #: twice --max-receive-bytes (requests between the two are refused by the server and
        #: counted above as RESOURCE_EXHAUSTED), or cancelled by the client before sending it.
        self._unread = Counter(
            "retrieval_requests_unread", "RPCs that ended before their request message was read "
            "(over the transport's size limit, or cancelled first), by method", ["method"], registry=r,
        )
        self._request_latency = Histogram(
            "retrieval_request_seconds", "RPC latency as the server saw it, by method",
            ["method"], buckets=LATENCY_BUCKETS_S, registry=r,
        )
        #: RPCs being handled now; ``inflight.inc()`` / ``inflight.dec()`` (or ``track_inprogress()``)
        self.inflight = Gauge("retrieval_inflight_requests", "RPCs being handled now", registry=r)
        self._queue_depth = Gauge(
            "retrieval_queue_depth", "Requests waiting for admission or for the embedding batcher", registry=r,
        )
        self._batch_size = Histogram(
            "retrieval_embed_batch_size", "Queries embedded per model call by the micro-batcher",
            buckets=BATCH_BUCKETS, registry=r,
        )
        self._cache_hits = Counter("retrieval_cache_hits", "Cache hits by cache name", ["cache"], registry=r)
        self._cache_misses = Counter("retrieval_cache_misses", "Cache misses by cache name", ["cache"], registry=r)
        self._cache_ratio = Gauge(
            "retrieval_cache_hit_ratio", "Hits / lookups since start, by cache name", ["cache"], registry=r,
        )
        # Lookup totals per cache for the ratio gauge (the counters cannot be read back cheaply).
        self._cache_totals: dict[str, list[int]] = {}
        self._cache_lock = threading.Lock()

    def stage(self, stage: str, ms: float) -> None:
        self._stage.labels(stage).observe(ms / 1000.0)

    def request(self, method: str, code: str, ms: float) -> None:
        """One finished RPC: ``code`` is the status name ("OK", "INVALID_ARGUMENT", ...)."""
        self._requests.labels(method, code).inc()
        self._request_latency.labels(method).observe(ms / 1000.0)

    def unread(self, method: str) -> None:
        """One call that ended before its request message arrived (see ``_unread``)."""
        self._unread.labels(method).inc()

    def queue_depth(self, n: int) -> None:
        self._queue_depth.set(n)

    def batch_size(self, n: int) -> None:
        self._batch_size.observe(n)

    def cache(self, name: str, hit: bool) -> None:
        """One lookup in cache ``name`` (e.g. "result", "semantic", "embedding")."""
        (self._cache_hits if hit else self._cache_misses).labels(name).inc()
        with self._cache_lock:
            totals = self._cache_totals.setdefault(name, [0, 0])
            totals[0] += bool(hit)
            totals[1] += 1
            ratio = totals[0] / totals[1]
        self._cache_ratio.labels(name).set(ratio)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric, as /metrics serves it."""
        return generate_latest(self.registry)

    def start_http(self, port: int, host: str = "127.0.0.1") -> MetricsServer:
        """Serve /metrics on ``host:port`` from a daemon thread (port 0: any free port)."""
        try:
            server, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
        return MetricsServer(host, int(server.server_port), server, thread)
