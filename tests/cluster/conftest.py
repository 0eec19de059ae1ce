"""A local multi-node Ray cluster on this machine (``ray.cluster_utils.Cluster``): a head and two
worker nodes, each its own raylet and object store, torn down after the tests here.

Every node gets few logical CPUs and a small object store: the tests' corpora are tiny, and the
machine's real cores are shared by all three.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest


NODE = {"num_cpus": 2, "object_store_memory": 150 * 1024 * 1024}


class LocalCluster:
    def __init__(self) -> None:
        from ray.cluster_utils import Cluster

        self.cluster = Cluster(initialize_head=True, head_node_args=dict(NODE))
        self.workers = [self.cluster.add_node(**NODE) for _ in range(2)]
        self.cluster.wait_for_nodes()

    @property
    def address(self) -> str:
        return self.cluster.address

    def remove(self, node: Any) -> None:
        self.cluster.remove_node(node)
        self.workers.remove(node)

    def add(self) -> Any:
        node = self.cluster.add_node(**NODE)
        self.cluster.wait_for_nodes()
        self.workers.append(node)
        return node

    def shutdown(self) -> None:
        import ray

        try:
            from ray import serve

            if ray.is_initialized():
                serve.shutdown()
        finally:
            ray.shutdown()
            self.cluster.shutdown()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LocalCluster]:
    from retrieval.cluster.connect import connect

    cluster = LocalCluster()
    try:
        connect(cluster.address)
        yield cluster
    finally:
        cluster.shutdown()


from tests.stores.conftest import pg_cluster, pg_dsn  # noqa: E402,F401 - the PostgreSQL corpus test's server
