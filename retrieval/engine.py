"""Engine: build an index bundle from a corpus, open it, search it.

    engine = Engine.build("corpus.jsonl", "indexes/mine")   # or Engine.open("indexes/mine")
    result = engine.search("query text", k=10, mode="bm25")
    result = engine.search("query text", filters={"lang": ["en", "de"], "year": ["2020"]})
    for hit in result.hits: print(hit.score, hit.doc_id, hit.text)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from . import bundle
from .config import IndexConfig
from .errors import ConfigError, CorpusError, QueryError
from .keyword import BM25, BM25Builder
from .search import Planner
from .search.filters import METADATA_FILE, FilterSpec, MetadataIndex, MetadataWriter, normalize_filters
from .ingest.content_hash import document_hash
from .stores import ChunkStore, make_chunk_writer
from .updates.documents import DOCUMENTS_FILE, BaseDocumentsWriter
from .updates.retire import drop_sections, stores_of
from .text import Analyzer
from .types import Document, Hit, SearchResult, StageTimings

if TYPE_CHECKING:
    from .updates.updater import UpdateReport

MAX_K = 10_000
# Up to this many deleted chunks are dropped by asking each ranking for that many more hits
# (exact, and cheap while few); beyond it, searches are restricted to the live ids instead.
EXCLUDE_MAX = 1024
STORE_CLOSE_GRACE_S = 60.0  # a replaced chunk store stays open this long for searches still using it
CHUNKS_FILE = "chunks.parquet"
BM25_DIR = "bm25"

Corpus = str | Path | Iterable[Document]
# Metadata filters: {key: value | [values]} or (key, values) pairs; see retrieval.search.filters.
Filters = Mapping[str, Any] | Sequence[Any] | None


class Engine:
    """An opened index bundle. Thread-safe for concurrent searches."""

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        store: ChunkStore,
        planner: Planner,
        live: np.ndarray | None = None,
        metadata: MetadataIndex | None = None,
        tombstones: np.ndarray | None = None,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.store = store
        self.planner = planner
        # Sorted int64 ids of the live chunks of an updated bundle (deleted ones are tombstones
        # still in the indexes), or None when every chunk is live.
        self.live = live
        # The context compressor's sentence index (dense bundles built with sentences), or None.
        self.sentences: Any = None
        # Allowed chunk ids per metadata filter (LRU-cached); bundles from before metadata was
        # stored have none, and filtering them raises QueryError.
        if metadata is None:
            section = manifest.get("metadata")
            metadata = MetadataIndex(path / METADATA_FILE if section else None, store.all_doc_ids, live=live)
        self.metadata = metadata
        # What one search reads, swapped as one attribute when an update or refresh switches
        # versions, so a search never mixes the indexes of one version with the store of another.
        # Deleted chunks are dropped by over-asking each ranking when they are few, else by
        # restricting it to the live ids.
        excluded = None
        if live is not None:
            excluded = tombstones if tombstones is not None and len(tombstones) <= EXCLUDE_MAX else None
        self._current = _Version(planner, store, live, metadata, excluded)
        # The manifest lists every file's sha256, so its digest names the bundle's contents.
        self.version = _digest(manifest)

    @property
    def bm25(self) -> BM25:
        return self.planner.keyword

    @property
    def modes(self) -> tuple[str, ...]:
        """The search modes this bundle supports (dense modes need a dense index)."""
        return self.planner.modes

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
    ) -> "Engine":
        """Index ``corpus`` (a path, ``"demo"``, or Documents) into a bundle at ``path``.

        The bundle appears at ``path`` only when complete; a failure leaves ``path`` untouched.
        ``store``: a ``postgresql://`` DSN to keep the chunk text in PostgreSQL (tables in
        ``store_schema``) instead of the bundle's ``chunks.parquet``.
        """
        from . import dense_index
        from .context.sentence_index import SENTENCES_DIR, SentenceIndexBuilder
        from .ingest import Chunker
        from .ingest.prefetch import prefetch
        from .text import TokenCounter

        config = config or IndexConfig()
        started = time.perf_counter()
        stages: dict[str, float] = {}
        analyzer = Analyzer(config.analyzer)
        counter = TokenCounter()
        chunker = Chunker(config.chunker, counter)
        embedder = dense_index.make_embedder(config.embedding) if config.dense else None
        embed_texts: list[str] = []
        sentences = SentenceIndexBuilder() if embedder is not None and config.sentences else None
        writer: Any = None
        replaced = stores_of(path) if overwrite else []  # PostgreSQL rows the old bundle used
        try:
            with bundle.writing(path, overwrite=overwrite) as tmp:
                writer, store_section = make_chunk_writer(tmp, store, schema=store_schema, bundle=uuid.uuid4().hex)
                builder = BM25Builder(analyzer, config.bm25)
                metadata = MetadataWriter(tmp / METADATA_FILE)
                hashes = BaseDocumentsWriter(tmp / DOCUMENTS_FILE)
                docs = _UniqueDocuments(_open_corpus(corpus), metadata, hashes)
                t0 = time.perf_counter()
                with _progress(progress, _count_hint(corpus)) as bar:
                    # Chunking (tokenizer-bound, GIL released) overlaps with analysis and writing.
                    for chunk in prefetch(chunker.chunk_many(_ticking(docs, bar))):
                        writer.add(chunk)
                        # Title and text joined by whitespace: the sequence the chunk budget counted.
                        text = f"{chunk.title}\n{chunk.text}" if config.chunker.include_title else chunk.text
                        builder.add(text)
                        if embedder is not None:
                            embed_texts.append(text)
                        if sentences is not None:
                            sentences.add(chunk.text, chunk.title if config.chunker.include_title else "")
                n_chunks = writer.close()
                metadata_section = metadata.close()
                hashes.close()
                stages["read_chunk_analyze_s"] = time.perf_counter() - t0
                if n_chunks == 0:
                    raise CorpusError(f"corpus {_describe(corpus)} has no documents with text to index")
                if len(builder.vocabulary) == 0:  # an empty keyword index would answer every query with nothing
                    raise ConfigError(
                        f"the analyzer found no terms in any of the {n_chunks} chunks of {_describe(corpus)}: "
                        f"check analyzer.token_pattern ({config.analyzer.token_pattern!r}), analyzer.stopwords "
                        "and analyzer.stemmer"
                    )
                t0 = time.perf_counter()
                bm25 = builder.build()
                bm25.save(tmp / BM25_DIR)
                stages["bm25_s"] = time.perf_counter() - t0
                dense = None
                if embedder is not None:
                    t0 = time.perf_counter()
                    vectors = dense_index.embed_all(embedder, _progress_iter(embed_texts, progress, "embedding"))
                    stages["embed_s"] = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    dense = dense_index.build_dense(tmp, vectors, embedder, config.vector)
                    stages["vector_index_s"] = time.perf_counter() - t0
                sentences_section = None
                if sentences is not None:
                    t0 = time.perf_counter()
                    sentences_section = sentences.write(tmp / SENTENCES_DIR, embedder)
                    stages["sentences_s"] = time.perf_counter() - t0
                bundle.write_manifest(
                    tmp,
                    {
                        "config": config.to_dict(),
                        "analyzer": analyzer.describe(),
                        "tokenizer": {"model_id": counter.model_id, "sha256": counter.fingerprint},
                        "bm25": {**asdict(config.bm25), "avgdl": float(bm25.index.avgdl)},
                        "counts": {
                            "documents": docs.count,
                            "chunks": n_chunks,
                            "terms": len(bm25.vocabulary),
                            "postings": int(bm25.index.total_postings),
                        },
                        "dense": dense,
                        "store": store_section,
                        "metadata": metadata_section,
                        "sentences": sentences_section,
                        "source": _describe(corpus),
                        # A PostgreSQL query and its watermark (largest updated_at): where `retrieval sync` starts.
                        "sync": corpus.sync_section() if hasattr(corpus, "sync_section") else None,
                        "build_seconds": round(time.perf_counter() - started, 3),
                        "build_stages_s": {k: round(v, 3) for k, v in stages.items()},
                    },
                )
        except BaseException:
            if writer is not None:  # chunk rows written to PostgreSQL under the new, unreferenced key
                with contextlib.suppress(Exception):
                    writer.abort()
            raise
        if replaced:
            drop_sections([s for s in replaced if s != store_section], store)
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
        """
        return cls._open(
            Path(path),
            verify=verify,
            faiss_threads=faiss_threads,
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
        from .config import IndexConfig
        from .updates.opening import open_version

        manifest = bundle.read_manifest(root, verify=verify)
        config = IndexConfig.from_dict(manifest.get("config", {}))
        if embedding_threads is not None:
            config = dataclasses.replace(config, embedding=dataclasses.replace(config.embedding, threads=embedding_threads))
        parts = open_version(root, manifest, config, embedder=embedder, store_dsn=store_dsn)
        if parts.dense is not None and faiss_threads is not None:
            from .vector import set_num_threads

            set_num_threads(faiss_threads)
        engine = cls(
            root, manifest, parts.store, Planner(parts.bm25, parts.dense, config.search), parts.live, parts.metadata, parts.tombstones
        )
        engine.sentences = parts.sentences
        engine._store_dsn = store_dsn
        return engine

    def close(self) -> None:
        """Release the chunk store's connections (a PostgreSQL pool); searching afterwards fails."""
        for timer, store in getattr(self, "_retiring", []):  # stores of versions replaced earlier
            timer.cancel()
            store.close()
        self._retiring = []
        close = getattr(self.store, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def counts(self) -> dict[str, int]:
        """Live documents and chunks, terms and postings of the current version."""
        return dict(self.manifest["counts"])

    # -- updating -------------------------------------------------------------------------

    def upsert(self, documents: Iterable[Document], *, force: bool = False) -> "UpdateReport":
        """Add or replace ``documents`` as a new bundle version, then search that version.

        A document whose id exists is replaced (its old chunks become tombstones); one whose
        content hash (title, text, metadata) is unchanged is skipped unless ``force``. The new
        version is committed atomically: a crash at any point leaves the previous one intact.
        """
        from .updates import apply_update

        report = apply_update(self.path, upserts=documents, force=force, engine=self)
        self._reload()
        return report

    def delete(self, doc_ids: Iterable[str]) -> "UpdateReport":
        """Delete documents by id as a new bundle version; unknown ids are reported, not errors."""
        from .updates import apply_update

        report = apply_update(self.path, deletes=doc_ids, engine=self)
        self._reload()
        return report

    def compact(self) -> "UpdateReport":
        """Rewrite the bundle without tombstones (no re-embedding) as a new version."""
        from .updates.compact import compact

        report = compact(self.path, engine=self)
        self._reload()
        return report

    def refresh(self) -> bool:
        """Switch to the bundle's current version if another process committed a newer one
        (``retrieval sync``, ``update``, ``compact``); True when it switched. Cheap when nothing
        changed (one small file read). Searches running meanwhile finish on the version they began."""
        try:
            on_disk = bundle.read_manifest(self.path, verify=False)
        except Exception:  # mid-rebuild or unreadable: keep serving what is open
            return False
        if _digest(on_disk) == self.version:
            return False
        self._reload()
        return True

    def _reload(self) -> None:
        """Switch this engine to the bundle's current version (after an update through it)."""
        dense = self.planner.dense
        fresh = type(self)._open(
            self.path,
            verify=False,
            faiss_threads=None,
            embedder=getattr(dense.embedder, "embedder", None) if dense is not None else None,
            store_dsn=getattr(self, "_store_dsn", None),
        )
        old_store, retiring = self.store, getattr(self, "_retiring", [])
        self.__dict__.update(fresh.__dict__)
        self._retiring = retiring
        if old_store is not self.store and hasattr(old_store, "close"):
            # Searches that began on the old version may still read from it: close it later
            # (or at close(), whichever comes first).
            import threading

            timer = threading.Timer(STORE_CLOSE_GRACE_S, old_store.close)
            timer.daemon = True
            timer.start()
            retiring.append((timer, old_store))

    # -- searching ------------------------------------------------------------------------

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
        return self._retrieve(self._current, query, k, mode, params, query_vector, filters)

    def _retrieve(
        self,
        view: "_Version",
        query: str,
        k: int,
        mode: str,
        params: Mapping[str, Any] | None,
        query_vector: np.ndarray | None,
        filters: Filters,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        _check_query(query, k)
        spec = normalize_filters(filters)
        planner, _, live, metadata, excluded = view
        if not spec:
            if excluded is not None:
                return planner.retrieve(query, int(k), mode, params, query_vector, excluded=excluded)
            return planner.retrieve(query, int(k), mode, params, query_vector, live)
        t0 = time.perf_counter_ns()
        allowed = metadata.allowed(spec)
        filter_ms = (time.perf_counter_ns() - t0) / 1e6
        ids, scores, stages = planner.retrieve(query, int(k), mode, params, query_vector, allowed)
        return ids, scores, {"filter": filter_ms, **stages}

    def allowed_chunks(self, filters: Filters | FilterSpec) -> np.ndarray:
        """Sorted int64 ids of the live chunks whose document matches ``filters`` (read-only, cached)."""
        return self.metadata.allowed(normalize_filters(filters))

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
        view = self._current  # one version for the ids and the text, even if an update swaps it
        ids, scores, stages = self._retrieve(view, query, k, mode, params, query_vector, filters)
        t0 = time.perf_counter_ns()
        chunks = view.store.get(ids)
        stages["fetch"] = (time.perf_counter_ns() - t0) / 1e6
        hits = tuple(
            Hit(chunk=int(i), id=c.id, doc_id=c.doc_id, score=float(s), text=c.text, title=c.title)
            for i, s, c in zip(ids, scores, chunks)
        )
        return SearchResult(query=query, mode=mode, hits=hits, timings=StageTimings(stages))

    def search_batch(
        self, queries: Sequence[str], k: int = 10, mode: str = "bm25", n_threads: int = 0, filters: Filters = None
    ) -> list[SearchResult]:
        """``search`` for many queries at once, scored in parallel native threads (0 = all cores).

        Stage timings are the batch's, divided evenly over its queries. Only ``bm25`` runs as one
        native batch; the other modes run query by query.
        """
        for query in queries:
            _check_query(query, k)
        planner, store, live, _, _ = self._current
        if mode != "bm25" or normalize_filters(filters) or live is not None:  # deletions: filtered per query
            return [self.search(q, k, mode, filters=filters) for q in queries]
        if not queries:
            return []
        t0 = time.perf_counter_ns()
        terms = [planner.keyword.query_ids(q) for q in queries]
        t1 = time.perf_counter_ns()
        ids, scores, counts = planner.keyword.search_terms_batch(terms, k, n_threads)
        t2 = time.perf_counter_ns()
        flat = np.concatenate([ids[i, : counts[i]] for i in range(len(queries))])
        chunks = iter(store.get(flat))
        t3 = time.perf_counter_ns()
        n = len(queries)
        stages = StageTimings({"analyze": (t1 - t0) / 1e6 / n, "bm25": (t2 - t1) / 1e6 / n, "fetch": (t3 - t2) / 1e6 / n})
        results = []
        for i, query in enumerate(queries):
            hits = tuple(
                Hit(chunk=int(c), id=chunk.id, doc_id=chunk.doc_id, score=float(s), text=chunk.text, title=chunk.title)
                for c, s, chunk in zip(ids[i, : counts[i]], scores[i, : counts[i]], chunks)
            )
            results.append(SearchResult(query=query, mode=mode, hits=hits, timings=stages))
        return results

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
        dense = self.planner.dense
        if dense is None:
            raise QueryError("this bundle has no dense index (built with --no-dense): nothing to embed queries for")
        embed_many = getattr(dense.embedder, "embed_queries", None)
        vectors = embed_many(texts) if embed_many is not None else dense.embedder.embed(texts)
        return np.array(vectors, dtype=np.float32).reshape(len(texts), -1)

    def search_documents(
        self, query: str, k: int = 10, mode: str = "bm25", params: Mapping[str, Any] | None = None, filters: Filters = None
    ) -> tuple[list[tuple[str, float]], dict[str, float]]:
        """The ``k`` best documents, a document scoring as its best chunk."""
        view = self._current
        n_chunks = len(view.store)
        want = min(max(k * 2, k + 10), n_chunks, MAX_K)
        while True:
            ids, scores, stages = self._retrieve(view, query, want, mode, params, None, filters)
            best: dict[str, float] = {}
            for doc_id, score in zip(view.store.doc_ids(ids), scores.tolist()):
                if doc_id not in best:  # chunks come best first, so the first is the doc's best
                    best[doc_id] = score
            # Enough distinct documents, or nothing more to fetch: the ranking is exact.
            if len(best) >= k or len(ids) < want or want >= min(n_chunks, MAX_K):
                return list(best.items())[:k], stages
            want = min(want * 4, n_chunks, MAX_K)


class _Version(NamedTuple):
    """What one search reads from the version an engine has open."""

    planner: Planner
    store: ChunkStore
    live: np.ndarray | None  # sorted live chunk ids (None: none deleted)
    metadata: MetadataIndex
    excluded: np.ndarray | None  # few deleted ids, dropped by over-asking (None: use ``live``)


def _digest(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode("utf-8")).hexdigest()


def _check_query(query: str, k: int) -> None:
    if not isinstance(query, str):
        raise QueryError(f"query must be a string, got {type(query).__name__}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        raise QueryError(f"k must be an integer between 1 and {MAX_K}, got {k!r}")


class _UniqueDocuments:
    """Passes documents through, counting them, recording their metadata and content hashes,
    and rejecting a repeated id."""

    def __init__(self, docs: Iterable[Document], metadata: MetadataWriter, hashes: BaseDocumentsWriter) -> None:
        self._docs = docs
        self._metadata = metadata
        self._hashes = hashes
        self._seen: set[str] = set()
        self.count = 0

    def __iter__(self) -> Iterator[Document]:
        for doc in self._docs:
            if doc.id in self._seen:
                raise CorpusError(f"duplicate document id {doc.id!r}")
            self._seen.add(doc.id)
            self.count += 1
            if doc.metadata:
                self._metadata.add(doc.id, doc.metadata)
            self._hashes.add(doc.id, document_hash(doc))
            yield doc


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


def _describe(corpus: Corpus) -> str:
    describe = getattr(corpus, "describe", None)  # e.g. a PostgreSQL query, password left out
    if callable(describe):
        return str(describe())
    return str(corpus) if isinstance(corpus, (str, Path)) else "<documents>"


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


def _progress_iter(items: list[str], enabled: bool, desc: str) -> Iterable[str]:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, unit="chunk", desc=desc, leave=False)


def _ticking(docs: Iterable[Document], bar) -> Iterator[Document]:
    for doc in docs:
        bar.update(1)
        yield doc
