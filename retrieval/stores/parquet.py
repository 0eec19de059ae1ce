"""The default chunk store: one Parquet file, row position == chunk id.

Written in row groups as chunks stream in (constant memory). Read memory-mapped; a column is
decoded into memory whole on its first use (``ParquetChunkStore``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import BundleError, NotFoundError
from ..types import Chunk

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("doc_id", pa.string()),
        ("ordinal", pa.int32()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("n_tokens", pa.int32()),
    ]
)


class ParquetChunkWriter:
    """Appends chunks; ``close()`` returns how many were written."""

    def __init__(self, path: Path, batch_rows: int = 4096) -> None:
        self.path = Path(path)
        self._writer = pq.ParquetWriter(self.path, SCHEMA, compression="zstd")
        self._rows: list[Chunk] = []
        self._batch_rows = batch_rows
        self.count = 0

    def add(self, chunk: Chunk) -> int:
        """Store ``chunk``; return its integer id (its row)."""
        self._rows.append(chunk)
        if len(self._rows) >= self._batch_rows:
            self._flush()
        self.count += 1
        return self.count - 1

    def _flush(self) -> None:
        if not self._rows:
            return
        columns = {name: [getattr(c, name) for c in self._rows] for name in SCHEMA.names}
        self._writer.write_table(pa.table(columns, schema=SCHEMA))
        self._rows.clear()

    def close(self) -> int:
        self._flush()
        self._writer.close()
        return self.count

    def abort(self) -> None:
        """Discard the file written so far (best effort)."""
        self._rows.clear()
        try:
            self._writer.close()
        except (OSError, pa.ArrowException):
            pass
        self.path.unlink(missing_ok=True)


class ParquetChunkStore:
    """Read access to the chunks of a bundle by integer id.

    Opening reads only the file's footer: the columns are decoded on first use (the document ids
    alone for ``doc_ids``), so a command that opens a bundle without reading chunks, such as
    ``retrieval index`` returning the engine it built, never holds the corpus text in memory.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            parquet = pq.ParquetFile(self.path, memory_map=True)
            schema, self._rows = parquet.schema_arrow, parquet.metadata.num_rows
        except (OSError, pa.ArrowException) as exc:
            raise BundleError(f"cannot read chunk store {path}: {exc}") from None
        if not schema.equals(SCHEMA):
            raise BundleError(f"chunk store {path} has an unexpected schema")
        self._lock = threading.Lock()
        self._table: pa.Table | None = None
        self._doc_ids: pa.Array | None = None

    def __len__(self) -> int:
        return self._rows

    def get(self, ids: Sequence[int] | np.ndarray) -> list[Chunk]:
        """Chunks for ``ids`` in the given order."""
        rows = self._loaded_table().take(pa.array(self._checked(ids))).to_pylist()
        return [Chunk(**row) for row in rows]

    def doc_ids(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """Document ids of the given chunks, without reading their text."""
        return self.all_doc_ids().take(pa.array(self._checked(ids))).to_pylist()

    def _checked(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            bad = int(ids[(ids < 0) | (ids >= len(self))][0])
            raise NotFoundError(f"no chunk with id {bad} (store holds {len(self)})")
        return ids

    def all_doc_ids(self) -> pa.Array:
        if self._doc_ids is None:
            with self._lock:
                if self._doc_ids is None:
                    source = self._table if self._table is not None else self._read(["doc_id"])
                    self._doc_ids = source.column("doc_id").combine_chunks()
        return self._doc_ids

    def _loaded_table(self) -> pa.Table:
        if self._table is None:
            with self._lock:
                if self._table is None:
                    # One contiguous chunk per column: take() on many row groups costs ~7x more per call.
                    self._table = self._read(None).combine_chunks()
        return self._table

    def _read(self, columns: list[str] | None) -> pa.Table:
        try:
            return pq.read_table(self.path, columns=columns, memory_map=True)
        except (OSError, pa.ArrowException) as exc:
            raise BundleError(f"cannot read chunk store {self.path}: {exc}") from None

    def close(self) -> None:
        """Nothing to release: the file is memory-mapped and unmapped with the table."""
