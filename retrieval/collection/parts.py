"""Read-side views over the shards in collection chunk ids: chunk store, vectors, sentences.

Collection chunk id ``g`` lives in shard ``owner[g]`` as that shard's chunk ``local[g]``; each
view dispatches a request's ids to the shards that hold them and puts the answers back in the
request's order. Nothing is copied.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..bundle.layers import DispatchingStore, in_request_order
from ..errors import NotFoundError


class ChunkMap:
    """Collection chunk id -> (shard, local id), from each shard's sorted collection ids."""

    def __init__(self, shard_ids: Sequence[np.ndarray], total: int) -> None:
        self.total = total
        self.owner = np.full(total, -1, dtype=np.int32)
        self.local = np.zeros(total, dtype=np.int64)
        for s, ids in enumerate(shard_ids):
            self.owner[ids] = s
            self.local[ids] = np.arange(len(ids), dtype=np.int64)

    def split(self, ids: Any) -> tuple[np.ndarray, list[tuple[int, np.ndarray, np.ndarray]]]:
        """``ids`` as int64, and per shard holding some: (shard, positions in ``ids``, local ids)."""
        wanted = np.asarray(ids, dtype=np.int64).ravel()
        if wanted.size and (wanted.min() < 0 or wanted.max() >= self.total):
            bad = int(wanted[(wanted < 0) | (wanted >= self.total)][0])
            raise NotFoundError(f"no chunk with id {bad} (the collection holds {self.total})")
        owners = self.owner[wanted]
        groups = []
        for s in np.unique(owners).tolist():
            positions = np.flatnonzero(owners == s)
            groups.append((int(s), positions, self.local[wanted[positions]]))
        return wanted, groups


class ShardedChunkStore(DispatchingStore):
    """The ``ChunkStore`` protocol over the shards' stores, in collection chunk ids."""

    def __init__(self, stores: Sequence[Any], chunk_map: ChunkMap, shard_ids: Sequence[np.ndarray]) -> None:
        self.stores = list(stores)
        self.map = chunk_map
        self._shard_ids = shard_ids
        self._doc_ids: Any = None

    def __len__(self) -> int:
        return self.map.total

    def close(self) -> None:
        for store in self.stores:
            store.close()

    def all_doc_ids(self) -> Any:
        """Each chunk's document id, by collection chunk id (pyarrow string array)."""
        import pyarrow as pa

        if self._doc_ids is None:
            columns = [s.all_doc_ids() for s in self.stores]
            stacked = pa.concat_arrays(columns) if columns else pa.array([], pa.string())
            # Stacked rows are shard-major; put them in collection id order.
            order = np.argsort(np.concatenate([ids for ids in self._shard_ids if len(ids)] or [np.empty(0, np.int64)]),
                               kind="stable")
            self._doc_ids = stacked.take(pa.array(order))
        return self._doc_ids

    def _dispatch(self, ids: Any, method: str) -> list[Any]:
        wanted, groups = self.map.split(ids)
        if len(groups) == 1:
            s, _, local = groups[0]
            return getattr(self.stores[s], method)(local)
        return in_request_order(len(wanted), [(positions, getattr(self.stores[s], method)(local)) for s, positions, local in groups])


class ShardedRows:
    """Rows of the shards' 2-D arrays (chunk vectors) as one read-only array in collection ids."""

    def __init__(self, parts: Sequence[np.ndarray | None], chunk_map: ChunkMap, dim: int, dtype: Any) -> None:
        self.parts = list(parts)
        self.map = chunk_map
        self.dim = dim
        self.dtype = np.dtype(dtype)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.map.total, self.dim)

    @property
    def ndim(self) -> int:
        return 2

    def __len__(self) -> int:
        return self.map.total

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self[np.array([int(key)])][0]
        if isinstance(key, slice):
            return self[np.arange(len(self))[key]]
        try:
            wanted, groups = self.map.split(key)
        except NotFoundError as exc:
            raise IndexError(str(exc)) from None
        out = np.empty((len(wanted), self.dim), dtype=self.dtype)
        for s, positions, local in groups:
            out[positions] = self.parts[s][local]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self[np.arange(len(self))]
        return whole if dtype is None else whole.astype(dtype, copy=False)


class ConcatRows:
    """Rows of several arrays one after another (shard-major sentence rows), read-only."""

    def __init__(self, parts: Sequence[np.ndarray]) -> None:
        self.parts = list(parts)
        self.starts = np.concatenate([[0], np.cumsum([len(p) for p in self.parts])]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, rows: Any) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        part = np.searchsorted(self.starts, rows, side="right") - 1
        first = self.parts[0]
        out = np.empty((len(rows), *first.shape[1:]), dtype=first.dtype)
        for p in np.unique(part).tolist():
            mask = part == p
            out[mask] = self.parts[p][rows[mask] - self.starts[p]]
        return out


class ShardedSentences:
    """The compressor's sentence index over the shards: ``rows(chunks)``, ``spans``, ``vectors``."""

    def __init__(self, indexes: Sequence[Any], chunk_map: ChunkMap) -> None:
        self.indexes = list(indexes)
        self.map = chunk_map
        self.spans = ConcatRows([i.spans for i in self.indexes])
        self.vectors = ConcatRows([i.vectors for i in self.indexes])
        self._row_base = np.concatenate([[0], np.cumsum([len(i.spans) for i in self.indexes])]).astype(np.int64)

    def rows(self, chunks: Any) -> tuple[np.ndarray, np.ndarray]:
        """Sentence rows of ``chunks`` (collection ids, in the given order) and each one's position."""
        wanted, groups = self.map.split(list(chunks) if not isinstance(chunks, np.ndarray) else chunks)
        starts = np.zeros(len(wanted), dtype=np.int64)
        counts = np.zeros(len(wanted), dtype=np.int64)
        for s, positions, local in groups:
            offsets = self.indexes[s].offsets
            starts[positions] = self._row_base[s] + np.asarray(offsets[local])
            counts[positions] = np.asarray(offsets[local + 1]) - np.asarray(offsets[local])
        owner = np.repeat(np.arange(len(wanted), dtype=np.int64), counts)
        first = np.repeat(np.cumsum(counts) - counts, counts)
        rows = np.repeat(starts, counts) + (np.arange(int(counts.sum()), dtype=np.int64) - first)
        return rows, owner
