"""The PostgreSQL chunk store (asyncpg): the same read protocol as the Parquet store.

    store = PostgresChunkStore("postgresql://user@host/db", bundle="3f2a...", count=n)
    store.put_chunks(n, chunks)                              # ids n, n+1, ... (idempotent upsert)
    store.get([3, 1])                                        # or: await store.aget([3, 1])
    store.close()

Every row belongs to a *bundle key* (a string a bundle's manifest records; '' by default): a
store reads and writes only its key's rows, so a rebuilt generation of a bundle writes a new key
while the previous one stays readable, and ``delete_bundle()`` drops an abandoned one. Given
``count`` (the manifest's committed chunk count), the store holds exactly that many chunks: rows
an interrupted update left past it stay invisible until ``put_chunks`` overwrites them.

``PostgresChunkWriter`` writes a new key's chunks during a build, as ``ParquetChunkWriter`` does
a file.

A connection pool runs on a private event loop thread, so synchronous callers (the engine) and
callers on any other event loop share one pool. Reads are idempotent and retried when the
connection is lost; writes are not retried (``StoreUnavailableError`` says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from typing import Any, Awaitable, Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from ..errors import BundleError, ConfigError, NotFoundError, StoreUnavailableError
from ..types import Chunk, Document
from .loop_thread import LoopThread
from .pg_connect import (Timeouts, _describe, asyncpg_module, connect_failure, connection_lost, redact, retry_read,
                         strip_password)
from .pg_schema import check_schema_name, migrate

T = TypeVar("T")
log = logging.getLogger("retrieval.stores.postgres")

_CHUNK_COLUMNS = ("bundle", "id", "chunk_id", "doc_id", "ordinal", "text", "title", "start", "end", "n_tokens")
_DOC_COLUMNS = ("id", "title", "text", "metadata", "content_hash")
_COPY_ROWS = 10_000  # rows per COPY: bounded memory for any input size
_DELETE_IDS = 100_000  # ids per DELETE statement in delete_bundle: bounded statement time
_PUT_TABLE = "retrieval_put_chunks"  # put_chunks' temporary staging table (dropped at commit)
MAX_BUNDLE_KEY = 200
APPLICATION_NAME = "retrieval-store"


def check_bundle_key(key: object) -> str:
    """A bundle key: any string up to ``MAX_BUNDLE_KEY`` characters without NUL ('' is the
    default key, the one rows written before bundle keys existed have)."""
    if not isinstance(key, str) or len(key) > MAX_BUNDLE_KEY or "\x00" in key:
        raise ConfigError(f"bundle key must be a string of at most {MAX_BUNDLE_KEY} characters without NUL, got {key!r:.80}")
    return key


def store_section(dsn: str, *, schema: str, bundle: str) -> dict[str, str]:
    """A bundle manifest's ``store`` section for chunks under key ``bundle`` in ``schema``:
    ``{"kind": "postgres", "dsn": <dsn without any password>, "schema": ..., "bundle": ...}``."""
    return {"kind": "postgres", "dsn": strip_password(dsn), "schema": check_schema_name(schema),
            "bundle": check_bundle_key(bundle)}


def _check_count(count: object) -> int | None:
    if count is None:
        return None
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise ConfigError(f"chunk count must be a non-negative integer, got {count!r}")
    return int(count)


class PostgresChunkStore:
    """Chunks of one bundle key in PostgreSQL, read by integer id through a pooled connection."""

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "retrieval",
        bundle: str = "",
        count: int | None = None,
        pool_size: int = 4,
        timeouts: Timeouts = Timeouts(),
        retries: int = 3,
    ) -> None:
        """Open (creating or migrating its tables) the chunks of key ``bundle`` in ``schema``.

        ``count``: the number of chunks the store holds (ids ``0 .. count - 1``; rows at higher
        ids are ignored); None counts the key's rows.
        """
        self._asyncpg = asyncpg_module()
        self.dsn = dsn
        self.schema = check_schema_name(schema)
        self.bundle = check_bundle_key(bundle)
        count = _check_count(count)
        self.retries = retries
        self._timeouts = timeouts
        s = self.schema
        # Joined against the ids with their positions: one round trip, rows in the order asked.
        self._sql_get = (
            f'SELECT c.chunk_id, c.doc_id, c.ordinal, c.text, c.title, c.start, c."end", c.n_tokens '
            f"FROM unnest($1::bigint[]) WITH ORDINALITY AS q(id, pos) "
            f"JOIN {s}.chunks c ON c.bundle = $2 AND c.id = q.id ORDER BY q.pos"
        )
        self._sql_doc_ids = (
            f"SELECT c.doc_id FROM unnest($1::bigint[]) WITH ORDINALITY AS q(id, pos) "
            f"JOIN {s}.chunks c ON c.bundle = $2 AND c.id = q.id ORDER BY q.pos"
        )
        self._sql_all_doc_ids = f"SELECT doc_id FROM {s}.chunks WHERE bundle = $1 AND id < $2 ORDER BY id"
        self._loop = LoopThread("retrieval-postgres")
        try:
            self._pool = self._loop.run(self._open_pool(pool_size))
            if count is None:
                sql = f"SELECT count(*) FROM {s}.chunks WHERE bundle = $1"
                count = self._loop.run(self._read(lambda c: c.fetchval(sql, self.bundle), "counting chunks"))
            self._count = int(count)
        except BaseException:
            self._loop.close()
            raise

    async def _open_pool(self, size: int) -> Any:
        try:
            pool = await self._asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=size,
                timeout=self._timeouts.connect,
                command_timeout=self._timeouts.command,
                server_settings={"application_name": APPLICATION_NAME},
            )
        except Exception as exc:
            raise connect_failure(exc, self.dsn, "opening the chunk store") from None
        try:
            async with pool.acquire(timeout=self._timeouts.acquire) as conn:
                await migrate(conn, self.schema)
        except BaseException:
            await pool.close()
            raise
        return pool

    def describe(self) -> dict[str, str]:
        """The manifest's ``store`` section for this store: kind, DSN without its password
        (the password comes from ``PGPASSWORD``/``~/.pgpass`` or a DSN given when opening),
        schema and bundle key."""
        return store_section(self.dsn, schema=self.schema, bundle=self.bundle)

    # -- reading (sync) -----------------------------------------------------------------------

    def __len__(self) -> int:
        """Chunks in the store: ``count`` when given, else counted when opened; grown by writes."""
        return self._count

    def get(self, ids: Sequence[int] | np.ndarray) -> list[Chunk]:
        """Chunks for ``ids`` in the given order."""
        return self._loop.run(self._get(ids))

    def doc_ids(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """Document ids of the given chunks, without reading their text."""
        return self._loop.run(self._doc_ids(ids))

    def all_doc_ids(self) -> Any:
        """pyarrow string array: the document id of every chunk, indexed by chunk id."""
        import pyarrow as pa

        count = self._count
        rows = self._loop.run(
            self._read(lambda c: c.fetch(self._sql_all_doc_ids, self.bundle, count), "reading document ids")
        )
        self._check_found(count, len(rows))
        return pa.array([r[0] for r in rows], type=pa.string())

    # -- reading (async, from any event loop) -------------------------------------------------

    async def aget(self, ids: Sequence[int] | np.ndarray) -> list[Chunk]:
        return await self._loop.run_async(self._get(ids))

    async def adoc_ids(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        return await self._loop.run_async(self._doc_ids(ids))

    async def _get(self, ids: Sequence[int] | np.ndarray) -> list[Chunk]:
        wanted = self._checked(ids)
        if not wanted:
            return []
        rows = await self._read(lambda c: c.fetch(self._sql_get, wanted, self.bundle), "fetching chunks")
        self._check_found(len(wanted), len(rows))
        return [Chunk(id=r[0], doc_id=r[1], ordinal=r[2], text=r[3], title=r[4], start=r[5], end=r[6], n_tokens=r[7]) for r in rows]

    async def _doc_ids(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        wanted = self._checked(ids)
        if not wanted:
            return []
        rows = await self._read(lambda c: c.fetch(self._sql_doc_ids, wanted, self.bundle), "fetching document ids")
        self._check_found(len(wanted), len(rows))
        return [r[0] for r in rows]

    def _checked(self, ids: Sequence[int] | np.ndarray) -> list[int]:
        wanted = np.asarray(ids, dtype=np.int64).ravel()
        if wanted.size and (wanted.min() < 0 or wanted.max() >= self._count):
            bad = int(wanted[(wanted < 0) | (wanted >= self._count)][0])
            raise NotFoundError(f"no chunk with id {bad} (store holds {self._count})")
        return wanted.tolist()

    def _check_found(self, n_wanted: int, n_rows: int) -> None:
        if n_rows != n_wanted:  # in range but absent: rows deleted behind our back, or a wrong count
            raise NotFoundError(
                f"{n_wanted - n_rows} of {n_wanted} chunk ids not found in {self.schema}.chunks "
                f"under bundle key {self.bundle!r}"
            )

    async def _read(self, query: Any, what: str) -> Any:
        """``query(connection)`` on a pooled connection, retried on a lost connection.

        asyncpg prepares each statement once per connection and caches it, so repeated reads
        skip parsing and planning.
        """

        async def attempt() -> Any:
            async with self._pool.acquire(timeout=self._timeouts.acquire) as conn:
                try:
                    return await query(conn)
                except Exception as exc:
                    if connection_lost(exc):
                        # Never hand a broken connection back to the pool (a closed one the
                        # pool has already taken back itself).
                        with contextlib.suppress(self._asyncpg.InterfaceError):
                            conn.terminate()
                    raise

        return await retry_read(attempt, dsn=self.dsn, what=what, retries=self.retries)

    # -- writing ------------------------------------------------------------------------------

    def put_chunks(self, start_id: int, chunks: Iterable[Chunk]) -> int:
        """Write ``chunks`` as ids ``start_id, start_id + 1, ...`` in one transaction; return
        how many.

        Idempotent: a row already at one of those ids under this key (left by an interrupted
        run, or written before) is replaced, so the same write can simply be run again; the
        last write of an id wins. ``start_id`` is at most ``len(self)`` (ids stay contiguous);
        afterwards ``len(self) == max(len(self), start_id + n)``. Not retried when the
        connection is lost (``StoreUnavailableError``; the transaction may or may not have
        committed: run it again).
        """
        return self._loop.run(self._put(start_id, chunks))

    def load_chunks(self, chunks: Iterable[Chunk]) -> int:
        """Append ``chunks``, numbering them from ``len(self)`` on; return how many."""
        return self._loop.run(self._put(self._count, chunks))

    def delete_bundle(self) -> int:
        """Delete every row of this store's bundle key (an abandoned generation), whatever its
        id; return how many. Runs in statements of at most ``_DELETE_IDS`` ids, each committed
        on its own: an interrupted deletion leaves some rows, and running it again finishes it.
        The store is empty afterwards."""
        return self._loop.run(self._delete_bundle())

    def load_documents(self, docs: Iterable[Document]) -> int:
        """Insert documents with COPY (metadata as jsonb, sha256 content hash); return how many."""
        rows = (
            (d.id, d.title, d.text, json.dumps(dict(d.metadata), default=str), _content_hash(d)) for d in docs
        )

        async def copy(conn: Any) -> int:
            added = 0
            for batch in _batched(rows, _COPY_ROWS):
                await conn.copy_records_to_table("documents", records=batch, columns=list(_DOC_COLUMNS), schema_name=self.schema)
                added += len(batch)
            return added

        return self._loop.run(self._write(copy, "loading documents"))

    def _start_id(self, start_id: object) -> int:
        if isinstance(start_id, bool) or not isinstance(start_id, (int, np.integer)):
            raise TypeError(f"start_id must be an integer, got {start_id!r}")
        if not 0 <= start_id <= self._count:
            raise ValueError(
                f"start_id {start_id} out of range: chunks are written from 0 to len(store) = {self._count} "
                "(ids stay contiguous)"
            )
        return int(start_id)

    def _rows(self, start: int, chunks: Iterable[Chunk]) -> Iterator[tuple]:
        b = self.bundle
        for i, c in enumerate(chunks):
            yield (b, start + i, c.id, c.doc_id, c.ordinal, c.text, c.title, c.start, c.end, c.n_tokens)

    async def _put(self, start_id: int, chunks: Iterable[Chunk]) -> int:
        start = self._start_id(start_id)
        s = self.schema
        columns = ", ".join(f'"{c}"' for c in _CHUNK_COLUMNS)
        updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in _CHUNK_COLUMNS if c not in ("bundle", "id"))
        # Staged with COPY, then upserted: a COPY straight into the table would fail on a row
        # left at one of these ids.
        upsert = (
            f"INSERT INTO {s}.chunks ({columns}) SELECT {columns} FROM {_PUT_TABLE} "
            f"ON CONFLICT (bundle, id) DO UPDATE SET {updates}"
        )

        async def put(conn: Any) -> int:
            await conn.execute(f"CREATE TEMPORARY TABLE {_PUT_TABLE} (LIKE {s}.chunks) ON COMMIT DROP")
            added = 0
            for batch in _batched(self._rows(start, chunks), _COPY_ROWS):
                await conn.copy_records_to_table(_PUT_TABLE, records=batch, columns=list(_CHUNK_COLUMNS))
                await conn.execute(upsert)
                await conn.execute(f"TRUNCATE {_PUT_TABLE}")
                added += len(batch)
            return added

        added = await self._write(put, "writing chunks")
        if added:
            self._count = max(self._count, start + added)
        return added

    async def _copy_chunks(self, start: int, chunks: list[Chunk]) -> int:
        """COPY ``chunks`` as ids ``start, start + 1, ...`` (no row may be there yet)."""

        async def copy(conn: Any) -> int:
            records = list(self._rows(start, chunks))
            await conn.copy_records_to_table("chunks", records=records, columns=list(_CHUNK_COLUMNS), schema_name=self.schema)
            return len(records)

        added = await self._write(copy, "writing chunks")
        self._count = max(self._count, start + added)
        return added

    async def _delete_bundle(self) -> int:
        s = self.schema
        first = f"SELECT min(id) FROM {s}.chunks WHERE bundle = $1 AND id >= $2"
        delete = f"DELETE FROM {s}.chunks WHERE bundle = $1 AND id >= $2 AND id < $3"
        what = f"deleting bundle key {self.bundle!r}"
        deleted = 0
        # By ranges of ids along the primary key, skipping gaps: each statement is bounded.
        low = await self._write(lambda c: c.fetchval(first, self.bundle, -(2**63)), what)
        while low is not None:
            high = low + _DELETE_IDS
            status = await self._write(lambda c: c.execute(delete, self.bundle, low, high), what)
            deleted += int(status.split()[-1])
            low = await self._write(lambda c: c.fetchval(first, self.bundle, high), what)
        self._count = 0
        return deleted

    async def _write(self, op: Callable[[Any], Awaitable[T]], what: str) -> T:
        """``op(connection)`` in one transaction on a pooled connection; never retried: a
        lost connection or a timeout becomes ``StoreUnavailableError``."""
        try:
            async with self._pool.acquire(timeout=self._timeouts.acquire) as conn:
                try:
                    async with conn.transaction():
                        return await op(conn)
                except Exception as exc:
                    if connection_lost(exc):
                        with contextlib.suppress(self._asyncpg.InterfaceError):
                            conn.terminate()
                    raise
        except (asyncio.TimeoutError, TimeoutError):
            raise StoreUnavailableError(
                f"UNAVAILABLE: {what}: PostgreSQL at {redact(self.dsn)} timed out; the write was rolled back, not retried"
            ) from None
        except Exception as exc:
            if not connection_lost(exc):
                raise
            raise StoreUnavailableError(
                f"UNAVAILABLE: {what}: connection to PostgreSQL at {redact(self.dsn)} lost ({_describe(exc)}); "
                "writes are not retried (it may or may not have been applied: run it again)"
            ) from None

    # -- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the pool and stop the private loop; idempotent."""
        if self._loop.loop.is_closed():
            return
        try:
            self._loop.run(self._pool.close())
        finally:
            self._loop.close()

    def __enter__(self) -> "PostgresChunkStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"PostgresChunkStore({redact(self.dsn)!r}, schema={self.schema!r}, bundle={self.bundle!r}, "
                f"chunks={self._count})")


