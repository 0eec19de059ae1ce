"""Writing and committing a collection version: its state directory and its manifest.

A version's state directory (``state-NNNNNN``) holds the corpus-wide BM25 statistics and each
shard's collection chunk ids; the manifest lists those files with their sha256 and names one
version of every shard. ``commit`` makes a manifest current in one atomic rename (the previous
one kept as ``collection.prev.json``, with its files), then deletes state directories neither
names. Callers write the shard versions first: until the rename, the previous collection version
names the previous shard versions, which every shard keeps (its previous manifest).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..bundle import directory
from .layout import FORMAT, FORMAT_VERSION, LOCK_FILE, MANIFEST, PREVIOUS_MANIFEST, ids_file, state_dir
from .manifest import CollectionCounts, CollectionManifest, CollectionStats, ShardEntry, manifest_bytes
from .stats import TermStats, write_stats


def write_state(root: Path, version: int, stats: TermStats, shard_ids: dict[str, np.ndarray]) -> tuple[str, dict[str, Any]]:
    """Write version ``version``'s state directory under ``root``; returns its name and file entries."""
    name = state_dir(version)
    target = root / name
    if target.exists():  # left by a writer that died before committing this version number
        shutil.rmtree(target)
    tmp = root / f".{name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    write_stats(tmp, stats)
    for shard, ids in shard_ids.items():
        np.save(tmp / ids_file(shard), np.asarray(ids, dtype=np.int64), allow_pickle=False)
    directory._fsync_tree(tmp)
    tmp.rename(target)
    entries = directory.file_entries(root, target)
    return name, {rel: {"sha256": e.sha256, "bytes": e.bytes} for rel, e in entries.items()}


def new_manifest(
    *,
    version: int,
    created: str | None,
    shards: Sequence[ShardEntry],
    stats: TermStats,
    state: str,
    files: dict[str, Any],
    identity: dict[str, Any],
    source: str = "",
    sync: dict[str, Any] | None = None,
    updated: str | None = None,
) -> CollectionManifest:
    """A collection manifest; ``identity``: the shards' ``analyzer``, ``config`` and ``embedder``."""
    from .routing import RULE

    return CollectionManifest(
        version=version,
        created=created or directory.utc_now(),
        updated=updated,
        routing={"rule": RULE, "shards": len(shards)},
        shards=tuple(shards),
        embedder=identity["embedder"],
        analyzer=identity["analyzer"],
        config=identity["config"],
        bm25=CollectionStats(stats.n_docs, stats.total_tokens, len(stats.terms)),
        counts=CollectionCounts(
            documents=sum(s.documents for s in shards),
            chunks=sum(s.live_chunks for s in shards),
            terms=len(stats.terms),
            postings=stats.postings,
        ),
        state=state,
        files=files,
        source=source,
        sync=sync,
        format=FORMAT,
        format_version=FORMAT_VERSION,
        environment=directory.environment(),
    )


def identity_of(manifest: Any) -> dict[str, Any]:
    """What every shard of a collection shares, from one shard's bundle manifest."""
    return {
        "analyzer": manifest.analyzer,
        "config": manifest.config,
        "embedder": manifest.dense.embedder if manifest.dense else None,
    }


def shard_entry(name: str, manifest: Any, total_chunks: int) -> ShardEntry:
    return ShardEntry(name, manifest.digest, manifest.version, total_chunks, manifest.counts.chunks,
                      manifest.counts.documents)


def write_manifest(root: Path, manifest: CollectionManifest) -> None:
    """The first manifest of a new collection (in its temporary directory)."""
    (root / MANIFEST).write_bytes(manifest_bytes(manifest))


def commit(root: Path, manifest: CollectionManifest) -> None:
    """Make ``manifest`` current in one atomic rename; call with the collection's lock held."""
    previous = (root / MANIFEST).read_bytes()
    directory._atomic_write(root / PREVIOUS_MANIFEST, previous)
    directory._atomic_write(root / MANIFEST, manifest_bytes(manifest))
    collect_garbage(root)


def collect_garbage(root: Path) -> list[str]:
    """Delete state directories (and temporary ones) neither the current nor the previous manifest names."""
    import json

    keep = {MANIFEST, PREVIOUS_MANIFEST, LOCK_FILE}
    for name in (MANIFEST, PREVIOUS_MANIFEST):
        try:
            raw = json.loads((root / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        keep.add(raw.get("state", ""))
        keep.update(s.get("name", "") for s in raw.get("shards", []))
    removed = []
    for entry in sorted(root.iterdir()):
        if entry.name in keep or not (entry.name.startswith("state-") or entry.name.startswith(".state-")):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry.name)
    return removed
