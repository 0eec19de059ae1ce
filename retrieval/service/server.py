"""The gRPC server: ``retrieval.v1.Retrieval``, health, reflection, metrics; start and stop.

With ``http_port`` set, the same servicer is also served as HTTP/JSON (``http_gateway.py``) on
the same event loop, sharing admission, caches, auth, metrics and the request log.

    server = RetrievalServer(engine, ServiceConfig(port=50051), generator=generator)
    await server.start()             # listening, warmed up, health SERVING
    await server.wait_for_termination()
    await server.stop(grace=10)      # (from a signal handler) drain, then stop

Startup: the TLS files and the port are checked (``preflight.py``: a bad start is one line that
names its cause), then the port is bound with health NOT_SERVING (probes get an answer, Retrieval calls
UNAVAILABLE), then the model, indexes and caches are warmed (``warmup.py``, plus one short
answer when there is a generator), and only then does health say SERVING: the first real
request never pays a cold start.

Stop: health turns NOT_SERVING, and after ``drain_delay_s`` (time for load balancers to notice)
new calls are refused with UNAVAILABLE while the ones in flight finish, for up to ``grace``
seconds; then gRPC stops (cancelling anything left) and the batcher, worker threads and metrics
endpoint shut down. The engine and the generator belong to the caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ..errors import ConfigError, QueryError, RetrievalError
from ..generation.errors import GenerationError
from .admission import Admission
from .answering import AnswerPipeline
from .auth import BearerAuthInterceptor, TokenSet
from .batcher import MicroBatcher
from .caches import ResultCache, SemanticCache
from .config import ServiceConfig
from .interceptors import SERVICE_PREFIX, ObservingInterceptor
from .lifecycle import Lifecycle
from .metrics import ServiceMetrics
from .parsing import transport_limit
from .pipeline import SearchPipeline
from .preflight import check_port_free, check_tls_files
from .protos import retrieval_pb2, retrieval_pb2_grpc
from .response_budget import ResponseBudget
from .servicer import RetrievalServicer
from .validation import RequestRules
from .warmup import MAX_QUERIES, warm
from .workers import CpuPool

LOG = logging.getLogger("retrieval.service")
SERVICE_NAME = retrieval_pb2.DESCRIPTOR.services_by_name["Retrieval"].full_name
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# What reflection lists.
SERVICE_NAMES = (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME)


class RetrievalServer:
    """One ``grpc.aio`` server over an opened ``Engine`` (see the module docstring)."""

    def __init__(
        self,
        engine: Any,
        config: ServiceConfig | None = None,
        *,
        generator: Any = None,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.engine = engine
        self.config = config or ServiceConfig()
        self.generator = generator
        self.metrics = metrics or ServiceMetrics()
        self.rules = RequestRules.for_engine(engine, self.config)  # fails early on a bad default mode
        self.lifecycle = Lifecycle()
        self.port: int | None = None  # the bound port, once started
        self.metrics_port: int | None = None
        self.http_port: int | None = None  # the HTTP/JSON gateway's bound port, when it runs
        self.health = health.aio.HealthServicer()
        self._server: grpc.aio.Server | None = None
        self._metrics_http: Any = None
        self._http: Any = None  # HttpGateway (aiohttp is imported only when it is asked for)
        self._servicer: RetrievalServicer | None = None
        self._pool: CpuPool | None = None
        self._batcher: MicroBatcher | None = None
        self.admission: Admission | None = None
        self.searches: SearchPipeline | None = None
        self.answers: AnswerPipeline | None = None
        self.budget = ResponseBudget(engine, self.config.max_send_bytes)
        self._stopping: asyncio.Task[None] | None = None
        self._announced = False  # "listening on" was logged: stopping is worth logging too
        self._watcher: asyncio.Future[None] | None = None  # follows bundle updates (reload_interval_s)

    # -- start ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind, warm up, then report SERVING. Raises ``ConfigError`` if the port cannot be bound."""
        try:
            await self._start()
        except BaseException:
            await self.stop(grace=0)  # release the port, threads and batcher of a half start
            raise

    async def _start(self) -> None:
        config = self.config
        self._pool = CpuPool(config.worker_threads)
        self.admission = Admission(config.max_inflight, config.queue_limit, self.metrics.queue_depth)
        if "dense" in self.engine.modes:
            self._batcher = MicroBatcher(
                _counting_embedder(self.engine, self.metrics),
                max_batch=config.embed_max_batch,
                max_wait_ms=config.embed_max_wait_ms,
                on_batch=self.metrics.batch_size,
            )
        results = ResultCache(config.result_cache_size, config.result_cache_ttl_s) if config.result_cache_size else None
        semantic = None
        if config.semantic_cache_threshold is not None and self._batcher is not None:
            semantic = SemanticCache(config.semantic_cache_size, config.semantic_cache_threshold)
        self.searches = SearchPipeline(
            self.engine, pool=self._pool, admission=self.admission, batcher=self._batcher,
            results=results, semantic=semantic, metrics=self.metrics,
        )  # fmt: skip
        self.answers = AnswerPipeline(
            self.engine, self.generator, pool=self._pool, admission=self.admission,
            max_streams=config.max_answer_streams, metrics=self.metrics,
        )  # fmt: skip
        self._server = self._build_server()
        self.port = self._bind(self._server)
        await self.health.set("", NOT_SERVING)
        await self.health.set(SERVICE_NAME, NOT_SERVING)
        await self._server.start()
        if config.http_port is not None:
            await self._start_http()
        if config.metrics_port:
            metrics_host = (config.metrics_host or config.host).strip("[]")
            self._metrics_http = self.metrics.start_http(config.metrics_port, metrics_host)
            self.metrics_port = self._metrics_http.port
        self._announced = True
        http = f", HTTP/JSON on port {self.http_port}" if self.http_port is not None else ""
        LOG.info("listening on %s:%s%s (%s, auth %s); warming up", config.host, self.port, http,
                 "TLS" if config.tls_enabled else "plaintext", "on" if config.auth_enabled else "off")
        await self._warm()
        self.lifecycle.serving()
        await self.health.set("", SERVING)
        await self.health.set(SERVICE_NAME, SERVING)
        if config.reload_interval_s and hasattr(self.engine, "refresh"):
            self._watcher = asyncio.ensure_future(self._follow_bundle(config.reload_interval_s))
        LOG.info("serving %s on port %s", SERVICE_NAME, self.port)

    async def _start_http(self) -> None:
        from .calls import CallObserver
        from .http_gateway import HttpGateway

        config = self.config
        assert self._servicer is not None and config.http_port is not None
        check_port_free(config.host, config.http_port)
        tokens = TokenSet(config.tokens) if config.auth_enabled else None
        observer = CallObserver(self.lifecycle, self.metrics)
        self._http = HttpGateway(self._servicer, observer, tokens, config.max_receive_bytes)
        ssl_context = _tls_context(config.tls_cert, config.tls_key) if config.tls_enabled else None
        try:
            self.http_port = await self._http.start(config.host, config.http_port, ssl_context)
        except OSError as exc:
            raise ConfigError(f"cannot serve HTTP on {config.host}:{config.http_port}: {exc.strerror or exc}") from None

    async def _follow_bundle(self, interval: float) -> None:
        """Switch to a newer bundle version when one is committed (off the event loop)."""
        while True:
            await asyncio.sleep(interval)
            try:
                if await asyncio.to_thread(self.engine.refresh):
                    LOG.info("switched to bundle version %s", self.engine.manifest.version)
            except Exception as exc:  # a broken new version: keep serving the open one
                LOG.warning("cannot switch to the bundle's new version (still serving the open one): %s", exc)

    def _build_server(self) -> grpc.aio.Server:
        interceptors: list[grpc.aio.ServerInterceptor] = [
            ObservingInterceptor(self.lifecycle, self.metrics, max_receive_bytes=self.config.max_receive_bytes)
        ]
        if self.config.auth_enabled:
            interceptors.append(BearerAuthInterceptor(TokenSet(self.config.tokens), mapped_prefix=SERVICE_PREFIX))
        server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                # Above ours: the interceptor refuses (and counts) what lies between.
                ("grpc.max_receive_message_length", transport_limit(self.config.max_receive_bytes)),
                ("grpc.max_send_message_length", self.config.max_send_bytes),
                ("grpc.so_reuseport", 0),  # a port in use is an error, not a silent share
            ],
        )
        assert self.searches is not None and self.answers is not None
        servicer = RetrievalServicer(self.rules, self.searches, self.answers, self.config.max_send_bytes, self.budget)
        self._servicer = servicer  # the HTTP gateway serves the same one
        retrieval_pb2_grpc.add_RetrievalServicer_to_server(servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(SERVICE_NAMES, server)
        return server

    def _bind(self, server: grpc.aio.Server) -> int:
        config = self.config
        # gRPC reports both as "Failed to bind", after lines of its own log: find the cause first.
        if config.tls_enabled:
            check_tls_files(config.tls_cert, config.tls_key)  # type: ignore[arg-type]
        check_port_free(config.host, config.port)
        try:
            if config.tls_enabled:
                port = server.add_secure_port(config.address, _tls_credentials(config.tls_cert, config.tls_key))
            else:
                port = server.add_insecure_port(config.address)
        except RuntimeError as exc:
            raise ConfigError(f"cannot listen on {config.address}: {exc}") from None
        if port == 0:  # older gRPC reports a failed bind this way
            raise ConfigError(f"cannot listen on {config.address} (in use, or not an address of this machine)")
        return port

    async def _warm(self) -> None:
        started = time.perf_counter()
        queries = list(self.config.warmup_queries)
        await warm(self.engine, self._batcher, queries)
        try:
            await self.budget.hit_bytes()  # measured now, not during the first search
        except RetrievalError as exc:  # e.g. the chunk store is down: measured at the first search
            LOG.warning("cannot measure the bundle's hit size yet: %s", exc)
        await self._prefill_result_cache(queries[:MAX_QUERIES])
        if self.answers is not None and self.generator is not None:
            try:
                await self.answers.warm(self.rules.default_mode, *queries[:1])
            except GenerationError as exc:  # a remote endpoint may come up later: search still works
                LOG.warning("generator warm-up failed (Answer calls will report it): %s", exc)
        LOG.info("warm-up done in %.2f s", time.perf_counter() - started)

    async def _prefill_result_cache(self, queries: list[str]) -> None:
        """Recent queries with the default k and mode: their repeats are answered from the cache."""
        if self.searches is None or self.searches.results is None:
            return
        for text in queries:
            try:
                await self.searches.search(self.rules.search(text, 0, "", {}), None)
            except QueryError as exc:  # e.g. longer than the query limit: production refuses it too
                LOG.info("warm-up skips %r: %s", text[:80], exc)

    # -- stop -----------------------------------------------------------------------------------

    async def stop(self, grace: float | None = None) -> None:
        """Drain and stop (see the module docstring); later calls wait for the first one."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop(self.config.grace_s if grace is None else grace))
        await asyncio.shield(self._stopping)

    async def _stop(self, grace: float) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        await self.health.enter_graceful_shutdown()  # NOT_SERVING for every service
        if self.config.drain_delay_s:
            await asyncio.sleep(self.config.drain_delay_s)
        deadline = time.monotonic() + grace
        self.lifecycle.draining()
        if self.admission is not None:
            self.admission.close()
        # A start that failed before listening stops quietly: its error is the one line to show.
        log = LOG.info if self._announced else LOG.debug
        log("draining: %d calls in flight, %.1f s grace", self.lifecycle.active, grace)
        drained = await self.lifecycle.wait_idle(max(deadline - time.monotonic(), 0.0))
        if not drained:
            LOG.warning("grace period over with %d calls in flight: cancelling them", self.lifecycle.active)
        if self._server is not None:
            # Drained: what is left are health watches and reflection streams, which never end
            # on their own, so there is nothing to wait for.
            await self._server.stop(0 if drained else max(deadline - time.monotonic(), 0.0))
        if self._http is not None:
            await self._http.stop()
        if self._batcher is not None:
            await self._batcher.close()
        if self._pool is not None:
            # Jobs of calls cancelled at the end of the grace period may still be running: they
            # finish on their own (nobody reads their result), stop() does not wait for them.
            self._pool.shutdown(wait=drained)
        if self._metrics_http is not None:
            self._metrics_http.stop()
        log("stopped")

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()


def _counting_embedder(engine: Any, metrics: ServiceMetrics) -> Any:
    """``engine.embed_queries`` reporting the embedder's LRU hits and misses to ``metrics``.

    The counts are the LRU's own counters before and after the call, so a concurrent lookup
    from another thread (an Answer's search) can land in this call's tally: the ratio stays right.
    """
    cache = engine.view().query_cache

    def embed_many(texts: list[str]) -> Any:
        before = cache.stats() if cache is not None else None
        vectors = engine.embed_queries(texts)
        if before is not None:
            after = cache.stats()
            for _ in range(after.hits - before.hits):
                metrics.cache("embedding", True)
            for _ in range(after.misses - before.misses):
                metrics.cache("embedding", False)
        return vectors

    return embed_many


def _tls_credentials(cert: Path | None, key: Path | None) -> grpc.ServerCredentials:
    try:
        cert_bytes = Path(cert).read_bytes()  # type: ignore[arg-type]
        key_bytes = Path(key).read_bytes()  # type: ignore[arg-type]
    except OSError as exc:
        raise ConfigError(f"cannot read the TLS certificate or key: {exc.strerror or exc}: {exc.filename}") from None
    return grpc.ssl_server_credentials([(key_bytes, cert_bytes)])


def _tls_context(cert: Path | None, key: Path | None) -> Any:
    """The HTTP gateway's TLS context: the same certificate and key as gRPC's."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the TLS certificate or key for HTTP: {exc}") from None
    return context
