"""PostgreSQL store behaviour beyond the shared contract: schema migration, async reads, and
what happens when the connection or the server goes away."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from retrieval.errors import ConfigError, StoreUnavailableError
from retrieval.stores.pg_connect import Timeouts, redact
from retrieval.stores.pg_schema import SCHEMA_VERSION
from retrieval.stores.postgres import APPLICATION_NAME, PostgresChunkStore
from retrieval.types import Chunk

pytestmark = pytest.mark.postgres

CHUNKS = [Chunk(id=f"d{i}#0", doc_id=f"d{i}", ordinal=0, text=f"text {i}", title="t", start=0, end=6, n_tokens=2) for i in range(10)]


def _terminate_store_backends(cluster) -> int:
    return int(cluster.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        f"WHERE application_name = '{APPLICATION_NAME}' AND pid <> pg_backend_pid()"
    ))


def test_schema_is_created_once_and_reopened(pg_dsn, pg_schema, pg_cluster) -> None:
    with PostgresChunkStore(pg_dsn, schema=pg_schema) as store:
        store.load_chunks(CHUNKS)
    with PostgresChunkStore(pg_dsn, schema=pg_schema) as store:  # no second migration, data kept
        assert len(store) == 10
        assert store.get([9])[0] == CHUNKS[9]
    assert pg_cluster.execute(f"SELECT max(version) FROM {pg_schema}.schema_version") == SCHEMA_VERSION
    assert pg_cluster.execute(f"SELECT count(*) FROM {pg_schema}.schema_version") == SCHEMA_VERSION


def test_newer_schema_is_refused(pg_dsn, pg_schema, pg_cluster) -> None:
    PostgresChunkStore(pg_dsn, schema=pg_schema).close()
    pg_cluster.execute(f"INSERT INTO {pg_schema}.schema_version (version) VALUES ({SCHEMA_VERSION + 1})")
    with pytest.raises(ConfigError, match="newer than this library"):
        PostgresChunkStore(pg_dsn, schema=pg_schema)


def test_documents_load_with_metadata_and_hash(pg_dsn, pg_schema, pg_cluster) -> None:
    from retrieval.types import Document

    with PostgresChunkStore(pg_dsn, schema=pg_schema) as store:
        assert store.load_documents([Document("a", "body", "T", {"year": 2020})]) == 1
    assert pg_cluster.execute(f"SELECT metadata->>'year' FROM {pg_schema}.documents WHERE id = 'a'") == "2020"
    assert len(pg_cluster.execute(f"SELECT content_hash FROM {pg_schema}.documents")) == 64


def test_async_reads_from_another_event_loop(pg_dsn, pg_schema) -> None:
    with PostgresChunkStore(pg_dsn, schema=pg_schema) as store:
        store.load_chunks(CHUNKS)

        async def main() -> tuple:
            return await asyncio.gather(store.aget([3, 1]), store.adoc_ids([2]), store.aget([]))

        got, docs, empty = asyncio.run(main())
    assert got == [CHUNKS[3], CHUNKS[1]] and docs == ["d2"] and empty == []


def test_lost_idle_connection_is_replaced(pg_dsn, pg_schema, pg_cluster) -> None:
    with PostgresChunkStore(pg_dsn, schema=pg_schema, pool_size=1) as store:
        store.load_chunks(CHUNKS)
        assert _terminate_store_backends(pg_cluster) >= 1
        assert store.get([4, 2]) == [CHUNKS[4], CHUNKS[2]]


def test_connection_lost_mid_query_is_retried(pg_dsn, pg_schema, pg_cluster, caplog) -> None:
    """A read whose backend is terminated while it runs is run again on a fresh connection."""
    with PostgresChunkStore(pg_dsn, schema=pg_schema, pool_size=1) as store:
        store.load_chunks(CHUNKS)
        killed: list[int] = []

        def kill_when_sleeping() -> None:
            deadline = time.monotonic() + 10
            while not killed and time.monotonic() < deadline:
                n = pg_cluster.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    f"WHERE application_name = '{APPLICATION_NAME}' AND query LIKE 'SELECT 42 FROM pg_sleep(0.4)%' "
                    "AND state = 'active'"
                )
                if n:
                    killed.append(int(n))

        killer = threading.Thread(target=kill_when_sleeping)
        killer.start()
        with caplog.at_level(logging.WARNING, logger="retrieval.stores.postgres"):
            # A slow idempotent read through the store's own retrying path.
            value = store._loop.run(store._read(lambda c: c.fetchval("SELECT 42 FROM pg_sleep(0.4)"), "test read"))
        killer.join()
        assert killed == [1] and value == 42
        assert "connection lost" in caplog.text and "retry 1 of 3" in caplog.text
        assert store.get([0, 9]) == [CHUNKS[0], CHUNKS[9]]


def test_server_down_gives_unavailable_after_retries_then_recovers(pg_dsn, pg_schema, pg_cluster) -> None:
    with PostgresChunkStore(pg_dsn, schema=pg_schema, retries=2, timeouts=Timeouts(connect=2)) as store:
        store.load_chunks(CHUNKS)
        pg_cluster.stop()
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError, match=r"^UNAVAILABLE: fetching chunks: .*gave up after 2 retries"):
                store.get([1])
            assert time.monotonic() - started < 5  # bounded: refused connections fail fast
        finally:
            pg_cluster.start()
        assert store.get([1]) == [CHUNKS[1]]  # the pool reconnects once the server is back


def test_unreachable_server_and_bad_dsn(pg_cluster) -> None:
    from tests.stores.conftest import _free_port

    with pytest.raises(StoreUnavailableError, match="^UNAVAILABLE: opening the chunk store: cannot reach"):
        PostgresChunkStore(f"postgresql://postgres:secret@127.0.0.1:{_free_port()}/x")
    with pytest.raises(ConfigError, match="refused the connection"):
        PostgresChunkStore(f"postgresql://postgres@127.0.0.1:{pg_cluster.port}/no_such_db")
    with pytest.raises(ConfigError, match="schema name"):
        PostgresChunkStore(pg_cluster.dsn, schema="x; DROP TABLE y")


def test_password_is_redacted() -> None:
    assert redact("postgresql://me:s3cr@t@host:5432/db") .startswith("postgresql://me:***@")
    assert redact("postgres://me:pw@h/db") == "postgres://me:***@h/db"
    assert redact("postgresql://me@h/db") == "postgresql://me@h/db"
