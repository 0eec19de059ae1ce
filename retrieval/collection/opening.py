"""Opening a collection version: its manifest, the shard versions it names, one view over them.

Refused with a message naming the shard: a shard directory missing or corrupt, a shard version the
manifest names that is neither the shard's current nor its previous one, shards built with another
embedder, analyzer or index configuration than the collection's, and id or count mismatches.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BundleError
from .layout import MANIFEST, ids_file
from .manifest import CollectionManifest, ShardEntry


# Below this many chunks a shard's search takes tens of microseconds, less than handing it to
# another thread and back: the shards are then searched one after another in the calling thread.
# Measured on SciFact (1,500 docs, 3 shards, BM25 p50): 77 us one bundle, 283 us with threads;
# in another run, searched in one thread: 39 us one bundle, 74 us. At 1M documents (4 shards) the
# threads pay: p50 3.43 ms, the same as one bundle, against 4.21 ms in one thread.
PARALLEL_MIN_CHUNKS = 1 << 17


def is_collection(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def collection_of_shard(path: Path) -> Path | None:
    """The collection ``path`` is a shard of (its parent's manifest lists it), or None."""
    parent = path.resolve().parent
    try:
        raw = json.loads((parent / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    shards = raw.get("shards") if isinstance(raw, dict) else None
    names = {s.get("name") for s in shards or [] if isinstance(s, dict)}
    return parent if path.resolve().name in names else None


def read_collection_manifest(root: Path, verify: bool = True, name: str = MANIFEST) -> CollectionManifest:
    """The collection manifest ``name``, checked, with every state file present (and its sha256)."""
    from ..bundle.directory import sha256_file

    path = root / name
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{root} is not a collection (no {name})") from None
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path} is unreadable: {exc}") from None
    manifest = CollectionManifest.parse(raw, str(path))
    for rel, entry in manifest.files.items():
        file = root / rel
        if not file.is_file():
            raise BundleError(f"collection {root} is incomplete: {rel} is missing")
        if file.stat().st_size != entry.get("bytes"):
            raise BundleError(f"collection {root} is corrupt: {rel} has the wrong size")
        if verify and sha256_file(file) != entry.get("sha256"):
            raise BundleError(f"collection {root} is corrupt: {rel} fails its sha256 check")
    return manifest


def shard_manifest(root: Path, entry: ShardEntry, verify: bool) -> Any:
    """The shard bundle version ``entry`` names: the shard's current manifest or its previous one."""
    from ..bundle import PREVIOUS_MANIFEST, read_manifest
    from ..bundle.layout import MANIFEST as BUNDLE_MANIFEST

    directory = root / entry.name
    if not directory.is_dir():
        raise BundleError(f"collection {root}: shard {entry.name} is missing ({directory} does not exist)")
    found = []
    for name in (BUNDLE_MANIFEST, PREVIOUS_MANIFEST):
        if not (directory / name).is_file():
            continue
        try:
            manifest = read_manifest(directory, verify=False, name=name)
        except BundleError as exc:
            if name == BUNDLE_MANIFEST:
                found.append(f"current: {exc}")
            continue
        if manifest.digest == entry.digest:
            if verify:  # the files of the version used, against their sha256
                read_manifest(directory, verify=True, name=name)
            return manifest
        found.append(f"{name} is version {manifest.version}")
    detail = "; ".join(found) or "no manifest"
    raise BundleError(
        f"collection {root}: shard {entry.name} has no version {entry.version} with the digest the collection names ({detail})"
    )


def check_shard_identity(root: Path, collection: CollectionManifest, entry: ShardEntry, manifest: Any) -> None:
    """A shard must share the collection's analyzer, index configuration and embedder."""
    checks = (
        ("analyzer", manifest.analyzer, collection.analyzer),
        ("index configuration", manifest.config, collection.config),
        ("embedder", manifest.dense.embedder if manifest.dense else None, collection.embedder),
    )
    for what, shard_value, expected in checks:
        if _normalized(shard_value) != _normalized(expected):
            raise BundleError(
                f"collection {root}: shard {entry.name} was built with another {what} than the collection's; "
                "every shard must be built together (retrieval index --shards)"
            )


def _normalized(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def load_shard_ids(root: Path, manifest: CollectionManifest) -> list[np.ndarray]:
    """Each non-empty shard's collection chunk ids, checked: increasing, the right count, and
    together exactly 0 .. total-1."""
    out = []
    for entry in manifest.shards:
        if entry.empty:
            continue
        path = root / manifest.state / ids_file(entry.name)
        try:
            ids = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise BundleError(f"collection {root}: cannot read the ids of shard {entry.name}: {exc}") from None
        if ids.dtype != np.int64 or ids.shape != (entry.chunks,) or (ids.size and np.any(np.diff(ids) <= 0)):
            raise BundleError(f"collection {root}: {path.name} does not match shard {entry.name} ({entry.chunks} chunks)")
        out.append(ids)
    total = manifest.total_chunks
    joined = np.concatenate(out) if out else np.empty(0, dtype=np.int64)
    if joined.size != total or (total and (joined.min() < 0 or joined.max() >= total or len(np.unique(joined)) != total)):
        raise BundleError(f"collection {root}: the shards' chunk ids do not cover 0 .. {total - 1} exactly once")
    return out


def open_collection(
    root: Path,
    *,
    verify: bool = True,
    embedder: Any = None,
    embedding_threads: int | None = None,
    store_dsn: str | None = None,
    manifest: CollectionManifest | None = None,
) -> Any:
    """The collection's current version (or ``manifest``'s), opened and frozen: a ``CollectionView``."""
    from ..bundle.view import EXCLUDE_MAX
    from ..search import DenseSide
    from ..search.filters import MetadataIndex
    from ..search.sharded import Shard, ShardedPlanner
    from .parts import ChunkMap, ShardedChunkStore, ShardedRows, ShardedSentences
    from .stats import CorpusStats, read_stats
    from .view import CollectionView

    manifest = manifest or read_collection_manifest(root, verify)
    corpus = CorpusStats(read_stats(root / manifest.state, manifest.bm25.n_docs, manifest.bm25.total_tokens))
    entries = [e for e in manifest.shards if not e.empty]
    if not entries:
        raise BundleError(f"collection {root} has no shard with documents")
    shard_ids = load_shard_ids(root, manifest)
    views = []
    try:
        for entry, ids in zip(entries, shard_ids):
            view = open_shard(root, manifest, entry, ids, corpus, verify=verify, embedder=embedder,
                              embedding_threads=embedding_threads, store_dsn=store_dsn)
            views.append(view)
            embedder = embedder or view.document_embedder  # one model for every shard
    except BaseException:
        for view in views:
            view.store.close()
        raise
    chunk_map = ChunkMap(shard_ids, manifest.total_chunks)
    store = ShardedChunkStore([v.store for v in views], chunk_map, shard_ids)
    first = views[0].planner  # a shard's planner: its analyzer and vector index describe every shard's
    dense = None
    if first.dense is not None:
        vectors = ShardedRows([v.chunk_vectors for v in views], chunk_map, int(views[0].chunk_vectors.shape[1]), np.float32)
        dense = DenseSide(views[0].query_embedder, first.dense.index, vectors)  # type: ignore[arg-type]
    pool, workers = None, 0
    if len(views) > 1 and manifest.total_chunks >= PARALLEL_MIN_CHUNKS and (os.cpu_count() or 1) > 1:
        workers = min(len(views), os.cpu_count() or 1) - 1  # with this thread: one per core at most
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shard")
    config = manifest.index_config
    live, tombstones = _live(views, shard_ids, manifest.total_chunks)
    excluded = tombstones if tombstones is not None and len(tombstones) <= EXCLUDE_MAX else None
    shards = [Shard(v.planner, ids, v.live, v.excluded) for v, ids in zip(views, shard_ids)]
    planner = ShardedPlanner(shards, first.keyword.analyzer, dense, config.search, pool, live, excluded, workers)
    metadata = MetadataIndex(_metadata_loader(views), store.all_doc_ids, live=live)
    sentences = None
    if all(v.sentences is not None for v in views):
        sentences = ShardedSentences([v.sentences for v in views], chunk_map)
    return CollectionView.assemble(manifest, planner, store, metadata, live, sentences, corpus, views)


def open_shard(root: Path, manifest: CollectionManifest, entry: ShardEntry, ids: np.ndarray, corpus: Any, *,
               verify: bool, embedder: Any = None, embedding_threads: int | None = None, store_dsn: str | None = None) -> Any:
    """The version of shard ``entry`` the collection names, checked, its BM25 scoring with the
    corpus statistics ``corpus`` (a ``CorpusStats``); ``ids``: its collection chunk ids."""
    from ..bundle.view import open_version

    shard_version = shard_manifest(root, entry, verify)
    check_shard_identity(root, manifest, entry, shard_version)
    try:
        view = open_version(root / entry.name, manifest=shard_version, embedder=embedder,
                            embedding_threads=embedding_threads, store_dsn=store_dsn,
                            keyword_stats=corpus.segment_stats)
    except BundleError as exc:
        raise BundleError(f"collection {root}: shard {entry.name}: {exc}") from None
    if len(view.store) != len(ids):
        view.store.close()
        raise BundleError(f"collection {root}: shard {entry.name} holds {len(view.store)} chunks, "
                          f"the collection names {len(ids)}")
    return view


def _live(views: list[Any], shard_ids: list[np.ndarray], total: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    if all(v.live is None for v in views):
        return None, None
    live = np.sort(np.concatenate([ids if v.live is None else ids[v.live] for v, ids in zip(views, shard_ids)]))
    live.setflags(write=False)
    tombstones = np.setdiff1d(np.arange(total, dtype=np.int64), live, assume_unique=True)
    return live, tombstones


def _metadata_loader(views: list[Any]) -> Any:
    if not all(v.metadata.available for v in views):
        return None

    def load() -> Any:
        import pyarrow as pa

        return pa.concat_tables([v.metadata.table() for v in views]).combine_chunks()

    return load
