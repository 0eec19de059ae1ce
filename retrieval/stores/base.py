"""The chunk store interface: what the engine needs from wherever chunk text lives.

Chunk ids are integers ``0 .. len(store) - 1`` (the order chunks were written). Every
implementation passes ``tests/stores/test_store_contract.py``.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np
import pyarrow as pa

from ..types import Chunk


@runtime_checkable
class ChunkStore(Protocol):
    """Read access to chunks by integer id."""

    def __len__(self) -> int:
        """Number of chunks stored."""
        ...

    def get(self, ids: Sequence[int] | np.ndarray) -> list[Chunk]:
        """Chunks for ``ids`` in the order asked (repeats allowed); ``NotFoundError`` for an
        unknown id; ``[]`` for no ids."""
        ...

    def doc_ids(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """Document ids of the given chunks, in the order asked, without their text."""
        ...

    def all_doc_ids(self) -> pa.Array:
        """Document id of every chunk, indexed by chunk id."""
        ...

    def close(self) -> None:
        """Release what the store holds (a connection pool; nothing for a file); idempotent.
        Reading a closed store that held connections fails."""
        ...


@runtime_checkable
class ChunkWriter(Protocol):
    """Writes a new bundle's chunks: ``ParquetChunkWriter`` and ``PostgresChunkWriter``."""

    count: int

    def add(self, chunk: Chunk) -> int:
        """Store ``chunk``; return its integer id (0, 1, 2, ... in the order added)."""
        ...

    def close(self) -> int:
        """Finish writing; return how many chunks were written."""
        ...

    def abort(self) -> None:
        """Discard what was written (best effort)."""
        ...
