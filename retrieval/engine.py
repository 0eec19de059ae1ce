"""Engine: build an index bundle from a corpus, open it, search it.

    engine = Engine.build("corpus.jsonl", "indexes/mine")   # or Engine.open("indexes/mine")
    result = engine.search("query text", k=10, mode="bm25")
    result = engine.search("query text", filters={"lang": ["en", "de"], "year": ["2020"]})
    for hit in result.hits: print(hit.score, hit.doc_id, hit.text)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from . import bundle
from .config import IndexConfig
from .keyword import BM25
from .search import Planner
from .search.filters import FilterSpec, MetadataIndex
from .ingest.corpus import Corpus, describe, sync_section
from .stores import ChunkStore
from .updates.retire import drop_replaced, stores_of
from .text import Analyzer
from .types import Document, SearchResult
from .bundle.manifest import Manifest
from .bundle.view import BundleView, Filters, open_version

if TYPE_CHECKING:
    from .updates.updater import UpdateReport

STORE_CLOSE_GRACE_S = 60.0  # a replaced chunk store stays open this long for searches still using it

LOG = logging.getLogger(__name__)


class Engine:
    """An opened index bundle. Thread-safe for concurrent searches."""

    def __init__(self, path: Path, view: BundleView, store_dsn: str | None = None) -> None:
        self.path = path
        # Everything one search reads, swapped in one assignment when an update or refresh
        # switches versions (see ``retrieval.bundle.view``).
        self._view = view
        self._store_dsn = store_dsn
        self._retiring: list[tuple[Any, Any]] = []  # (timer, store) of replaced versions, closed later
        self._refresh_failure: str | None = None  # the last refresh error logged (logged once each)

    def view(self) -> BundleView:
        """The version open now, frozen: take it once for work that must see one version throughout."""
        return self._view

    @property
    def manifest(self) -> Manifest:
        return self._view.manifest

    @property
    def version(self) -> str:
        """Digest of the open version's manifest (it lists every file's sha256)."""
        return self._view.version

    @property
    def store(self) -> ChunkStore:
        return self._view.store

    @property
    def planner(self) -> Planner:
        return self._view.planner

    @property
    def live(self) -> np.ndarray | None:
        """Sorted ids of the live chunks of an updated bundle, or None when every chunk is live."""
        return self._view.live

    @property
    def metadata(self) -> MetadataIndex:
        return self._view.metadata

    @property
    def sentences(self) -> Any:
        """The context compressor's sentence index (dense bundles built with sentences), or None."""
        return self._view.sentences

    @property
    def bm25(self) -> BM25:
        return self._view.planner.keyword

    @property
    def modes(self) -> tuple[str, ...]:
        """The search modes this bundle supports (dense modes need a dense index)."""
        return self._view.modes

    # -- building -------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        corpus: Corpus,
        path: str | Path,
        config: IndexConfig | None = None,
        *,
        overwrite: bool = False,
        progress: bool = False,
        store: str | None = None,
        store_schema: str = "retrieval",
        shards: int | None = None,
    ) -> "Engine":
        """Index ``corpus`` (a path, ``"demo"``, or Documents) into a bundle at ``path``.

        The bundle appears at ``path`` only when complete; a failure leaves ``path`` untouched.
        ``store``: a ``postgresql://`` DSN to keep the chunk text in PostgreSQL (tables in
        ``store_schema``) instead of the bundle's ``chunks.parquet``.
        ``shards``: write a collection of that many shard bundles instead (``retrieval.collection``):
        the same API, the same results.
        """
        from . import dense_index
        from .bundle.build import BundleBuild, UniqueDocuments, check_indexed, index_documents
        from .ingest import Chunker
        from .text import TokenCounter

        from .embedding.choice import recorded

        config = recorded(config or IndexConfig())
        started = time.perf_counter()
        analyzer = Analyzer(config.analyzer)
        counter = TokenCounter()
        chunker = Chunker(config.chunker, counter)
        embedder = dense_index.make_embedder(config.embedding) if config.dense else None
        replaced = stores_of(path) if overwrite else []  # PostgreSQL rows the old bundle or collection used
        if shards is not None:
            from .collection.build import build_collection

            with _progress(progress, _count_hint(corpus)) as bar:
                build_collection(UniqueDocuments(_ticking(_open_corpus(corpus), bar)), path, config, shards,
                                 analyzer=analyzer, counter=counter, chunker=chunker, embedder=embedder,
                                 source=describe(corpus), sync=lambda: sync_section(corpus), overwrite=overwrite,
                                 store=store, store_schema=store_schema)
            if replaced:  # every shard wrote under a new key
                drop_replaced(replaced, None, store)
            return cls._open(Path(path), verify=False, faiss_threads=1, embedder=embedder, store_dsn=store)
        target = BundleBuild(path, config, analyzer=analyzer, counter=counter, embedder=embedder,
                             overwrite=overwrite, store=store, store_schema=store_schema)
        with target, _progress(progress, _count_hint(corpus)) as bar:
            docs = UniqueDocuments(_ticking(_open_corpus(corpus), bar))
            seconds = index_documents(docs, chunker, target.add_document, target.add_chunk)
            stages = {"read_chunk_analyze_s": seconds - sum(target.base_stages.values())}
            check_indexed(target.chunks, target.terms, describe(corpus), config.analyzer)
            # A PostgreSQL query and its watermark (largest updated_at): where `retrieval sync` starts.
            target.finish({"source": describe(corpus), "sync": sync_section(corpus)}, stages, started)
        if replaced:
            drop_replaced(replaced, target.store_section, store)
        # Just written and hashed: skip re-verifying, and keep the embedder already loaded.
        return cls._open(Path(path), verify=False, faiss_threads=1, embedder=embedder, store_dsn=store)

    # -- opening --------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        verify: bool = True,
        faiss_threads: int | None = 1,
        embedding_threads: int | None = None,
        store_dsn: str | None = None,
        embedder: Any = None,
    ) -> "Engine":
        """Open a bundle; ``verify`` checks every file's sha256 against the manifest.

        ``faiss_threads`` sets FAISS's OpenMP threads for this process (FAISS has only a
        process-wide setting) when the bundle has a dense index. One query per call gains
        nothing from more threads and loses badly when cores are busy (measured: flat search
        over 10k vectors, 0.32 ms with 1 thread, 24 ms with 2 on a loaded 2-core machine);
        parallelism comes from concurrent calls instead. ``None`` leaves the setting alone.

        ``embedding_threads`` overrides the bundle's embedder threads per call (``embedding.threads``)
        for this process: a server running many calls at once wants 1 (see ``retrieval serve``).

        ``store_dsn``: for a bundle whose chunk text lives in PostgreSQL, the DSN to reach it
        (the manifest records it without its password; see ``retrieval.stores.open_chunk_store``).

        ``embedder``: an embedder already loaded, used instead of loading the one the manifest
        names (``embedding.model``); refused, naming both, unless it is the one the bundle was
        built with (same model, weights, tokenizer, variant, pooling and prompts).
        """
        return cls._open(
            Path(path),
            verify=verify,
            faiss_threads=faiss_threads,
            embedder=embedder,
            embedding_threads=embedding_threads,
            store_dsn=store_dsn,
        )

    @classmethod
    def _open(
        cls,
        root: Path,
        *,
        verify: bool,
        faiss_threads: int | None,
        embedder: Any = None,
        embedding_threads: int | None = None,
        store_dsn: str | None = None,
    ) -> "Engine":
        from .collection import is_collection, open_collection

        opener = open_collection if is_collection(root) else open_version
        view = opener(root, verify=verify, embedder=embedder, embedding_threads=embedding_threads, store_dsn=store_dsn)
        if view.planner.dense is not None and faiss_threads is not None:
            from .vector import set_num_threads

            set_num_threads(faiss_threads)
        return cls(root, view, store_dsn)

    def close(self) -> None:
        """Release the chunk store's connections (a PostgreSQL pool); searching afterwards fails."""
        for timer, store in self._retiring:  # stores of versions replaced earlier
            timer.cancel()
            store.close()
        self._retiring = []
        self.store.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def counts(self) -> dict[str, int]:
        """Live documents and chunks, terms and postings of the current version."""
        return dataclasses.asdict(self.manifest.counts)

    # -- updating -------------------------------------------------------------------------

    def upsert(self, documents: Iterable[Document], *, force: bool = False) -> "UpdateReport":
        """Add or replace ``documents`` as a new bundle version, then search that version.

        A document whose id exists is replaced (its old chunks become tombstones); one whose
        content hash (title, text, metadata) is unchanged is skipped unless ``force``. The new
        version is committed atomically: a crash at any point leaves the previous one intact.
        """
        report = self._update(upserts=documents, force=force)
        self._reload()
        return report

    def delete(self, doc_ids: Iterable[str]) -> "UpdateReport":
        """Delete documents by id as a new bundle version; unknown ids are reported, not errors."""
        report = self._update(deletes=doc_ids)
        self._reload()
        return report

    def _update(self, **changes: Any) -> "UpdateReport":
        from .updates import apply_update

        return apply_update(self.path, engine=self, **changes)

    def compact(self) -> "UpdateReport":
        """Rewrite the bundle without tombstones (no re-embedding) as a new version."""
        from .updates.dispatch import compact

        report = compact(self.path, engine=self)
        self._reload()
        return report

    def refresh(self) -> bool:
        """Switch to the bundle's current version if another process committed a newer one
        (``retrieval sync``, ``update``, ``compact``); True when it switched. Cheap when nothing
        changed (one small file read). Searches running meanwhile finish on the version they began.

        A new version that cannot be opened (corrupt, its store down, a rebuild mid-way) leaves
        the open one serving; the cause is logged once, and the next call tries again.
        """
        try:
            if on_disk_digest(self.path) == self.version:
                self._refresh_failure = None
                return False
            self._reload()
        except Exception as exc:  # noqa: BLE001 - any failure keeps the open version serving
            cause = f"{type(exc).__name__}: {exc}"
            if cause != self._refresh_failure:
                LOG.warning("cannot switch %s to its new version, still serving the open one: %s", self.path, cause)
                self._refresh_failure = cause
            return False
        self._refresh_failure = None
        return True

    def _reload(self) -> None:
        """Switch this engine to the bundle's current version (after an update through it)."""
        fresh = type(self)._open(
            self.path,
            verify=False,
            faiss_threads=None,
            embedder=self._view.document_embedder,  # the model already loaded
            store_dsn=self._store_dsn,
        )
        old_store = self.store
        self._view = fresh._view  # the switch: one assignment
        if old_store is not self.store:
            # Searches that began on the old version may still read from it: close it later
            # (or at close(), whichever comes first).
            timer = threading.Timer(STORE_CLOSE_GRACE_S, old_store.close)
            timer.daemon = True
            timer.start()
            self._retiring.append((timer, old_store))

    # -- searching (on the version open now; see ``BundleView`` for one version throughout) --

    def retrieve(
        self,
        query: str,
        k: int = 10,
        mode: str = "bm25",
        params: Mapping[str, Any] | None = None,
        query_vector: np.ndarray | None = None,
        filters: Filters = None,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """Chunk ids and scores, best first, without fetching text; plus stage timings (ms).

        ``params`` override search settings for this call only: ``candidates``, the fusion
        fields (``method``, ``normalization``, ``dense_weight``, ``keyword_weight``, ``rrf_k``),
        ``exact_max``, and the vector index's own (``ef_search``, ``nprobe``, ``k_factor``).
        ``query_vector``: the query's embedding computed by the caller (see ``embed_queries``);
        the dense modes use it instead of embedding ``query``, ``bm25`` ignores it.
        ``filters``: document metadata the hits must have, ``{"key": ["v1", "v2"], ...}`` (AND
        over keys, IN over values; see ``retrieval.search.filters``), applied before scoring.
        """
        return self._view.retrieve(query, k, mode, params, query_vector, filters)

    def allowed_chunks(self, filters: Filters | FilterSpec) -> np.ndarray:
        """Sorted int64 ids of the live chunks whose document matches ``filters`` (read-only, cached)."""
        return self._view.allowed_chunks(filters)

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "bm25",
        params: Mapping[str, Any] | None = None,
        query_vector: np.ndarray | None = None,
        filters: Filters = None,
    ) -> SearchResult:
        """The ``k`` best chunks for ``query`` with their text, best first (``filters``: see ``retrieve``)."""
        return self._view.search(query, k, mode, params, query_vector, filters)

    def routes_to_bm25(self, query: str, filters: Filters = None) -> bool:
        """Where ``mode="auto"`` sends ``query`` (True: BM25 alone, nothing to embed): what a
        caller that embeds queries itself (the service's batcher) asks first."""
        return self._view.routes_to_bm25(query, filters)

    def search_batch(
        self, queries: Sequence[str], k: int = 10, mode: str = "bm25", n_threads: int = 0, filters: Filters = None
    ) -> list[SearchResult]:
        """``search`` for many queries at once, scored in parallel native threads (0 = all cores).

        Stage timings are the batch's, divided evenly over its queries. Only ``bm25`` runs as one
        native batch; the other modes run query by query.
        """
        return self._view.search_batch(queries, k, mode, n_threads, filters)

    async def asearch(
        self,
        query: str,
        k: int = 10,
        mode: str = "bm25",
        params: Mapping[str, Any] | None = None,
        query_vector: np.ndarray | None = None,
        filters: Filters = None,
    ) -> SearchResult:
        """``search`` for asyncio apps: the CPU work runs in a worker thread, not on the loop."""
        return await asyncio.to_thread(self.search, query, k, mode, params, query_vector, filters)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """float32 [len(texts), dim] query embeddings in one model call (LRU-cached per text).

        What a caller batching many queries computes before ``search(..., query_vector=row)``.
        Raises ``QueryError`` for a keyword-only bundle (``"dense" not in engine.modes``).
        """
        return self._view.embed_queries(texts)

    def search_documents(
        self, query: str, k: int = 10, mode: str = "bm25", params: Mapping[str, Any] | None = None, filters: Filters = None
    ) -> tuple[list[tuple[str, float]], dict[str, float]]:
        """The ``k`` best documents, a document scoring as its best chunk."""
        return self._view.search_documents(query, k, mode, params, filters)


def on_disk_digest(path: Path) -> str:
    """The digest of the version committed at ``path`` now (a bundle's or a collection's manifest)."""
    from .collection import is_collection

    if is_collection(path):
        from .collection.opening import read_collection_manifest

        return read_collection_manifest(path, verify=False).digest
    return bundle.read_manifest(path, verify=False).digest


def _open_corpus(corpus: Corpus) -> Iterable[Document]:
    from .ingest import demo_corpus, read_corpus

    if isinstance(corpus, str) and corpus == "demo":
        return demo_corpus()
    if isinstance(corpus, (str, Path)):
        return read_corpus(corpus)
    return corpus


def _count_hint(corpus: Corpus) -> int | None:
    from .ingest import count_hint

    if isinstance(corpus, (str, Path)) and corpus != "demo":
        try:
            return count_hint(corpus)
        except Exception:  # a hint only: the reader reports real problems with context
            return None
    return None


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _progress(enabled: bool, total: int | None):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="doc", desc="indexing", leave=False)


def _ticking(docs: Iterable[Document], bar) -> Iterator[Document]:
    for doc in docs:
        bar.update(1)
        yield doc
