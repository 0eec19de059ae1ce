"""Building a bundle from documents: one ``BundleBuild`` per bundle written.

A build reads the corpus once: each document is recorded (metadata, content hash), chunked, and
each chunk fans out to the chunk store, BM25, its vector and its sentences (``BaseWriter``). A
single bundle is one ``BundleBuild`` (``Engine.build``); a sharded collection is one per shard
fed from the same pass (``retrieval.collection.build``), so both write byte-for-byte the same
kind of bundle.

The bundle appears at its path only when complete (``bundle.writing``): a failure anywhere
removes the temporary directory and aborts the chunk rows written to PostgreSQL.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import ConfigError, CorpusError
from ..types import Chunk, Document
from .layout import DOCUMENTS_FILE, METADATA_FILE


class _Abandoned(Exception):
    """Raised into a build's context to discard it (see ``BundleBuild.abandon``)."""


class BundleBuild:
    """One bundle being written (a context manager): ``add_document``, ``add_chunk``, ``finish``.

    ``check_terms``: refuse a bundle whose analyzer found no term at all (a shard of a collection
    may legitimately have none; the collection checks the whole corpus instead).
    """

    def __init__(
        self,
        path: str | Path,
        config: Any,
        *,
        analyzer: Any,
        counter: Any,
        embedder: Any = None,
        overwrite: bool = False,
        store: str | None = None,
        store_schema: str = "retrieval",
    ) -> None:
        self.path = Path(path)
        self.config = config
        self.analyzer = analyzer
        self.counter = counter
        self.embedder = embedder
        self.overwrite = overwrite
        self.store = store
        self.store_schema = store_schema
        self.documents = 0
        self.stages: dict[str, float] = {}
        self._stack = contextlib.ExitStack()
        self._writer: Any = None
        self._base: Any = None

    def __enter__(self) -> "BundleBuild":
        from ..search.filters import MetadataWriter
        from ..stores import make_chunk_writer
        from . import directory
        from .documents import BaseDocumentsWriter
        from .writer import BaseWriter

        self.tmp = self._stack.enter_context(directory.writing(self.path, overwrite=self.overwrite))
        try:
            self._writer, self.store_section = make_chunk_writer(
                self.tmp, self.store, schema=self.store_schema, bundle=uuid.uuid4().hex
            )
            self._base = BaseWriter(
                self.tmp,
                self.config,
                analyzer=self.analyzer,
                bm25_config=self.config.bm25,
                chunk_writer=self._writer,
                store_section=self.store_section,
                embedder=self.embedder,
                sentences=self.embedder is not None and self.config.sentences,
            )
            self._metadata = MetadataWriter(self.tmp / METADATA_FILE)
            self._hashes = BaseDocumentsWriter(self.tmp / DOCUMENTS_FILE)
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc_type is not None:
            if self._base is not None:  # its open vector and sentence files
                with contextlib.suppress(Exception):
                    self._base.abort()
            if self._writer is not None:  # chunk rows written to PostgreSQL under the new, unreferenced key
                with contextlib.suppress(Exception):
                    self._writer.abort()
        return bool(self._stack.__exit__(exc_type, exc, tb))

    def abandon(self) -> None:
        """Discard this bundle unwritten (a shard the routing sent no document to)."""
        try:
            raise _Abandoned
        except _Abandoned as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)

    @property
    def chunks(self) -> int:
        return int(self._base.count)

    @property
    def terms(self) -> int:
        return int(self._base.terms)

    def add_document(self, doc: Document) -> None:
        from ..ingest.content_hash import document_hash

        self.documents += 1
        if doc.metadata:
            self._metadata.add(doc.id, doc.metadata)
        self._hashes.add(doc.id, document_hash(doc))

    def add_chunk(self, chunk: Chunk, vector: Any = None, sentences: tuple[Any, Any] | None = None) -> None:
        """The next chunk; ``vector``/``sentences``: its embedding and sentence rows when computed
        elsewhere (a distributed build's embedding actors), else embedded here."""
        self._base.add(chunk, vector, sentences)

    def finish(self, info: dict[str, Any], stages: dict[str, float], started: float) -> dict[str, Any]:
        """Write the remaining files and the manifest (``info``: its source sections). Returns the
        manifest's sections as written."""
        from . import directory

        metadata_section = self._metadata.close()
        self._hashes.close()
        written = self._base.finish()
        stages = {**stages, **written.stages}
        sections = written.sections
        del written  # the BM25 index: its statistics are in the sections
        manifest_info = {
            "config": self.config.to_dict(),
            "analyzer": self.analyzer.describe(),
            "tokenizer": {"model_id": self.counter.model_id, "sha256": self.counter.fingerprint},
            "bm25": sections["bm25"],
            "counts": {"documents": self.documents, **sections["counts"]},
            "dense": sections["dense"],
            "store": sections["store"],
            "metadata": metadata_section,
            "sentences": sections["sentences"],
            **info,
            "build_seconds": round(time.perf_counter() - started, 3),
            "build_stages_s": {k: round(v, 3) for k, v in stages.items()},
        }
        directory.write_manifest(self.tmp, manifest_info)
        return manifest_info

    @property
    def base_stages(self) -> dict[str, float]:
        return self._base.stages


def check_indexed(chunks: int, terms: int, what: str, analyzer_config: Any) -> None:
    """A build must index something, and its analyzer must find terms in it."""
    if chunks == 0:
        raise CorpusError(f"corpus {what} has no documents with text to index")
    if terms == 0:  # an empty keyword index would answer every query with nothing
        raise ConfigError(
            f"the analyzer found no terms in any of the {chunks} chunks of {what}: "
            f"check analyzer.token_pattern ({analyzer_config.token_pattern!r}), analyzer.stopwords "
            "and analyzer.stemmer"
        )


class UniqueDocuments:
    """Passes documents through, counting them and rejecting a repeated id."""

    def __init__(self, docs: Iterable[Document]) -> None:
        self._docs = docs
        self._seen: set[str] = set()
        self.count = 0

    def __iter__(self) -> Iterator[Document]:
        for doc in self._docs:
            if doc.id in self._seen:
                raise CorpusError(f"duplicate document id {doc.id!r}")
            self._seen.add(doc.id)
            self.count += 1
            yield doc


def index_documents(
    docs: Iterable[Document], chunker: Any, add_document: Any, add_chunk: Any
) -> float:
    """Feed every document to ``add_document(doc)`` and every chunk of it, in order, to
    ``add_chunk(chunk)``; returns the seconds the pass took.

    Chunking (tokenizer-bound, GIL released) overlaps with analysis, embedding and writing.
    """
    from ..ingest.prefetch import prefetch

    def recorded() -> Iterator[Document]:
        for doc in docs:
            add_document(doc)
            yield doc

    t0 = time.perf_counter()
    for chunk in prefetch(chunker.chunk_many(recorded())):
        add_chunk(chunk)
    return time.perf_counter() - t0
