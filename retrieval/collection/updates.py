"""Upsert, delete, sync and compact a collection: each document to its shard, one atomic commit.

One update, under the collection's lock:
  1. put back any shard a killed update left ahead of the collection (its current manifest
     newer than the one the collection names: the shard's previous manifest is that one);
  2. route the upserts and deletes to their shards (``routing``) and update each shard as an
     ordinary bundle, which commits a new shard version the collection does not name yet;
  3. number the shards' new chunks after the collection's last id, sum the shards' live BM25
     statistics into the corpus's, write them in a new state directory;
  4. commit the collection manifest naming the new shard versions (one ``os.replace``).
A crash before step 4 leaves the previous collection version naming the previous shard
versions, which every shard keeps as its previous manifest; the next update restores them.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from .. import bundle
from ..types import Document
from .layout import ids_file
from .manifest import CollectionManifest, ShardEntry
from .opening import read_collection_manifest
from .routing import shard_of
from .state import commit, new_manifest, shard_entry, write_state
from .stats import merge, shard_term_stats


def shard_rows(manifest: Any) -> int:
    """Chunk ids a shard bundle version holds, live or not."""
    return manifest.delta.total_chunks if manifest.delta else manifest.counts.chunks


def apply_collection_update(
    root: str | Path,
    *,
    upserts: Iterable[Document] = (),
    deletes: Iterable[str] = (),
    force: bool = False,
    keep_only: set[str] | None = None,
    embedder: Any = None,
    sync: dict[str, Any] | None = None,
    store_dsn: str | None = None,
) -> Any:
    """``apply_update`` for a collection: returns one ``UpdateReport`` summing the shards'."""
    from ..updates.updater import UpdateReport, _checked_documents, _checked_ids, update_bundle

    started = time.perf_counter()
    root = Path(root)
    docs = _checked_documents(upserts)
    delete_ids = _checked_ids(deletes)
    with _lock(root):
        manifest = read_collection_manifest(root, verify=False)
        restore_shards(root, manifest)
        n = len(manifest.shards)
        routed_docs: list[list[Document]] = [[] for _ in range(n)]
        for doc in docs:
            routed_docs[shard_of(doc.id, n)].append(doc)
        routed_deletes: list[list[str]] = [[] for _ in range(n)]
        for doc_id in delete_ids:
            routed_deletes[shard_of(doc_id, n)].append(doc_id)
        total = UpdateReport(version=manifest.version)
        changed: dict[int, tuple[Any, int]] = {}  # shard -> (its new bundle manifest, rows before)
        for i, entry in enumerate(manifest.shards):
            if not routed_docs[i] and not routed_deletes[i] and (keep_only is None or entry.empty):
                continue
            shard_root = root / entry.name
            if entry.empty:
                total.missing += routed_deletes[i]
                if routed_docs[i]:
                    embedder = _build_empty_shard(shard_root, manifest, routed_docs[i], embedder)
                    changed[i] = (bundle.read_manifest(shard_root, verify=False), 0)
                    total.added += len(routed_docs[i])
                continue
            report = update_bundle(shard_root, upserts=routed_docs[i], deletes=routed_deletes[i], force=force,
                                  keep_only=keep_only, embedder=embedder, store_dsn=store_dsn)
            _add(total, report)
            if report.committed:
                changed[i] = (bundle.read_manifest(shard_root, verify=False), entry.chunks)
        if changed or (sync is not None and sync != manifest.sync):
            new = _next_collection(root, manifest, changed, sync=sync if sync is not None else manifest.sync)
            commit(root, new)
            total.version = new.version
            total.committed = True
    total.seconds = time.perf_counter() - started
    return total


def compact_collection(root: str | Path, *, embedder: Any = None, store_dsn: str | None = None) -> Any:
    """Compact every shard with deleted chunks; collection chunk ids are renumbered densely, in order."""
    from ..updates.compact import compact_bundle
    from ..updates.updater import UpdateReport

    started = time.perf_counter()
    root = Path(root)
    with _lock(root):
        manifest = read_collection_manifest(root, verify=False)
        restore_shards(root, manifest)
        total = UpdateReport(version=manifest.version)
        kept: dict[int, np.ndarray] = {}
        new_manifests: dict[int, Any] = {}
        for i, entry in enumerate(manifest.shards):
            if entry.empty or entry.live_chunks == entry.chunks:
                continue
            shard_root = root / entry.name
            before = bundle.read_manifest(shard_root, verify=False)
            tombstones = np.load(shard_root / before.delta.dir / bundle.layout.TOMBSTONES_FILE, allow_pickle=False)
            report = compact_bundle(shard_root, embedder=embedder, store_dsn=store_dsn)
            total.chunks_removed += report.chunks_removed
            if report.committed:
                new_manifests[i] = bundle.read_manifest(shard_root, verify=False)
                kept[i] = np.setdiff1d(np.arange(entry.chunks, dtype=np.int64), tombstones, assume_unique=True)
        if new_manifests:
            new = _renumbered(root, manifest, new_manifests, kept)
            commit(root, new)
            total.version, total.committed = new.version, True
    total.seconds = time.perf_counter() - started
    return total