class PostgresChunkWriter:
    """Writes a bundle generation's chunks under key ``bundle``, as ``ParquetChunkWriter``
    writes ``chunks.parquet``: ``add`` returns ids 0, 1, 2, ...; ``close()`` returns how many.

    Rows already under the key when the writer opens (a crashed earlier build with the same
    key) are deleted first. Chunks are buffered and COPied ``batch_rows`` at a time, each batch
    committed on its own: a build that dies leaves rows under a key no manifest references
    (``abort()``, or ``PostgresChunkStore(..., bundle=key).delete_bundle()``, removes them).
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "retrieval",
        bundle: str,
        batch_rows: int = _COPY_ROWS,
        timeouts: Timeouts = Timeouts(),
    ) -> None:
        if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
            raise ValueError(f"batch_rows must be a positive integer, got {batch_rows!r}")
        self._store = PostgresChunkStore(dsn, schema=schema, bundle=bundle, count=0, pool_size=1, timeouts=timeouts)
        try:
            cleared = self._store.delete_bundle()
        except BaseException:
            self._store.close()
            raise
        if cleared:
            log.warning("cleared %d chunks left under bundle key %r in %s.chunks by an earlier write",
                        cleared, bundle, self._store.schema)
        self._rows: list[Chunk] = []
        self._batch_rows = batch_rows
        self._written = 0  # rows committed
        self._closed = False
        self._aborted = False
        self.count = 0

    def describe(self) -> dict[str, str]:
        """The manifest's ``store`` section (see ``PostgresChunkStore.describe``)."""
        return self._store.describe()

    def add(self, chunk: Chunk) -> int:
        """Store ``chunk``; return its integer id."""
        if self._closed:
            raise ValueError("chunk writer is closed")
        self._rows.append(chunk)
        if len(self._rows) >= self._batch_rows:
            self._flush()
        self.count += 1
        return self.count - 1

    def _flush(self) -> None:
        if not self._rows:
            return
        try:
            self._written += self._store._loop.run(self._store._copy_chunks(self._written, self._rows))
        except self._store._asyncpg.UniqueViolationError:
            raise BundleError(
                f"chunks appeared under bundle key {self._store.bundle!r} in {self._store.schema}.chunks while "
                "writing them: another writer uses the same key"
            ) from None
        self._rows.clear()

    def close(self) -> int:
        """Write what is buffered, release the connection; return how many chunks were written."""
        if not self._closed:
            try:
                self._flush()
            finally:
                self._closed = True
                self._store.close()
        return self.count

    def abort(self) -> None:
        """Discard the build, also after ``close()`` (a build that failed later): delete the
        rows written under the key (best effort: a failure is logged, the rows stay under a key
        nothing references) and release the connection. Idempotent."""
        if self._aborted:
            return
        self._aborted = self._closed = True
        self._rows.clear()
        store = self._store
        try:
            if store._loop.loop.is_closed():  # closed already: a connection of its own
                store = PostgresChunkStore(store.dsn, schema=store.schema, bundle=store.bundle, count=0, pool_size=1,
                                           timeouts=store._timeouts)
            store.delete_bundle()
        except Exception as exc:  # noqa: BLE001 -- best effort, the build already failed
            log.warning("could not delete the chunks written under bundle key %r: %s", self._store.bundle, exc)
        finally:
            store.close()
            self._store.close()

    def __enter__(self) -> "PostgresChunkWriter":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __repr__(self) -> str:
        return f"PostgresChunkWriter({redact(self._store.dsn)!r}, schema={self._store.schema!r}, bundle={self._store.bundle!r}, chunks={self.count})"


def _batched(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _content_hash(doc: Document) -> str:
    return hashlib.sha256(f"{doc.title}\x00{doc.text}".encode("utf-8")).hexdigest()
