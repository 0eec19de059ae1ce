"""``retrieval serve --ray``: the collection's shards on Ray Serve behind the same gRPC service.

Every RPC answers as the in-process collection does; a replica killed under load and a node
removed from the cluster cost no request with two replicas per shard; a shard with no live
replica is UNAVAILABLE naming it (never INTERNAL, never a partial answer) until Serve restores it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator

import grpc
import pytest

from retrieval import Engine
from retrieval.cluster.serving import Deployment, ServedCollection
from retrieval.errors import BundleError
from retrieval.search.modes import mode_names
from retrieval.service.protos import retrieval_pb2 as pb
from retrieval.service.protos import retrieval_pb2_grpc as pb_grpc
from tests.service.conftest import DOCS, QUERIES, generator  # noqa: F401 - the generator fixture
from tests.service.harness import ServerThread
from tests.service.test_metrics import samples

from .conftest import LocalCluster

TIMEOUT = 60.0
SHARDS = 3
TOKEN = "ray-token"


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ray-serve") / "collection"
    Engine.build(DOCS, root, shards=SHARDS).close()
    return root


@pytest.fixture(scope="module")
def served(ray_cluster: LocalCluster, collection: Path) -> Iterator[ServedCollection]:
    deployment = Deployment(replicas=2, replica_cpus=0.1, timeout_s=20.0)
    running = ServedCollection(collection, ray_cluster.address, deployment)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def servers(served: ServedCollection, collection: Path, generator) -> Iterator[tuple[ServerThread, ServerThread]]:  # noqa: F811
    """The service over Ray Serve, and over the collection opened in this process."""
    with ServerThread(served.engine(), generator=generator) as on_ray, \
            ServerThread(Engine.open(collection), generator=generator) as local:
        yield on_ray, local


def _hits(response) -> list[tuple[str, float]]:
    return [(h.chunk_id, h.score) for h in response.hits]


def assert_same(got, expected, mode: str, *context) -> None:
    """BM25 bit for bit; modes with a query embedding: the same chunks, scores within fp32
    rounding (a query's vector depends slightly on its batch-mates, which differ here)."""
    assert [h.chunk_id for h in got.hits] == [h.chunk_id for h in expected.hits], (mode, *context)
    if mode == "bm25":
        assert _hits(got) == _hits(expected), context
    else:
        assert [h.score for h in got.hits] == pytest.approx([h.score for h in expected.hits], rel=1e-5), (mode, *context)


def test_every_rpc_through_ray_serve_equals_the_in_process_collection(servers) -> None:
    on_ray, local = servers
    with on_ray.channel() as a, local.channel() as b:
        ray_stub, local_stub = on_ray.stub(a), local.stub(b)
        for mode in mode_names():
            for query in QUERIES:
                for filters in (None, {"group": ["b"]}):
                    request = pb.SearchRequest(query=query, k=4, mode=mode,
                                               filters=[pb.Filter(key=k, values=v) for k, v in (filters or {}).items()])
                    got, expected = ray_stub.Search(request, timeout=TIMEOUT), local_stub.Search(request, timeout=TIMEOUT)
                    assert_same(got, expected, mode, query, filters)
        requests = [pb.SearchRequest(query=q, k=3, mode=m) for q in QUERIES for m in ("bm25", "hybrid")]
        got = ray_stub.SearchBatch(pb.SearchBatchRequest(requests=requests), timeout=TIMEOUT)
        expected = local_stub.SearchBatch(pb.SearchBatchRequest(requests=requests), timeout=TIMEOUT)
        for request, x, y in zip(requests, got.responses, expected.responses):
            assert_same(x, y, request.mode, request.query)
        question = pb.AnswerRequest(question="How do I parse a JSON string?", k=3, budget_tokens=60, max_tokens=4)
        got_done = list(ray_stub.Answer(question, timeout=TIMEOUT))[-1].done
        expected_done = list(local_stub.Answer(question, timeout=TIMEOUT))[-1].done
        assert [s.chunk_id for s in got_done.sources] == [s.chunk_id for s in expected_done.sources]
        assert got_done.context_tokens_after == expected_done.context_tokens_after


def test_auth_and_metrics_are_the_services_own(served: ServedCollection) -> None:
    with ServerThread(served.engine(), tokens=frozenset({TOKEN})) as secured, secured.channel() as channel:
        stub = secured.stub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Search(pb.SearchRequest(query="parse json", k=2), timeout=TIMEOUT)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        ok = stub.Search(pb.SearchRequest(query="parse json", k=2), timeout=TIMEOUT,
                         metadata=[("authorization", f"Bearer {TOKEN}")])
        assert ok.hits[0].chunk_id == "json#0"
        counted = samples(secured.server.metrics)
        assert counted[("retrieval_requests_total", (("code", "OK"), ("method", "Search")))] == 1


def _replicas(shard: str) -> list:
    import ray

    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
             if a["name"].startswith("SERVE_REPLICA::") and f"#{shard}#" in a["name"]]
    return [ray.get_actor(n, namespace="serve") for n in names]


