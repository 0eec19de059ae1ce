"""Which chunks each document owns, and its content hash: the table updates decide from.

A build writes ``documents.parquet`` (doc_id, content_hash) beside its chunks; each chunk's
document is in the chunk store, and a document's chunks are consecutive ids. A delta records the
latest state of every document it touched (see ``retrieval.bundle.delta``). The effective table of
a version is the base's with the delta's rows on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .layout import DOCUMENTS_FILE
from ..errors import BundleError

NO_HASH = ""  # bundles built before hashes were stored: every upsert counts as a change


@dataclass(frozen=True)
class DocState:
    content_hash: str
    first_chunk: int  # -1 when the document has no chunks (no text) or is deleted
    n_chunks: int
    deleted: bool = False

    def chunk_ids(self) -> np.ndarray:
        if self.deleted or self.n_chunks == 0:
            return np.empty(0, dtype=np.int64)
        return np.arange(self.first_chunk, self.first_chunk + self.n_chunks, dtype=np.int64)


class BaseDocumentsWriter:
    """Writes ``documents.parquet`` (doc_id, content_hash) as documents arrive, a row group of
    ``batch_rows`` at a time (a build holds no list of every document)."""

    def __init__(self, path: Path, batch_rows: int = 65_536) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.path = path
        self._schema = pa.schema([("doc_id", pa.string()), ("content_hash", pa.string())])
        self._writer = pq.ParquetWriter(path, self._schema, compression="zstd")
        self._batch_rows = batch_rows
        self._ids: list[str] = []
        self._hashes: list[str] = []
        self.count = 0

    def add(self, doc_id: str, content_hash: str) -> None:
        self._ids.append(doc_id)
        self._hashes.append(content_hash)
        self.count += 1
        if len(self._ids) >= self._batch_rows:
            self._flush()

    def close(self) -> None:
        if self._ids or self.count == 0:  # an empty table still gets its (empty) row group
            self._flush()
        self._writer.close()

    def _flush(self) -> None:
        import pyarrow as pa

        self._writer.write_table(pa.table([self._ids, self._hashes], schema=self._schema))
        self._ids, self._hashes = [], []


def base_documents(base: Path, chunk_doc_ids: Any) -> dict[str, DocState]:
    """The base's documents: hashes from ``documents.parquet`` (when the build wrote one) and
    chunk ranges from the store's doc id per chunk (``chunk_doc_ids``, pyarrow, row == chunk id)."""
    import pyarrow.compute as pc

    doc_ids = chunk_doc_ids
    states: dict[str, DocState] = {}
    n = len(doc_ids)
    if n:
        values = doc_ids.to_numpy(zero_copy_only=False)
        # Run starts: where the doc id differs from the previous chunk's.
        change = np.ones(n, dtype=bool)
        change[1:] = pc.not_equal(doc_ids[1:], doc_ids[:-1]).to_numpy(zero_copy_only=False)
        starts = np.flatnonzero(change)
        lengths = np.diff(np.append(starts, n))
        for start, length in zip(starts.tolist(), lengths.tolist()):
            states[str(values[start])] = DocState(NO_HASH, start, length)
    path = base / DOCUMENTS_FILE
    if path.is_file():
        for doc_id, content_hash in _read_pairs(path, ("doc_id", "content_hash")):
            found = states.get(doc_id)
            states[doc_id] = DocState(content_hash, found.first_chunk if found else -1, found.n_chunks if found else 0)
    return states


def write_delta_documents(path: Path, states: dict[str, DocState]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = list(states)
    table = pa.table(
        {
            "doc_id": pa.array(ids, pa.string()),
            "content_hash": pa.array([states[i].content_hash for i in ids], pa.string()),
            "first_chunk": pa.array([states[i].first_chunk for i in ids], pa.int64()),
            "n_chunks": pa.array([states[i].n_chunks for i in ids], pa.int32()),
            "deleted": pa.array([states[i].deleted for i in ids], pa.bool_()),
        }
    )
    pq.write_table(table, path, compression="zstd")


def read_delta_documents(path: Path) -> dict[str, DocState]:
    rows = _read_pairs(path, ("doc_id", "content_hash", "first_chunk", "n_chunks", "deleted"))
    return {r[0]: DocState(r[1], int(r[2]), int(r[3]), bool(r[4])) for r in rows}


def _read_pairs(path: Path, columns: tuple[str, ...]) -> Iterable[tuple[Any, ...]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=list(columns))
    except (OSError, pa.ArrowException, KeyError) as exc:
        raise BundleError(f"cannot read {path}: {exc}") from None
    return zip(*(table.column(c).to_pylist() for c in columns))
