"""Metadata filters: which chunks a search may return, decided before any scoring.

A filter is ``{"key": ["v1", "v2"], "other": ["x"]}``: AND over keys, IN over each key's values
(equality is a one-value IN). Values compare as strings: a string metadata value as itself, a
number or boolean as its JSON text (``3``, ``2.5``, ``true``). So ``year=2020`` matches the JSONL
value ``2020`` and the string ``"2020"``, but not ``2020.0`` (whose JSON text is ``2020.0``).

An unknown key or a value no document has matches nothing (no hits, not an error). A bundle
built before metadata was stored (no ``metadata`` section in its manifest) cannot be filtered:
asking raises ``QueryError`` saying to rebuild it.

Storage (``metadata.parquet``): one row per (document, key) pair, columns ``doc_id``, ``key``,
``value`` (the string form above). Evaluating a filter is a few vectorized Arrow passes: the
matching documents per key, intersected, then the chunks whose document is among them.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ..bundle.layout import METADATA_FILE
from ..errors import BundleError, QueryError

CACHE_SIZE = 256  # distinct filters whose allowed chunk ids an opened engine remembers

# Canonical form: sorted keys, each with its sorted distinct values. Hashable: an LRU key.
FilterSpec = tuple[tuple[str, tuple[str, ...]], ...]


def value_text(value: Any) -> str:
    """The string a metadata value is compared as: strings as-is, other scalars as JSON text."""
    if isinstance(value, str):
        return value
    return json.dumps(value)  # true, 3, 2.5 (NaN and Infinity as Python's JSON writes them)


def normalize_filters(filters: Any) -> FilterSpec:
    """A canonical ``FilterSpec`` from a mapping ``{key: values}`` or ``(key, values)`` pairs.

    ``values`` may be one scalar (equality) or a list of them; repeated keys merge their values
    with AND semantics preserved per key (``a=1`` twice is ``a=1``; ``a=1`` and ``a=2`` given
    as separate entries is a=1 AND a=2, which matches nothing). ``QueryError`` for an empty
    key, a key without values, or a value that is not a scalar.
    """
    if filters is None:
        return ()
    pairs: Iterable[Any] = filters.items() if isinstance(filters, Mapping) else filters
    merged: dict[str, set[str] | None] = {}
    for pair in pairs:
        key, values = _pair(pair)
        if not isinstance(key, str) or not key:
            raise QueryError(f"a filter key must be a non-empty string, got {key!r}")
        if isinstance(values, (str, int, float, bool)):
            values = [values]
        if not isinstance(values, (list, tuple, set, frozenset)) or not values:
            raise QueryError(f"filter {key!r} needs at least one value")
        texts = set()
        for value in values:
            if not isinstance(value, (str, int, float, bool)):
                raise QueryError(f"filter {key!r}: values must be strings, numbers or booleans, got {value!r}")
            texts.add(value_text(value))
        # The same key twice: both must hold, i.e. the value must be in both sets.
        merged[key] = texts if key not in merged else (merged[key] or set()) & texts
    return tuple((key, tuple(sorted(merged[key] or ()))) for key in sorted(merged))


def _pair(pair: Any) -> tuple[Any, Any]:
    if hasattr(pair, "key") and hasattr(pair, "values"):  # a protobuf Filter
        return pair.key, list(pair.values)
    try:
        key, values = pair
    except (TypeError, ValueError):
        raise QueryError(f"a filter must be a (key, values) pair, got {pair!r}") from None
    return key, values


def parse_filter_arg(text: str) -> tuple[str, tuple[str, ...]]:
    """``key=value`` or ``key=v1,v2`` (the CLI's ``--filter``) as ``(key, values)``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise QueryError(f"expected KEY=VALUE or KEY=V1,V2, got {text!r}")
    values = tuple(v.strip() for v in raw.split(","))
    if not raw.strip() or any(not v for v in values):
        raise QueryError(f"every value must be non-empty (KEY=V1,V2), got {text!r}")
    return key, values


class MetadataWriter:
    """Collects (doc_id, key, value) rows while a bundle is built; ``close`` writes the file."""

    def __init__(self, path: Path, batch_rows: int = 65_536) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._schema = pa.schema([("doc_id", pa.string()), ("key", pa.string()), ("value", pa.string())])
        self._writer = pq.ParquetWriter(path, self._schema, compression="zstd")
        self._batch_rows = batch_rows
        self._rows: tuple[list[str], list[str], list[str]] = ([], [], [])
        self.keys: dict[str, int] = {}  # key -> number of documents having it
        self.rows = 0

    def add(self, doc_id: str, metadata: Mapping[str, Any]) -> None:
        docs, keys, values = self._rows
        for key, value in metadata.items():
            docs.append(doc_id)
            keys.append(str(key))
            values.append(value_text(value))
            self.keys[str(key)] = self.keys.get(str(key), 0) + 1
        if len(docs) >= self._batch_rows:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        docs, keys, values = self._rows
        if docs:
            self.rows += len(docs)
            self._writer.write_table(pa.table([docs, keys, values], schema=self._schema))
            for column in self._rows:
                column.clear()

    def close(self) -> dict[str, Any]:
        """The manifest section: the file, its row count, and each key's document count."""
        self._flush()
        self._writer.close()
        return {"file": METADATA_FILE, "rows": self.rows, "keys": dict(sorted(self.keys.items()))}


class MetadataIndex:
    """Allowed chunk ids per filter for one opened bundle, cached in an LRU (a pure function)."""

    def __init__(
        self,
        path: Path | Callable[[], Any] | None,
        chunk_doc_ids: Callable[[], Any],
        cache_size: int = CACHE_SIZE,
        live: np.ndarray | None = None,
    ) -> None:
        """``path``: the bundle's metadata file, a function returning the metadata table (an
        updated bundle's base and delta rows combined), or None for a bundle built without one.
        ``chunk_doc_ids``: returns the chunk store's doc_id per chunk (a pyarrow Array, row ==
        chunk id), e.g. ``store.all_doc_ids``; called once, at the first filter.
        ``live``: sorted ids of the live chunks of an updated bundle (None: all are live); the
        allowed ids never include a deleted chunk."""
        self._path = path
        self._live = live
        self._doc_ids_of = chunk_doc_ids
        self._chunk_doc_ids: Any = None
        self._table: Any = None
        self._cache: OrderedDict[FilterSpec, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self._path is not None

    def allowed(self, spec: FilterSpec) -> np.ndarray:
        """Sorted int64 ids of the chunks whose document satisfies ``spec`` (a normalized filter)."""
        if self._path is None:
            raise QueryError(
                "this bundle was built without document metadata (before filters existed): rebuild it to use filters"
            )
        with self._lock:
            found = self._cache.get(spec)
            if found is not None:
                self._cache.move_to_end(spec)
                return found
        ids = self._compute(spec)
        ids.setflags(write=False)
        with self._lock:
            self._cache[spec] = ids
            self._cache.move_to_end(spec)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return ids

    def _compute(self, spec: FilterSpec) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.compute as pc

        table, chunk_doc_ids = self._load()
        docs: Any = None
        for key, values in spec:
            if not values:
                return np.empty(0, dtype=np.int64)
            mask = pc.and_(pc.equal(table["key"], key), pc.is_in(table["value"], value_set=pa.array(values, pa.string())))
            matched = pc.unique(table["doc_id"].filter(mask))
            docs = matched if docs is None else docs.filter(pc.is_in(docs, value_set=matched))
            if len(docs) == 0:
                return np.empty(0, dtype=np.int64)
        if docs is None:  # no filter at all: every live chunk
            return np.arange(len(chunk_doc_ids), dtype=np.int64) if self._live is None else np.array(self._live)
        keep = pc.is_in(chunk_doc_ids, value_set=docs)
        ids = np.flatnonzero(keep.to_numpy(zero_copy_only=False)).astype(np.int64)
        return ids if self._live is None else np.intersect1d(ids, self._live, assume_unique=True)

    def table(self) -> Any:
        """The metadata rows (doc_id, key, value) as one pyarrow Table."""
        return self._load()[0]

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._chunk_doc_ids is None:
                self._chunk_doc_ids = self._doc_ids_of()
            if self._table is None:
                self._table = self._path() if callable(self._path) else read_metadata_table(self._path)
            return self._table, self._chunk_doc_ids


def read_metadata_table(path: Path) -> Any:
    """A ``metadata.parquet`` file as one contiguous pyarrow Table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, memory_map=True).combine_chunks()
    except (OSError, pa.ArrowException) as exc:
        raise BundleError(f"cannot read document metadata {path}: {exc}") from None
