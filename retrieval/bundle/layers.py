"""Read-side views that put an update's delta after the base: chunk ids ``0 .. n_base-1`` are the
base's rows, ``n_base ..`` the delta's. Nothing is copied: each view dispatches ids to the side
that holds them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import BundleError, NotFoundError
from ..types import Chunk

if TYPE_CHECKING:
    from ..stores import ChunkStore


class StackedRows:
    """Rows of two 2-D arrays (often memory maps) as one read-only array: ``rows[ids]``."""

    def __init__(self, first: np.ndarray, second: np.ndarray) -> None:
        if first.ndim != 2 or second.ndim != 2 or first.shape[1] != second.shape[1] or first.dtype != second.dtype:
            raise BundleError(
                f"cannot stack arrays {first.dtype}{first.shape} and {second.dtype}{second.shape}: shapes or types differ"
            )
        self.first = first
        self.second = second
        self.split = len(first)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.split + len(self.second), int(self.first.shape[1]))

    @property
    def dtype(self) -> np.dtype:
        return self.first.dtype

    @property
    def ndim(self) -> int:
        return 2

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            i = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= i < len(self):
                raise IndexError(f"row {key} out of range for {len(self)} rows")
            return np.asarray(self.first[i] if i < self.split else self.second[i - self.split])
        if isinstance(key, slice):
            return self[np.arange(len(self))[key]]
        ids = np.asarray(key, dtype=np.int64)
        if ids.ndim != 1:
            raise IndexError("StackedRows takes an int, a slice, or a 1-D array of row ids")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise IndexError(f"row ids out of range for {len(self)} rows")
        out = np.empty((len(ids), self.shape[1]), dtype=self.dtype)
        low = ids < self.split
        out[low] = self.first[ids[low]]
        out[~low] = self.second[ids[~low] - self.split]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = np.concatenate([np.asarray(self.first), np.asarray(self.second)])
        return whole if dtype is None else whole.astype(dtype, copy=False)


class DispatchingStore:
    """Reads of a ``ChunkStore`` made of others: each id goes to the store holding it (``_dispatch``)."""

    def get(self, ids: Sequence[int] | np.ndarray) -> list[Chunk]:
        return self._dispatch(ids, "get")

    def doc_ids(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        return self._dispatch(ids, "doc_ids")

    def _dispatch(self, ids: Sequence[int] | np.ndarray, method: str) -> list[Any]:
        raise NotImplementedError


class LayeredChunkStore(DispatchingStore):
    """A base chunk store followed by a delta store, read as one (the ``ChunkStore`` protocol)."""

    def __init__(self, base: ChunkStore, delta: ChunkStore) -> None:
        self.base = base
        self.delta = delta
        self.split = len(base)
        self._doc_ids: Any = None

    def __len__(self) -> int:
        return self.split + len(self.delta)

    def close(self) -> None:
        for side in (self.base, self.delta):
            side.close()

    def all_doc_ids(self) -> Any:
        import pyarrow as pa

        if self._doc_ids is None:
            self._doc_ids = pa.concat_arrays([self.base.all_doc_ids(), self.delta.all_doc_ids()])
        return self._doc_ids

    def _dispatch(self, ids: Sequence[int] | np.ndarray, method: str) -> list[Any]:
        wanted = np.asarray(ids, dtype=np.int64).ravel()
        if wanted.size and (wanted.min() < 0 or wanted.max() >= len(self)):
            bad = int(wanted[(wanted < 0) | (wanted >= len(self))][0])
            raise NotFoundError(f"no chunk with id {bad} (store holds {len(self)})")
        low = wanted < self.split
        if low.all():
            return getattr(self.base, method)(wanted)
        if not low.any():
            return getattr(self.delta, method)(wanted - self.split)
        sides = ((low, self.base, 0), (~low, self.delta, self.split))
        return in_request_order(
            len(wanted), [(np.flatnonzero(mask), getattr(store, method)(wanted[mask] - shift)) for mask, store, shift in sides]
        )


def in_request_order(n: int, answers: Sequence[tuple[np.ndarray, Sequence[Any]]]) -> list[Any]:
    """Answers of several stores, each for some positions of one request, as one list in request order."""
    out: list[Any] = [None] * n
    for positions, items in answers:
        for pos, item in zip(positions.tolist(), items):
            out[pos] = item
    return out


def stack_sentence_indexes(base: Any, delta: Any) -> Any:
    """A ``SentenceIndex`` over the base's chunks followed by the delta's (vectors not copied)."""
    from ..context.sentence_index import SentenceIndex

    offsets = np.concatenate([np.asarray(base.offsets[:-1]), np.asarray(delta.offsets) + int(base.offsets[-1])])
    spans = np.concatenate([np.asarray(base.spans), np.asarray(delta.spans)])
    return SentenceIndex(offsets.astype(np.int64), spans, StackedRows(base.vectors, delta.vectors))  # type: ignore[arg-type]
