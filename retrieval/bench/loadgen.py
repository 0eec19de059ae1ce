"""A load generator for the service's Search: over gRPC (grpc.aio), or over HTTP/JSON
(``POST /v1/search`` with aiohttp's client, ``transport="http"``), with the same driver, so
the two are compared like for like.

Two ways to apply load:

- **closed loop** (``rate=None``): ``concurrency`` clients, each sending its next request as
  soon as the previous one answers. Throughput is what the server sustains at that concurrency;
  latency is send → answer.
- **open loop** (``rate`` requests/s): arrivals are scheduled in advance (Poisson, or a fixed
  interval) independently of how fast the server answers, and at most ``concurrency`` requests
  are in flight. Latency is measured from the *intended* send time, so a slow server is charged
  for the queue it causes instead of silently slowing the client down ("coordinated omission").
  Arrivals still unsent when the duration is over are counted as errors with code ``NOT_SENT``.

Queries cycle through the given texts in order. Warm-up traffic (``warmup_s``) runs first with
the same settings and is not recorded. Timing uses ``perf_counter_ns``; percentiles are over
every successful request.
"""

from __future__ import annotations

import asyncio
import contextlib
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Sequence

import numpy as np

from ..errors import RetrievalError

NOT_SENT = "NOT_SENT"
#: a send later than this after its intended time counts as late (open loop)
LATE_NS = 1_000_000
ARRIVALS = ("poisson", "fixed")
#: used when no query file is given: short, varied, the kind of thing people ask a doc index
DEFAULT_QUERIES = (
    "how do I read a file line by line",
    "parse json from a string",
    "regular expression match groups",
    "sort a list of dictionaries by key",
    "difference between a list and a tuple",
    "open a network socket",
    "run a function in a thread pool",
    "format dates and times",
    "handle exceptions and clean up resources",
    "generate random numbers with a seed",
    "what is a context manager",
    "iterate over a dictionary",
    "write a unit test",
    "log messages to a file",
    "join file system paths",
    "read environment variables",
)


class LoadTargetError(RetrievalError):
    """The target server cannot be reached (wrong address, not running, TLS mismatch)."""


@dataclass(frozen=True)
class LoadSpec:
    target: str  # HOST:PORT
    queries: Sequence[str] = DEFAULT_QUERIES
    concurrency: int = 8
    duration_s: float = 10.0
    rate: float | None = None  # requests/s: open loop; None: closed loop
    arrivals: str = "poisson"  # open loop: "poisson" or "fixed" interval
    mode: str = ""  # "" lets the server pick its default
    k: int = 10
    deadline_s: float | None = 10.0
    token: str | None = None  # sent as "authorization: Bearer <token>"
    tls_ca: bytes | None = None  # PEM root certificates: TLS when given
    warmup_s: float = 0.0
    seed: int = 0
    connect_timeout_s: float = 5.0
    transport: str = "grpc"  # or "http": the server's --http-port


@dataclass
class LoadResult:
    latencies_ns: list[int] = field(default_factory=list)  # successful requests only
    codes: Counter[str] = field(default_factory=Counter)  # status name -> count, "OK" included
    late_sends: int = 0
    elapsed_s: float = 0.0

    def add(self, code: str, latency_ns: int) -> None:
        self.codes[code] += 1
        if code == "OK":
            self.latencies_ns.append(latency_ns)

    @property
    def requests(self) -> int:
        return sum(self.codes.values())

    @property
    def ok(self) -> int:
        return self.codes["OK"]


async def run_load(spec: LoadSpec) -> LoadResult:
    """Connect, warm up, then apply the load for ``spec.duration_s``; the measured result."""
    _check_spec(spec)
    caller = _grpc_caller if spec.transport == "grpc" else _http_caller
    async with caller(spec) as call:
        driver = _Driver(call, len(spec.queries), spec)
        if spec.warmup_s > 0:
            await driver.run(spec.warmup_s, LoadResult())
        result = LoadResult()
        await driver.run(spec.duration_s, result)
        return result


