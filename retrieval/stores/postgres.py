"""The PostgreSQL chunk store (asyncpg): the same read protocol as the Parquet store.

    store = PostgresChunkStore("postgresql://user@host/db")   # creates/migrates its tables
    store.load_chunks(chunks)                                # COPY, ids 0, 1, 2, ... in order
    store.get([3, 1])                                        # or: await store.aget([3, 1])
    store.close()

A connection pool runs on a private event loop thread, so synchronous callers (the engine) and
callers on any other event loop share one pool. Reads are idempotent and retried when the
connection is lost; writes are not retried.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import NotFoundError
from ..types import Chunk, Document
from .loop_thread import LoopThread
from .pg_connect import Timeouts, asyncpg_module, connect_failure, connection_lost, redact, retry_read
from .pg_schema import check_schema_name, migrate

_CHUNK_COLUMNS = ("id", "chunk_id", "doc_id", "ordinal", "text", "title", "start", "end", "n_tokens")
_DOC_COLUMNS = ("id", "title", "text", "metadata", "content_hash")
_COPY_ROWS = 10_000
APPLICATION_NAME = "retrieval-store"


class PostgresChunkStore:
    """Chunks in PostgreSQL, read by integer id through a pooled connection."""

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "retrieval",
        pool_size: int = 4,
        timeouts: Timeouts = Timeouts(),
        retries: int = 3,
    ) -> None:
        self._asyncpg = asyncpg_module()
        self.dsn = dsn
        self.schema = check_schema_name(schema)
        self.retries = retries
        self._timeouts = timeouts
        s = self.schema
        # Joined against the ids with their positions: one round trip, rows in the order asked.
        self._sql_get = (
            f'SELECT c.chunk_id, c.doc_id, c.ordinal, c.text, c.title, c.start, c."end", c.n_tokens '
            f"FROM unnest($1::bigint[]) WITH ORDINALITY AS q(id, pos) JOIN {s}.chunks c ON c.id = q.id ORDER BY q.pos"
        )
        self._sql_doc_ids = (
            f"SELECT c.doc_id FROM unnest($1::bigint[]) WITH ORDINALITY AS q(id, pos) "
            f"JOIN {s}.chunks c ON c.id = q.id ORDER BY q.pos"
        )
        self._loop = LoopThread("retrieval-postgres")
        try:
            self._pool = self._loop.run(self._open_pool(pool_size))
            self._count = self._loop.run(self._read(lambda c: c.fetchval(f"SELECT count(*) FROM {s}.chunks"), "counting chunks"))
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

    # -- reading (sync) -----------------------------------------------------------------------

    def __len__(self) -> int:
        """Chunks in the store (counted when opened, updated by ``load_chunks``)."""
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

        sql = f"SELECT doc_id FROM {self.schema}.chunks ORDER BY id"
        rows = self._loop.run(self._read(lambda c: c.fetch(sql), "reading document ids"))
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
        rows = await self._read(lambda c: c.fetch(self._sql_get, wanted), "fetching chunks")
        self._check_found(wanted, len(rows))
        return [Chunk(id=r[0], doc_id=r[1], ordinal=r[2], text=r[3], title=r[4], start=r[5], end=r[6], n_tokens=r[7]) for r in rows]

    async def _doc_ids(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        wanted = self._checked(ids)
        if not wanted:
            return []
        rows = await self._read(lambda c: c.fetch(self._sql_doc_ids, wanted), "fetching document ids")
        self._check_found(wanted, len(rows))
        return [r[0] for r in rows]

    def _checked(self, ids: Sequence[int] | np.ndarray) -> list[int]:
        wanted = np.asarray(ids, dtype=np.int64).ravel()
        if wanted.size and (wanted.min() < 0 or wanted.max() >= self._count):
            bad = int(wanted[(wanted < 0) | (wanted >= self._count)][0])
            raise NotFoundError(f"no chunk with id {bad} (store holds {self._count})")
        return wanted.tolist()

    def _check_found(self, wanted: list[int], n_rows: int) -> None:
        if n_rows != len(wanted):  # in range but absent: rows deleted behind our back
            raise NotFoundError(f"{len(wanted) - n_rows} of {len(wanted)} chunk ids not found in {self.schema}.chunks")

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

    # -- loading ------------------------------------------------------------------------------

    def load_chunks(self, chunks: Iterable[Chunk]) -> int:
        """Append ``chunks`` with COPY, numbering them from ``len(self)`` on; return how many."""
        return self._loop.run(self._load(chunks))

    def load_documents(self, docs: Iterable[Document]) -> int:
        """Insert documents with COPY (metadata as jsonb, sha256 content hash); return how many."""
        rows = (
            (d.id, d.title, d.text, json.dumps(dict(d.metadata), default=str), _content_hash(d)) for d in docs
        )
        return self._loop.run(self._copy("documents", _DOC_COLUMNS, rows))

    async def _load(self, chunks: Iterable[Chunk]) -> int:
        start = self._count
        rows = (
            (start + i, c.id, c.doc_id, c.ordinal, c.text, c.title, c.start, c.end, c.n_tokens)
            for i, c in enumerate(chunks)
        )
        added = await self._copy("chunks", _CHUNK_COLUMNS, rows)
        self._count += added
        return added

    async def _copy(self, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> int:
        added = 0
        async with self._pool.acquire(timeout=self._timeouts.acquire) as conn:
            async with conn.transaction():  # all or nothing
                batch: list[tuple] = []
                for row in rows:
                    batch.append(row)
                    if len(batch) >= _COPY_ROWS:  # bounded memory for any input size
                        added += await self._copy_batch(conn, table, columns, batch)
                if batch:
                    added += await self._copy_batch(conn, table, columns, batch)
        return added

    async def _copy_batch(self, conn: Any, table: str, columns: tuple[str, ...], batch: list[tuple]) -> int:
        await conn.copy_records_to_table(table, records=batch, columns=list(columns), schema_name=self.schema)
        n = len(batch)
        batch.clear()
        return n

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
        return f"PostgresChunkStore({redact(self.dsn)!r}, schema={self.schema!r}, chunks={self._count})"


def _content_hash(doc: Document) -> str:
    return hashlib.sha256(f"{doc.title}\x00{doc.text}".encode("utf-8")).hexdigest()
