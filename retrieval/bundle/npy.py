"""Writing a ``.npy`` file a block of rows at a time (vectors and sentence vectors of a bundle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class NpyAppender:
    """One ``.npy`` file written a block of rows at a time, byte for byte what ``np.save`` writes
    for the whole array, without ever holding it (chunk and sentence vectors during a build).

    The header is written first for zero rows and rewritten in place for the final count by
    ``close``: numpy pads every header with room for a 21-digit first axis, so its length holds.
    """

    def __init__(self, path: Path, dtype: Any, row_shape: tuple[int, ...]) -> None:
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.row_shape = tuple(int(n) for n in row_shape)
        self.rows = 0
        self._file: Any = open(self.path, "wb")
        self._header_bytes = self._write_header()

    def append(self, block: Any) -> None:
        """Append rows (``[n, *row_shape]``, converted to the file's dtype)."""
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path.name}: rows of shape {block.shape[1:]}, expected {self.row_shape}")
        if block.size:
            self._file.write(block.data.cast("B"))
        self.rows += len(block)

    def extend(self, source: Any, window: int) -> None:
        """Append every row of ``source`` ``window`` rows at a time (a memory-mapped source is
        never read whole)."""
        for start in range(0, len(source), window):
            self.append(source[start : start + window])

    def close(self) -> int:
        """Write the final header; returns the number of rows."""
        if self._file.closed:
            return self.rows
        try:
            if self._write_header() != self._header_bytes:  # numpy changed its header padding: never silently corrupt
                raise RuntimeError(f"{self.path}: the .npy header changed length when rewritten")
        finally:
            self._file.close()
        return self.rows

    def abort(self) -> None:
        """Close and delete the partial file (best effort)."""
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)

    def _write_header(self) -> int:
        self._file.flush()
        self._file.seek(0)
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (self.rows, *self.row_shape)}
        np.lib.format.write_array_header_1_0(self._file, header)
        written = self._file.tell()
        self._file.seek(0, 2)  # back to the end, where rows go
        return written