@contextlib.asynccontextmanager
async def _grpc_caller(spec: LoadSpec) -> AsyncIterator[Callable[[int], Awaitable[str]]]:
    """``call(i)``: Search for query ``i``; its status code's name."""
    import grpc

    from ..service.protos import retrieval_pb2, retrieval_pb2_grpc

    channel = _channel(spec, grpc)
    try:
        try:
            await asyncio.wait_for(channel.channel_ready(), spec.connect_timeout_s)
        except asyncio.TimeoutError:
            raise LoadTargetError(f"cannot connect to {spec.target} within {spec.connect_timeout_s:g} s") from None
        stub = retrieval_pb2_grpc.RetrievalStub(channel)
        requests = [retrieval_pb2.SearchRequest(query=q, k=spec.k, mode=spec.mode) for q in spec.queries]
        metadata = (("authorization", f"Bearer {spec.token}"),) if spec.token else None

        async def call(i: int) -> str:
            try:
                await stub.Search(requests[i], timeout=spec.deadline_s, metadata=metadata)
            except grpc.aio.AioRpcError as exc:
                return exc.code().name
            return "OK"

        yield call
    finally:
        await channel.close()


@contextlib.asynccontextmanager
async def _http_caller(spec: LoadSpec) -> AsyncIterator[Callable[[int], Awaitable[str]]]:
    """``call(i)``: POST /v1/search for query ``i``; "OK", or the error body's code name."""
    import json
    import ssl

    import aiohttp

    scheme = "https" if spec.tls_ca is not None else "http"
    url = f"{scheme}://{spec.target}/v1/search"
    headers = {"Content-Type": "application/json"}
    if spec.token:
        headers["Authorization"] = f"Bearer {spec.token}"
    if spec.deadline_s is not None:
        headers["X-Timeout-Ms"] = f"{spec.deadline_s * 1000:g}"
    bodies = [json.dumps({"query": q, "k": spec.k, "mode": spec.mode}).encode() for q in spec.queries]
    ssl_context = ssl.create_default_context(cadata=spec.tls_ca.decode()) if spec.tls_ca is not None else None
    connector = aiohttp.TCPConnector(limit=spec.concurrency, ssl=ssl_context if ssl_context is not None else False)
    timeout = aiohttp.ClientTimeout(total=spec.deadline_s, connect=spec.connect_timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        try:
            async with session.get(f"{scheme}://{spec.target}/v1/health") as probe:
                await probe.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise LoadTargetError(f"cannot reach http://{spec.target}: {exc}") from None

        async def call(i: int) -> str:
            try:
                async with session.post(url, data=bodies[i], headers=headers) as response:
                    body = await response.read()
                    if response.status == 200:
                        return "OK"
            except asyncio.TimeoutError:
                return "DEADLINE_EXCEEDED"
            except aiohttp.ClientError:
                return "UNAVAILABLE"
            try:
                return str(json.loads(body)["error"]["code"])
            except (ValueError, KeyError, TypeError):
                return f"HTTP_{response.status}"

        yield call


def summarize(result: LoadResult, spec: LoadSpec) -> dict[str, Any]:
    """The report: the contract's keys (qps, p50/p95/p99 ms, errors, requests) and details."""
    import grpc

    lat = np.asarray(result.latencies_ns, dtype=np.float64) / 1e6
    p50, p95, p99 = (float(v) for v in np.percentile(lat, [50, 95, 99])) if lat.size else (0.0, 0.0, 0.0)
    errors = {code: n for code, n in sorted(result.codes.items()) if code != "OK"}
    return {
        "qps": result.ok / result.elapsed_s if result.elapsed_s > 0 else 0.0,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "errors": sum(errors.values()),
        "requests": result.requests,
        "ok": result.ok,
        "errors_by_code": errors,
        "mean_ms": float(lat.mean()) if lat.size else 0.0,
        "max_ms": float(lat.max()) if lat.size else 0.0,
        "late_sends": result.late_sends,
        "seconds": result.elapsed_s,
        "loop": "closed" if spec.rate is None else "open",
        "concurrency": spec.concurrency,
        "rate": spec.rate,
        "arrivals": spec.arrivals if spec.rate is not None else None,
        "target": spec.target,
        "transport": spec.transport,
        "mode": spec.mode or None,
        "k": spec.k,
        "distinct_queries": len(set(spec.queries)),
        "environment": {
            "python": platform.python_version(),
            "grpcio": grpc.__version__,
            "platform": platform.platform(),
            "machine": platform.machine(),
        },
    }


class _Driver:
    """Workers that send requests and record outcomes, in closed or open loop."""

    def __init__(self, call: Callable[[int], Awaitable[str]], n_queries: int, spec: LoadSpec) -> None:
        self._call = call
        self._n_queries = n_queries
        self._spec = spec
        self._next_query = 0
        self._rng = np.random.default_rng(spec.seed)

    def _request(self) -> int:
        request = self._next_query % self._n_queries
        self._next_query += 1
        return request

    async def run(self, duration_s: float, result: LoadResult) -> None:
        start = time.perf_counter_ns()
        end = start + int(duration_s * 1e9)
        if self._spec.rate is None:
            workers = [self._closed(end, result) for _ in range(self._spec.concurrency)]
        else:
            arrivals = _Arrivals(self._spec.rate, self._spec.arrivals, self._rng, start)
            workers = [self._open(arrivals, end, result) for _ in range(self._spec.concurrency)]
        await asyncio.gather(*workers)
        result.elapsed_s = (time.perf_counter_ns() - start) / 1e9

    async def _closed(self, end: int, result: LoadResult) -> None:
        while time.perf_counter_ns() < end:
            request = self._request()
            t0 = time.perf_counter_ns()
            code = await self._call(request)
            result.add(code, time.perf_counter_ns() - t0)

    async def _open(self, arrivals: "_Arrivals", end: int, result: LoadResult) -> None:
        while True:
            intended = arrivals.next()
            if intended >= end:  # arrivals only move forward: this worker is done
                return
            now = time.perf_counter_ns()
            if intended > now:
                await asyncio.sleep((intended - now) / 1e9)
            elif now >= end:
                result.add(NOT_SENT, 0)  # due inside the window, never sent: the client fell behind
                continue
            elif now - intended > LATE_NS:
                result.late_sends += 1
            code = await self._call(self._request())
            result.add(code, time.perf_counter_ns() - intended)  # from the intended send time


class _Arrivals:
    """Intended send times (perf_counter ns): exponential gaps (Poisson) or fixed ones."""

    def __init__(self, rate: float, kind: str, rng: np.random.Generator, start: int) -> None:
        self._gap_ns = 1e9 / rate
        self._poisson = kind == "poisson"
        self._rng = rng
        self._t = float(start)

    def next(self) -> int:
        t = self._t
        self._t += self._rng.exponential(self._gap_ns) if self._poisson else self._gap_ns
        return int(t)


def _channel(spec: LoadSpec, grpc: Any) -> Any:
    if spec.tls_ca is not None:
        credentials = grpc.ssl_channel_credentials(root_certificates=spec.tls_ca)
        return grpc.aio.secure_channel(spec.target, credentials)
    return grpc.aio.insecure_channel(spec.target)


def _check_spec(spec: LoadSpec) -> None:
    from ..errors import ConfigError

    if not spec.queries:
        raise ConfigError("no queries to send")
    if spec.concurrency < 1:
        raise ConfigError(f"concurrency must be >= 1, got {spec.concurrency}")
    if not spec.duration_s > 0:
        raise ConfigError(f"duration must be > 0 seconds, got {spec.duration_s}")
    if spec.rate is not None and not spec.rate > 0:
        raise ConfigError(f"rate must be > 0 requests/s, got {spec.rate}")
    if spec.transport not in ("grpc", "http"):
        raise ConfigError(f"transport must be grpc or http, got {spec.transport!r}")
    if spec.arrivals not in ARRIVALS:
        raise ConfigError(f"arrivals must be one of {', '.join(ARRIVALS)}, got {spec.arrivals!r}")
