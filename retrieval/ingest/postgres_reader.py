"""A corpus read from PostgreSQL: the rows of a SELECT, streamed as ``Document``s.

    corpus = PostgresCorpus("postgresql://user@host/db", "SELECT id, title, text, year FROM papers")
    Engine.build(corpus, "indexes/papers")

The query runs in a read-only transaction through a server-side cursor, fetched ``batch_rows``
rows at a time, so memory stays constant in the table size. Columns: ``id`` (or ``_id``; text or
integer) and ``text`` are required, ``title`` is optional, every other column goes to
``Document.metadata`` as a JSON value (nulls left out) except ``updated_at``: that one is the
change-tracking column ``retrieval sync`` follows, and the largest value read is kept in
``max_updated_at``.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from typing import Any, AsyncIterator, Iterator

from ..errors import CorpusError
from ..stores.loop_thread import LoopThread
from ..stores.pg_connect import Timeouts, asyncpg_module, connect_failure, connection_lost, redact
from ..types import Document
from .watermark import WATERMARK_COLUMN, sync_section

_ID_COLUMNS = ("_id", "id")
_CORE_COLUMNS = frozenset({"_id", "id", "text", "title", WATERMARK_COLUMN})


class PostgresCorpus:
    """The documents a SQL query returns (a ``DocumentSource``); each iteration runs the query anew."""

    def __init__(
        self, dsn: str, sql: str, *, batch_rows: int = 500, timeouts: Timeouts = Timeouts(), params: tuple[Any, ...] = ()
    ) -> None:
        asyncpg_module()  # fail now, with the install hint, not at the first row
        if not sql or not sql.strip():
            raise CorpusError("a PostgreSQL corpus needs a query: --sql \"SELECT id, title, text FROM ...\"")
        self.dsn = dsn
        self.sql = sql
        self.batch_rows = batch_rows
        self.timeouts = timeouts
        self.params = params  # values for $1, $2, ... in ``sql``
        self.rows_read = 0  # rows fetched from the server so far (the streaming is observable)
        self.max_updated_at: Any = None  # the largest ``updated_at`` read (None: no such column)

    def describe(self) -> str:
        """Where the documents come from, without the password (recorded in the manifest)."""
        return f"{redact(self.dsn)} --sql {self.sql!r}"

    def sync_section(self) -> dict[str, Any]:
        """After iterating: the manifest's ``sync`` section, the query and its watermark (None
        without an ``updated_at`` column: the next sync compares every row by content hash)."""
        return sync_section(self.dsn, self.sql, self.max_updated_at)

    def __iter__(self) -> Iterator[Document]:
        loop = LoopThread("retrieval-postgres-corpus")
        batches = self._batches()
        try:
            row_number = 0
            while True:
                try:
                    batch = loop.run(batches.__anext__())
                except StopAsyncIteration:
                    return
                for record in batch:
                    row_number += 1
                    yield self._document(record, row_number)
        finally:
            loop.run(batches.aclose())  # ends the transaction and closes the connection
            loop.close()

    async def _batches(self) -> AsyncIterator[list[Any]]:
        asyncpg = asyncpg_module()
        what = "reading the corpus"
        try:
            conn = await asyncpg.connect(self.dsn, timeout=self.timeouts.connect, command_timeout=self.timeouts.command)
        except Exception as exc:
            raise connect_failure(exc, self.dsn, what) from None
        try:
            for kind in ("json", "jsonb"):  # JSON columns arrive decoded, ready for metadata
                await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
            async with conn.transaction(readonly=True):  # a cursor needs a transaction
                try:
                    statement = await conn.prepare(self.sql)
                except asyncpg.PostgresError as exc:
                    raise CorpusError(f"SQL error in --sql query: {_one_line(exc)}") from None
                self.check_columns([a.name for a in statement.get_attributes()])
                cursor = await statement.cursor(*self.params)
                while True:
                    batch = await cursor.fetch(self.batch_rows)
                    if not batch:
                        return
                    self.rows_read += len(batch)
                    yield batch
        except (CorpusError, GeneratorExit):
            raise
        except asyncpg.PostgresError as exc:
            if connection_lost(exc):
                raise connect_failure(exc, self.dsn, what) from None
            raise CorpusError(f"SQL error while reading the --sql query's rows: {_one_line(exc)}") from None
        except Exception as exc:
            if connection_lost(exc):  # not retried: the rows already yielded cannot be taken back
                raise connect_failure(exc, self.dsn, what) from None
            raise
        finally:
            await conn.close(timeout=self.timeouts.connect)

    def check_columns(self, names: list[str]) -> None:
        self._id_column = next((c for c in _ID_COLUMNS if c in names), None)
        shown = ", ".join(names) or "none"
        if self._id_column is None:
            raise CorpusError(f"--sql query returns no 'id' (or '_id') column; columns: {shown}")
        if "text" not in names:
            raise CorpusError(f"--sql query returns no 'text' column; columns: {shown}")
        if len(set(names)) != len(names):
            raise CorpusError(f"--sql query returns a column name twice; columns: {shown}")
        self._extras = [n for n in names if n not in _CORE_COLUMNS]
        self._tracks_updates = WATERMARK_COLUMN in names
        self.id_column = self._id_column

    def _document(self, record: Any, row: int) -> Document:
        raw_id, text, title = record[self._id_column], record["text"], record.get("title")
        if raw_id is None or raw_id == "":
            raise CorpusError(f"--sql row {row}: empty or null '{self._id_column}'")
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            raise CorpusError(f"--sql row {row}: '{self._id_column}' must be text or an integer, got {type(raw_id).__name__}")
        if not isinstance(text, str):
            raise CorpusError(f"--sql row {row} (id {raw_id}): 'text' must be non-null text, got {type(text).__name__}")
        if title is not None and not isinstance(title, str):
            raise CorpusError(f"--sql row {row} (id {raw_id}): 'title' must be text, got {type(title).__name__}")
        meta = {name: _json_value(record[name]) for name in self._extras if record[name] is not None}
        if self._tracks_updates:
            stamp = record[WATERMARK_COLUMN]
            if stamp is not None and (self.max_updated_at is None or stamp > self.max_updated_at):
                self.max_updated_at = stamp
        return Document(id=str(raw_id), text=text, title=title or "", metadata=meta)


def _json_value(value: Any) -> Any:
    """A column value as JSON data (numbers stay numbers, times become ISO strings)."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta, uuid.UUID)):
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (str, int, float, bool, dict)) or value is None:
        return value
    return str(value)


def _one_line(exc: BaseException) -> str:
    state = getattr(exc, "sqlstate", None)
    text = " ".join(str(exc).split())
    return f"{text} (SQLSTATE {state})" if state else text
