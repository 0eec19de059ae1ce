"""A PostgreSQL query split into id ranges, each read by a Ray worker with its own connection.

Planned here with one statement over the query: the id column's quantiles (the range bounds),
the rows with a null id (refused, as the in-process reader refuses them), and the largest
``updated_at`` (the watermark ``retrieval sync`` starts from). The watermark is taken before any
part is read, so a row changed during the build is newer than it and the next sync picks it up.

Each part is the query restricted to its range and ordered by id: the parts in order are the
query's rows in id order, the order the in-process build reads a query that orders by id.
"""

from __future__ import annotations

from typing import Any

from ..errors import CorpusError


def postgres_parts(corpus: Any, max_parts: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The id-range parts of a ``PostgresCorpus`` and its manifest ``sync`` section."""
    from ..ingest.watermark import WATERMARK_COLUMN, sync_section
    from ..stores.loop_thread import LoopThread

    if corpus.params:
        raise CorpusError("--ray cannot split a query with $n parameters into id ranges; inline the values")
    loop = LoopThread("retrieval-postgres-parts")
    try:
        columns = loop.run(_columns(corpus))
        corpus.check_columns(columns)  # the reader's own checks: id, text, names
        ident = _quoted(corpus.id_column)
        cuts = [(i + 1) / max_parts for i in range(max_parts - 1)]
        watermark = f"max(q.{_quoted(WATERMARK_COLUMN)})" if WATERMARK_COLUMN in columns else "NULL"
        plan = (f"SELECT percentile_disc($1::float8[]) WITHIN GROUP (ORDER BY q.{ident}), "
                f"count(*) FILTER (WHERE q.{ident} IS NULL), {watermark} FROM ({corpus.sql}) AS q")
        bounds, nulls, newest = loop.run(_fetch(corpus, plan, cuts))
    finally:
        loop.close()
    if nulls:
        raise CorpusError(f"--sql query returns {nulls} row(s) with a null '{corpus.id_column}'")
    bounds = sorted(set(b for b in (bounds or []) if b is not None))
    edges = [None, *bounds, None]
    parts = []
    for index, (low, high) in enumerate(zip(edges, edges[1:])):
        conditions, params = [], []
        if low is not None:
            params.append(low)
            conditions.append(f"q.{ident} >= ${len(params)}")
        if high is not None:
            params.append(high)
            conditions.append(f"q.{ident} < ${len(params)}")
        sql = f"SELECT * FROM ({corpus.sql}) AS q WHERE {' AND '.join(conditions) or 'TRUE'} ORDER BY q.{ident}"
        parts.append({"kind": "postgres", "dsn": corpus.dsn, "sql": sql, "params": params, "part": index})
    return parts, sync_section(corpus.dsn, corpus.sql, newest)


def read_postgres_part(part: dict[str, Any]) -> Any:
    from ..ingest.postgres_reader import PostgresCorpus

    return iter(PostgresCorpus(part["dsn"], part["sql"], params=tuple(part["params"])))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _columns(corpus: Any) -> list[str]:
    conn = await _connect(corpus)
    try:
        statement = await _prepare(conn, corpus.sql)
        return [a.name for a in statement.get_attributes()]
    finally:
        await conn.close()


async def _fetch(corpus: Any, sql: str, cuts: list[float]) -> Any:
    conn = await _connect(corpus)
    try:
        statement = await _prepare(conn, sql)
        return await statement.fetchrow(cuts)
    finally:
        await conn.close()


async def _connect(corpus: Any) -> Any:
    from ..stores.pg_connect import asyncpg_module, connect_failure

    try:
        return await asyncpg_module().connect(corpus.dsn, timeout=corpus.timeouts.connect,
                                              command_timeout=corpus.timeouts.command)
    except Exception as exc:
        raise connect_failure(exc, corpus.dsn, "planning the corpus's id ranges") from None


async def _prepare(conn: Any, sql: str) -> Any:
    from ..stores.pg_connect import asyncpg_module

    try:
        return await conn.prepare(sql)
    except asyncpg_module().PostgresError as exc:
        raise CorpusError(f"SQL error in --sql query: {' '.join(str(exc).split())}") from None
