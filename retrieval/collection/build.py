"""Building a sharded collection: one pass over the corpus, one ``BundleBuild`` per shard.

Each document goes to the shard its id hashes to (``routing``); its chunks are numbered in corpus
order across all shards, so collection chunk id ``g`` is the id one bundle built from the same
corpus gives that chunk, and every shard's ids increase with its own. After the pass the shards'
live BM25 statistics are summed into the corpus's (``stats``), and the collection manifest is
written last; the whole directory appears at its path only when complete.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..bundle import directory
from ..bundle.build import BundleBuild, check_indexed, index_documents
from ..types import Chunk, Document
from .layout import MANIFEST, shard_name
from .manifest import ShardEntry
from .routing import check_shard_count, shard_of
from .state import identity_of, new_manifest, shard_entry, write_manifest, write_state
from .stats import merge, shard_term_stats


def build_collection(
    docs: Iterable[Document],
    path: str | Path,
    config: Any,
    shards: int,
    *,
    analyzer: Any,
    counter: Any,
    chunker: Any,
    embedder: Any,
    source: str,
    sync: Any,
    overwrite: bool = False,
    store: str | None = None,
    store_schema: str = "retrieval",
) -> None:
    """Write ``docs`` as a collection of ``shards`` bundles at ``path`` (``sync()``: the sync
    section, asked after the pass)."""
    n = check_shard_count(shards)
    started = time.perf_counter()
    with directory.writing(path, overwrite=overwrite, manifest_name=MANIFEST) as tmp:
        targets = [
            BundleBuild(tmp / shard_name(i), config, analyzer=analyzer, counter=counter, embedder=embedder,
                        store=store, store_schema=store_schema)
            for i in range(n)
        ]
        ids: list[list[int]] = [[] for _ in range(n)]
        with contextlib.ExitStack() as stack:
            for target in targets:
                stack.enter_context(target)
            router = _Router(n)

            def add_document(doc: Document) -> None:
                targets[router.shard(doc.id)].add_document(doc)

            def add_chunk(chunk: Chunk) -> None:
                s = router.shard(chunk.doc_id)
                ids[s].append(router.next_id)
                router.next_id += 1
                targets[s].add_chunk(chunk)

            seconds = index_documents(docs, chunker, add_document, add_chunk)
            check_indexed(router.next_id, sum(t.terms for t in targets), source, config.analyzer)
            stages = {"read_chunk_analyze_s": seconds - sum(sum(t.base_stages.values()) for t in targets)}
            info = {"source": source, "sync": sync()}
            for target in targets:
                if target.documents:
                    target.finish(info, stages, started)
                else:
                    target.abandon()
        write_collection(tmp, [t.documents for t in targets], ids, source, info["sync"])


def write_collection(tmp: Path, documents: Sequence[int], ids: Sequence[Any], source: str, sync: Any) -> None:
    """The collection manifest over the shard bundles written in ``tmp`` (shard ``i`` holds
    ``documents[i]`` documents, none: no bundle) and its state: the corpus statistics and
    ``ids[i]``, shard ``i``'s collection chunk ids."""
    entries, stats, shard_ids, identity = [], [], {}, None
    for i, count in enumerate(documents):
        name = shard_name(i)
        if not count:
            entries.append(ShardEntry(name, None))
            continue
        manifest = directory.read_manifest(tmp / name, verify=False)
        identity = identity or identity_of(manifest)
        entries.append(shard_entry(name, manifest, len(ids[i])))
        stats.append(shard_term_stats(tmp / name, manifest))
        shard_ids[name] = np.asarray(ids[i], dtype=np.int64)
    corpus = merge(stats)
    state, files = write_state(tmp, 1, corpus, shard_ids)
    assert identity is not None  # check_indexed saw chunks, so some shard has documents
    manifest = new_manifest(version=1, created=None, shards=entries, stats=corpus, state=state, files=files,
                            identity=identity, source=source, sync=sync)
    write_manifest(tmp, manifest)


class _Router:
    """Shard of a document id (the last one cached: a document's chunks arrive together)."""

    def __init__(self, shards: int) -> None:
        self.shards = shards
        self.next_id = 0
        self._last: tuple[str, int] | None = None

    def shard(self, doc_id: str) -> int:
        if self._last is None or self._last[0] != doc_id:
            self._last = (doc_id, shard_of(doc_id, self.shards))
        return self._last[1]
