"""The default chunk store: one Parquet file, row position == chunk id.

Written in row groups as chunks stream in (constant memory); read memory-mapped, fetching only
the rows a query needs.
"""

from __future__ import annotations

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
    """Read access to the chunks of a bundle by integer id."""

    def __init__(self, path: Path) -> None:
        try:
            # One contiguous chunk per column: take() on many row groups costs ~7x more per call.
            self._table = pq.read_table(path, memory_map=True).combine_chunks()
        except (OSError, pa.ArrowException) as exc:
            raise BundleError(f"cannot read chunk store {path}: {exc}") from None
        if not self._table.schema.equals(SCHEMA):
            raise BundleError(f"chunk store {path} has an unexpected schema")
        self._doc_ids = self._table.column("doc_id").combine_chunks()

    def __len__(self) -> int:
        return self._table.num_rows

    def get(self, ids: Sequence[int] | np.ndarray) -> list[Chunk]:
        """Chunks for ``ids`` in the given order."""
        rows = self._table.take(pa.array(self._checked(ids))).to_pylist()
        return [Chunk(**row) for row in rows]

    def doc_ids(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """Document ids of the given chunks, without reading their text."""
        return self._doc_ids.take(pa.array(self._checked(ids))).to_pylist()

    def _checked(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            bad = int(ids[(ids < 0) | (ids >= len(self))][0])
            raise NotFoundError(f"no chunk with id {bad} (store holds {len(self)})")
        return ids

    def all_doc_ids(self) -> pa.Array:
        return self._doc_ids

    def close(self) -> None:
        """Nothing to release: the file is memory-mapped and unmapped with the table."""
