"""A shard's Serve deployment: one replica holds one shard bundle and answers its side of a search.

The replica opens the shard version the served collection version names (pinned by that version's
digest), its BM25 scoring with the corpus statistics, exactly as ``open_collection`` opens it
here; the side functions are ``retrieval.search.sharded``'s, so a replica's answer is the one a
collection opened in one process computes for that shard. Ids cross the wire as collection ids;
``LIVE`` stands for the collection's own live set (or tombstones): each shard uses its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BundleError

from ..search.remote import LIVE


def pinned_manifest(root: Path, digest: str) -> Any:
    """The collection version with manifest ``digest`` (the current one, or the previous one
    after an update committed since the deployment began)."""
    from ..collection.layout import MANIFEST, PREVIOUS_MANIFEST
    from ..collection.opening import read_collection_manifest

    for name in (MANIFEST, PREVIOUS_MANIFEST):
        if (root / name).is_file():
            manifest = read_collection_manifest(root, verify=False, name=name)
            if manifest.digest == digest:
                return manifest
    raise BundleError(f"collection {root} no longer has the version being served (digest {digest[:12]}); redeploy")


def open_served_shard(root: Path, digest: str, name: str) -> Any:
    """Shard ``name`` of collection version ``digest``: a ``Shard`` (planner, ids, live, excluded)."""
    from ..collection.opening import open_shard
    from ..collection.layout import ids_file
    from ..collection.stats import CorpusStats, read_stats
    from ..search.sharded import Shard

    manifest = pinned_manifest(root, digest)
    entry = next((e for e in manifest.shards if e.name == name), None)
    if entry is None or entry.empty:
        raise BundleError(f"collection {root} has no shard {name} with documents")
    corpus = CorpusStats(read_stats(root / manifest.state, manifest.bm25.n_docs, manifest.bm25.total_tokens))
    ids = np.load(root / manifest.state / ids_file(name), allow_pickle=False)
    embedder = EmbedsNothing(manifest.embedder) if manifest.embedder is not None else None
    view = open_shard(root, manifest, entry, ids, corpus, verify=False, embedder=embedder)
    return Shard(view.planner, ids, view.live, view.excluded)


class EmbedsNothing:
    """What a shard replica opens its shard with in place of the model: the embedder's description
    (checked against the shard's as usual) and no session. Queries arrive embedded (the
    embedding deployment's work), so a replica never loads the model."""

    def __init__(self, description: dict[str, Any]) -> None:
        self._description = dict(description)
        self.model_id = description.get("model_id")
        self.dim = int(description["dim"])
        self.max_tokens = description.get("max_tokens")
        self.fingerprint = description.get("fingerprint")

    def describe(self) -> dict[str, Any]:
        return dict(self._description)

    def embed(self, texts: list[str]) -> np.ndarray:
        raise BundleError("a shard replica embeds nothing: queries reach it as vectors")


class ShardReplica:
    """The deployment's class (``serving`` wraps it in ``serve.deployment``)."""

    def __init__(self, root: str, digest: str, name: str) -> None:
        self.name = name
        self.shard = open_served_shard(Path(root), digest, name)
        if "dense" in self.shard.planner.modes:
            from ..vector import set_num_threads

            # One query per call: nested OpenMP teams across replicas only fight for the cores.
            set_num_threads(1)

    def _local(self, ids: Any, own: np.ndarray | None) -> np.ndarray | None:
        from ..search.sharded import to_local

        if isinstance(ids, str) and ids == LIVE:
            return own
        return to_local(ids, self.shard.ids)

    def keyword(self, words: list[str], n: int, allowed: Any, excluded: Any) -> tuple[np.ndarray, np.ndarray]:
        from ..search.sharded import shard_keyword

        return shard_keyword(self.shard, words, n, self._local(allowed, self.shard.live), self._local(excluded, self.shard.excluded))

    def dense(self, vector: np.ndarray, n: int, params: dict[str, Any], excluded: Any) -> tuple[np.ndarray, np.ndarray]:
        from ..search.sharded import shard_dense

        return shard_dense(self.shard, vector, n, params, self._local(excluded, self.shard.excluded))

    def dense_among(self, vector: np.ndarray, candidates: Any, k: int, config: Any, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        from ..search.sharded import shard_dense_among

        return shard_dense_among(self.shard, vector, self._local(candidates, self.shard.live), k, config, params)

    def hybrid_sides(self, words: list[str], n: int, vector: np.ndarray, params: dict[str, Any],
                     excluded: Any) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """Both sides of an unfiltered hybrid search in one call: the keyword top ``n``, the dense top ``n``."""
        return self.keyword(words, n, None, excluded), self.dense(vector, n, params, excluded)

    def keyword_batch(self, words: list[list[str]], k: int, n_threads: int) -> list[tuple[np.ndarray, np.ndarray]]:
        from ..search.sharded import shard_keyword_batch

        return shard_keyword_batch(self.shard, words, k, n_threads)

    def many(self, calls: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        """Several searches' sides in one call (``search.call_batcher``), in order."""
        return [getattr(self, method)(*args) for method, args in calls]

    def ping(self) -> str:
        return self.name