class Load:
    """Distinct hybrid searches from 4 threads until stopped; every failure kept."""

    def __init__(self, server: ServerThread) -> None:
        self.server = server
        self.done = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(t,), daemon=True) for t in range(4)]

    def _run(self, t: int) -> None:
        with self.server.channel() as channel:
            stub = self.server.stub(channel)
            i = 0
            while not self._stop.is_set():
                i += 1
                try:
                    stub.Search(pb.SearchRequest(query=f"{QUERIES[i % len(QUERIES)]} {t} {i}", k=3, mode="hybrid"),
                                timeout=TIMEOUT)
                    self.done += 1
                except grpc.RpcError as exc:
                    self.failures.append(f"{exc.code()}: {exc.details()}")

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + TIMEOUT
        while self.done < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(TIMEOUT)


def test_a_killed_replica_and_a_removed_node_lose_no_request(servers, ray_cluster: LocalCluster) -> None:
    import ray

    on_ray, _ = servers
    with Load(on_ray) as load:
        load.wait_for(20)
        ray.kill(_replicas("shard-000")[0], no_restart=True)
        load.wait_for(load.done + 40)
        ray_cluster.remove(ray_cluster.workers[0])  # its replicas die with it; their twins serve
        load.wait_for(load.done + 40)
    assert load.failures == [] and load.done >= 100
    ray_cluster.add()


def test_a_shard_without_a_live_replica_is_unavailable_until_restored(servers) -> None:
    import ray

    on_ray, _ = servers
    planner = on_ray.server.engine.view().planner
    planner.timeout_s = 1.0  # the test's patience: Serve takes seconds to notice and replace
    try:
        with on_ray.channel() as channel:
            stub = on_ray.stub(channel)
            for replica in _replicas("shard-001"):
                ray.kill(replica, no_restart=True)
            with pytest.raises(grpc.RpcError) as refused:
                stub.Search(pb.SearchRequest(query="regular expression search zz", k=3, mode="bm25"), timeout=TIMEOUT)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "shard shard-001 has no live replica" in refused.value.details()
            deadline = time.monotonic() + TIMEOUT
            while True:  # Serve starts new replicas; then the shard answers again
                try:
                    response = stub.Search(pb.SearchRequest(query="regular expression search", k=3, mode="bm25"), timeout=TIMEOUT)
                    break
                except grpc.RpcError as exc:
                    assert exc.code() == grpc.StatusCode.UNAVAILABLE and time.monotonic() < deadline, exc.details()
                    time.sleep(0.5)
            assert response.hits[0].chunk_id == "re#0"
    finally:
        planner.timeout_s = 20.0


def test_shards_missing_on_a_worker_are_one_line(ray_cluster: LocalCluster, collection: Path, tmp_path) -> None:
    import shutil

    from retrieval.cluster.connect import ClusterError

    broken = tmp_path / "broken"
    shutil.copytree(collection, broken)
    shutil.rmtree(broken / "shard-001")
    with pytest.raises((ClusterError, BundleError), match=r"shard shard-001 is missing") as raised:
        ServedCollection(broken, ray_cluster.address, Deployment(replica_cpus=0.1))
    assert "\n" not in str(raised.value)


def test_serve_ray_needs_a_collection() -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "retrieval.cli", "serve", "/nonexistent-bundle", "--ray"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "--ray serves a sharded collection" in result.stderr


def test_the_command_serves_on_ray_with_autoscaling_and_cleans_up(ray_cluster: LocalCluster, collection: Path) -> None:
    """`retrieval serve DIR --ray ADDRESS --replicas auto`: SERVING, the same answers, metrics,
    autoscaled shard deployments; SIGTERM drains, exits 0 and deletes its applications."""
    import signal
    import subprocess
    import sys
    import urllib.request

    from ray import serve

    from tests.service.harness import free_port

    port, metrics_port = free_port(), free_port()
    command = [sys.executable, "-m", "retrieval.cli", "serve", str(collection), "--ray", ray_cluster.address,
               "--replicas", "auto", "--replica-cpus", "0.1", "--port", str(port), "--metrics-port", str(metrics_port),
               "--generator", "none"]
    before = set(serve.status().applications)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            from grpc_health.v1 import health_pb2, health_pb2_grpc

            health = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + 180
            while True:
                try:
                    if health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.RpcError:
                    pass
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read() if process.poll() is not None else "no SERVING"
                time.sleep(0.2)
            stub = pb_grpc.RetrievalStub(channel)
            assert stub.Search(pb.SearchRequest(query="parse json", k=1, mode="hybrid"), timeout=TIMEOUT).hits[0].chunk_id == "json#0"
            ours = set(serve.status().applications) - before
            assert len(ours) == SHARDS + 1  # a shard application each, and the query embedder
            for name in ours:
                deployment = next(iter(serve.status().applications[name].deployments.values()))
                assert deployment.status in ("HEALTHY", "UPSCALING", "DOWNSCALING")
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as page:
                assert 'retrieval_requests_total{code="OK",method="Search"} 1.0' in page.read().decode()
            process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert not (set(serve.status().applications) - before)
