"""ServiceMetrics: what each method records, its own registry, the /metrics endpoint."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from retrieval.errors import ConfigError
from retrieval.service.metrics import LATENCY_BUCKETS_S, ServiceMetrics


def samples(metrics: ServiceMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} parsed back from the text exposition."""
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode("utf-8")):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_stage_histogram_in_seconds_with_sub_millisecond_buckets():
    m = ServiceMetrics()
    m.stage("bm25", 0.07)  # 70 µs
    m.stage("bm25", 3.0)
    m.stage("embed", 4000.0)  # 4 s
    got = samples(m)
    assert got[("retrieval_stage_seconds_count", (("stage", "bm25"),))] == 2
    assert got[("retrieval_stage_seconds_sum", (("stage", "bm25"),))] == pytest.approx(0.00307)
    assert got[("retrieval_stage_seconds_bucket", (("le", "0.0001"), ("stage", "bm25")))] == 1
    assert got[("retrieval_stage_seconds_bucket", (("le", "0.005"), ("stage", "bm25")))] == 2
    assert got[("retrieval_stage_seconds_bucket", (("le", "2.5"), ("stage", "embed")))] == 0
    assert got[("retrieval_stage_seconds_bucket", (("le", "5.0"), ("stage", "embed")))] == 1
    assert LATENCY_BUCKETS_S[0] == 0.00005 and LATENCY_BUCKETS_S[-1] == 5.0


def test_requests_counted_by_method_and_code_latency_by_method():
    m = ServiceMetrics()
    m.request("Search", "OK", 5.0)
    m.request("Search", "OK", 7.0)
    m.request("Search", "RESOURCE_EXHAUSTED", 0.2)
    m.request("Answer", "OK", 900.0)
    got = samples(m)
    assert got[("retrieval_requests_total", (("code", "OK"), ("method", "Search")))] == 2
    assert got[("retrieval_requests_total", (("code", "RESOURCE_EXHAUSTED"), ("method", "Search")))] == 1
    assert got[("retrieval_request_seconds_count", (("method", "Search"),))] == 3
    assert got[("retrieval_request_seconds_sum", (("method", "Answer"),))] == pytest.approx(0.9)


def test_gauges_batch_sizes_and_cache_ratios():
    m = ServiceMetrics()
    m.inflight.inc()
    m.inflight.inc()
    m.inflight.dec()
    m.queue_depth(7)
    for n in (1, 8, 32, 32):
        m.batch_size(n)
    for hit in (True, False, False, True):
        m.cache("result", hit)
    m.cache("semantic", False)
    got = samples(m)
    assert got[("retrieval_inflight_requests", ())] == 1
    assert got[("retrieval_queue_depth", ())] == 7
    assert got[("retrieval_embed_batch_size_count", ())] == 4
    assert got[("retrieval_embed_batch_size_sum", ())] == 73
    assert got[("retrieval_embed_batch_size_bucket", (("le", "16.0"),))] == 2
    assert got[("retrieval_cache_hits_total", (("cache", "result"),))] == 2
    assert got[("retrieval_cache_misses_total", (("cache", "result"),))] == 2
    assert got[("retrieval_cache_hit_ratio", (("cache", "result"),))] == 0.5
    assert got[("retrieval_cache_hit_ratio", (("cache", "semantic"),))] == 0.0
    assert all(name.startswith("retrieval_") for name, _ in got)


def test_each_instance_has_its_own_registry_unless_given_one():
    a, b = ServiceMetrics(), ServiceMetrics()  # no "Duplicated timeseries" error
    a.queue_depth(3)
    assert samples(b)[("retrieval_queue_depth", ())] == 0
    shared = CollectorRegistry()
    c = ServiceMetrics(shared)
    assert c.registry is shared
    with pytest.raises(ValueError, match="Duplicated"):
        ServiceMetrics(shared)


def test_http_endpoint_serves_the_registry_and_stops():
    m = ServiceMetrics()
    m.request("Search", "OK", 1.0)
    server = m.start_http(0)
    try:
        assert server.port > 0 and server.host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as response:
            body = response.read().decode("utf-8")
        assert 'retrieval_requests_total{code="OK",method="Search"} 1.0' in body
        with pytest.raises(ConfigError, match="cannot serve metrics"):
            m.start_http(server.port)  # the port is taken
    finally:
        server.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=1)