# -- steps ----------------------------------------------------------------------------------


def restore_shards(root: Path, manifest: CollectionManifest) -> None:
    """Make every shard's current version the one the collection names (undo a killed update)."""
    from .opening import shard_manifest

    for entry in manifest.shards:
        shard_root = root / entry.name
        if entry.empty:
            if shard_root.exists():  # a killed update built it: never committed to the collection
                shutil.rmtree(shard_root)
            continue
        current = bundle.read_manifest(shard_root, verify=False)
        if current.digest == entry.digest:
            continue
        named = shard_manifest(root, entry, verify=False)
        with bundle.update_lock(shard_root):
            bundle.commit_version(shard_root, named)


def _next_collection(root: Path, old: CollectionManifest, changed: dict[int, tuple[Any, int]],
                     sync: Any) -> CollectionManifest:
    """The next collection version: changed shards' new versions, their new chunks numbered after
    the collection's last id (in shard order), and the corpus statistics summed again."""
    next_id = old.total_chunks
    entries, ids = list(old.shards), _read_ids(root, old)
    for i in sorted(changed):
        shard_manifest, rows_before = changed[i]
        rows = shard_rows(shard_manifest)
        added = np.arange(next_id, next_id + rows - rows_before, dtype=np.int64)
        next_id += len(added)
        name = old.shards[i].name
        ids[name] = np.concatenate([ids.get(name, np.empty(0, dtype=np.int64)), added])
        entries[i] = shard_entry(name, shard_manifest, rows)
    return _version(root, old, entries, ids, sync)


def _renumbered(root: Path, old: CollectionManifest, compacted: dict[int, Any], kept: dict[int, np.ndarray]) -> CollectionManifest:
    entries, ids = list(old.shards), _read_ids(root, old)
    for i, shard_manifest in compacted.items():
        name = old.shards[i].name
        ids[name] = ids[name][kept[i]]
        entries[i] = shard_entry(name, shard_manifest, shard_rows(shard_manifest))
    # Dense ids again, in the same order: each id becomes its rank among the ids kept.
    every = np.sort(np.concatenate(list(ids.values())))
    ids = {name: np.searchsorted(every, values).astype(np.int64) for name, values in ids.items()}
    return _version(root, old, entries, ids, old.sync)


def _version(root: Path, old: CollectionManifest, entries: list[ShardEntry], ids: dict[str, np.ndarray],
             sync: Any) -> CollectionManifest:
    stats = merge([shard_term_stats(root / e.name, bundle.read_manifest(root / e.name, verify=False))
                   for e in entries if not e.empty])
    version = old.version + 1
    state, files = write_state(root, version, stats, ids)
    identity = {"analyzer": old.analyzer, "config": old.config, "embedder": old.embedder}
    return new_manifest(version=version, created=old.created, shards=entries, stats=stats, state=state,
                        files=files, identity=identity, source=old.source, sync=sync, updated=bundle.utc_now())


def _read_ids(root: Path, manifest: CollectionManifest) -> dict[str, np.ndarray]:
    return {e.name: np.load(root / manifest.state / ids_file(e.name), allow_pickle=False)
            for e in manifest.shards if not e.empty}


def _build_empty_shard(shard_root: Path, manifest: CollectionManifest, docs: list[Document], embedder: Any) -> Any:
    """A shard that had no documents gets its first ones: a new bundle built like its siblings."""
    from .. import dense_index
    from ..bundle.build import BundleBuild, UniqueDocuments, index_documents
    from ..ingest import Chunker
    from ..text import Analyzer, TokenCounter

    config = manifest.index_config
    counter = TokenCounter()
    if config.dense and embedder is None:
        embedder = dense_index.make_embedder(config.embedding)
    started = time.perf_counter()
    with BundleBuild(shard_root, config, analyzer=Analyzer(config.analyzer), counter=counter,
                     embedder=embedder if config.dense else None) as target:
        index_documents(UniqueDocuments(docs), Chunker(config.chunker, counter), target.add_document, target.add_chunk)
        target.finish({"source": manifest.source, "sync": None}, {}, started)
    return embedder


def _add(total: Any, report: Any) -> None:
    for field in ("added", "replaced", "unchanged", "deleted", "chunks_added", "chunks_removed"):
        setattr(total, field, getattr(total, field) + getattr(report, field))
    total.missing += report.missing


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    """The collection's update lock (the bundle's flock, on a collection checked to be one)."""
    read_collection_manifest(root, verify=False)
    with bundle.directory.hold_lock(root):
        yield
