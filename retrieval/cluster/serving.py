"""``retrieval serve DIR --ray [ADDRESS] --replicas R``: a collection served on Ray Serve.

    shard-NNN    one Serve application per shard: R replicas (or ``auto``: autoscaled on ongoing
                 requests), each holding its shard (``replica``)
    embedder     one application: query embedding, dynamically batched (``embedder``)
    this process the ingress: the same ``retrieval.v1.Retrieval`` gRPC service as ``retrieval
                 serve`` (auth off loopback, health, metrics, admission, caches, Answer), over the
                 collection's view whose planner fans out through the deployments' handles and
                 merges as one process does (``fanout``)

Each ingress process deploys its own applications and deletes them when it stops. The served
collection version is pinned: restart to serve a newer one.
Before deploying, every node is checked for the shard directories (a collection on a path some
worker lacks fails with one line naming the shard and the node).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BundleError
from .connect import ClusterError, connect

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deployment:
    replicas: int | str = 1  # or "auto"
    target_ongoing_requests: float = 2.0
    max_replicas: int = 8
    replica_cpus: float = 1.0
    timeout_s: float = 10.0  # a shard with no answer this long is UNAVAILABLE
    embed_max_batch: int = 32
    embed_max_wait_ms: float = 2.0
    embed_threads: int = 0  # onnxruntime threads of an embedding replica (0: every core of its node)


class ServedCollection:
    """The deployments of one collection version; ``engine()`` is the ingress's engine, ``close()``
    deletes the applications."""

    def __init__(self, root: Path, address: str | None, deployment: Deployment) -> None:
        from ..collection.opening import read_collection_manifest

        self.root = root.resolve()
        self.deployment = deployment
        self.ray = connect(address)
        from ray import serve

        self.serve = serve
        self.manifest = read_collection_manifest(self.root, verify=False)
        self.names = [e.name for e in self.manifest.shards if not e.empty]
        # Each ingress owns its deployments (deleted when it stops): two serving the same
        # collection on one cluster never share, or delete, each other's.
        self.prefix = f"retrieval-{self.manifest.digest[:8]}-{uuid.uuid4().hex[:6]}"
        self.apps: list[str] = []
        check_shards_on_every_node(self.ray, self.root, self.manifest.digest, self.names)
        try:
            self._deploy()
        except BaseException:
            self.close()
            raise

    def app_name(self, shard: str) -> str:
        return f"{self.prefix}-{shard}"

    def _deploy(self) -> None:
        from ray.serve.api import RunTarget

        from .embedder import embedding_deployment
        from .replica import ShardReplica

        serve, d = self.serve, self.deployment
        serve.start(proxy_location="Disabled")
        options: dict[str, Any] = {"ray_actor_options": {"num_cpus": d.replica_cpus}, "max_ongoing_requests": 64,
                                   "health_check_period_s": 2.0, "health_check_timeout_s": 10.0}
        if d.replicas == "auto":
            options["num_replicas"] = "auto"
            options["autoscaling_config"] = {"target_ongoing_requests": d.target_ongoing_requests,
                                             "min_replicas": 1, "max_replicas": d.max_replicas}
        else:
            options["num_replicas"] = int(d.replicas)
        apps = {self.app_name(name): serve.deployment(ShardReplica, name=name, **options).bind(str(self.root), self.manifest.digest, name)
                for name in self.names}
        if self.manifest.embedder is not None:
            embedding = json.dumps(dataclasses.asdict(self.manifest.index_config.embedding))
            cls = embedding_deployment(serve, d.embed_max_batch, d.embed_max_wait_ms / 1000)
            apps[self.app_name("embedder")] = serve.deployment(cls, name="embedder", **options).bind(embedding, d.embed_threads)
        self.apps = list(apps)
        try:  # every application at once: the replicas start in parallel
            serve.run_many([RunTarget(app, name=name, route_prefix=None) for name, app in apps.items()])
        except Exception as exc:  # noqa: BLE001 - Serve reports a failed deployment in several ways
            raise ClusterError(f"Ray Serve could not start the collection's deployments: {_first_line(exc)}") from None

    def handles(self) -> tuple[list[Any], Any]:
        shard_handles = [self.serve.get_app_handle(self.app_name(n)) for n in self.names]
        embed = self.serve.get_app_handle(self.app_name("embedder")) if self.manifest.embedder is not None else None
        return shard_handles, embed

    def engine(self) -> Any:
        """The ingress's ``Engine``: the collection's view (opened here for chunk text, filters,
        vectors for exact scoring and the answer path), its searching sent to the deployments."""
        from ..collection.opening import open_collection
        from ..engine import Engine
        from ..search.remote import RemoteShardedPlanner
        from ..vector import set_num_threads
        from .embedder import RemoteQueryEmbedder

        view = open_collection(self.root, verify=False, embedding_threads=1, manifest=self.manifest)
        shard_handles, embed = self.handles()
        embedder = None
        if embed is not None:
            embedder = RemoteQueryEmbedder(view.query_embedder, embed, self.deployment.timeout_s)
            set_num_threads(1)  # as Engine.open does: exact scoring here is one query per call
        remote = RemoteShardedPlanner(view.planner, shard_handles, self.names, self.deployment.timeout_s, embedder)
        return Engine(self.root, dataclasses.replace(view, planner=remote))

    def close(self, timeout_s: float = 60.0) -> None:
        """Delete this ingress's applications: all asked at once, then waited for together."""
        import time

        for name in self.apps:
            try:
                self.serve.delete(name, _blocking=False)
            except Exception as exc:  # noqa: BLE001 - best effort at shutdown
                LOG.warning("could not delete Serve application %s: %s", name, exc)
        deadline = time.monotonic() + timeout_s
        while self.apps and time.monotonic() < deadline:
            try:
                running = set(self.serve.status().applications)
            except Exception:  # noqa: BLE001 - the cluster is going away: nothing left to wait for
                break
            if not running & set(self.apps):
                break
            time.sleep(0.2)
        self.apps = []


def check_shards_on_every_node(ray: Any, root: Path, digest: str, names: list[str]) -> None:
    """Every alive node must see the collection version's shards (a shared path): one probe per
    node, refused with one line naming the shard and the node."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0, max_retries=0)(_probe_shards)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(str(root), digest, names)
            for n in nodes]
    for node, problem in zip(nodes, ray.get(refs)):
        if problem:
            raise ClusterError(f"a Ray worker on node {node.get('NodeManagerAddress')} cannot open the collection: {problem}")


def _probe_shards(root: str, digest: str, names: list[str]) -> str | None:
    from ..collection.opening import shard_manifest
    from .replica import pinned_manifest

    try:
        manifest = pinned_manifest(Path(root), digest)
        for entry in manifest.shards:
            if entry.name in names:
                shard_manifest(Path(root), entry, verify=False)
    except BundleError as exc:
        return str(exc)
    return None


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # Serve's message ends with the replica's own exception: the last line says what went wrong
    return lines[-1] if lines else type(exc).__name__
