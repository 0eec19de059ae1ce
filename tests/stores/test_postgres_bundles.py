"""Bundle keys in the PostgreSQL store: migration 2, isolation between keys, the committed
count, idempotent writes, garbage collection, the build-time writer and the manifest section."""

from __future__ import annotations

import asyncio
import threading

import pytest

from retrieval.errors import ConfigError, NotFoundError, StoreUnavailableError
from retrieval.stores.pg_schema import MIGRATIONS, SCHEMA_VERSION, migrate
from retrieval.types import Chunk

pytestmark = pytest.mark.postgres


def _chunks(n: int, tag: str = "", doc: str = "d") -> list[Chunk]:
    return [Chunk(id=f"{doc}{i}#0", doc_id=f"{doc}{i}", ordinal=0, text=f"{tag}text {i}", title=tag, start=0, end=6,
                  n_tokens=2) for i in range(n)]


def _rows(cluster, schema: str, bundle: str) -> int:
    return int(cluster.execute(f"SELECT count(*) FROM {schema}.chunks WHERE bundle = '{bundle}'"))


def _store(dsn: str, schema: str, **kwargs):
    from retrieval.stores.postgres import PostgresChunkStore

    return PostgresChunkStore(dsn, schema=schema, **kwargs)


def test_version_1_schema_migrates_in_place_keeping_its_rows(pg_dsn, pg_schema, pg_cluster) -> None:
    import asyncpg

    assert SCHEMA_VERSION == len(MIGRATIONS) >= 2

    async def create_version_1() -> None:
        conn = await asyncpg.connect(pg_dsn)
        try:
            assert await migrate(conn, pg_schema, target=1) == 0
            await conn.execute(
                f"INSERT INTO {pg_schema}.chunks (id, chunk_id, doc_id, ordinal, text, title, start, \"end\", n_tokens) "
                "VALUES (0, 'a#0', 'a', 0, 'old text', 'T', 0, 8, 2), (1, 'a#1', 'a', 1, 'more', 'T', 9, 13, 1)"
            )
        finally:
            await conn.close()

    asyncio.run(create_version_1())
    assert pg_cluster.execute(f"SELECT max(version) FROM {pg_schema}.schema_version") == 1
    with _store(pg_dsn, pg_schema) as store:  # opening migrates; old rows are the '' key's
        assert len(store) == 2
        assert store.get([1, 0]) == [Chunk("a#1", "a", 1, "more", "T", 9, 13, 1), Chunk("a#0", "a", 0, "old text", "T", 0, 8, 2)]
        assert store.all_doc_ids().to_pylist() == ["a", "a"]
    assert pg_cluster.execute(f"SELECT max(version) FROM {pg_schema}.schema_version") == SCHEMA_VERSION
    # chunk_id is no longer unique (an updated document's chunk recurs under a new id or key).
    with _store(pg_dsn, pg_schema, bundle="next") as store:
        assert len(store) == 0
        store.put_chunks(0, [Chunk("a#0", "a", 0, "new text", "T", 0, 8, 2)])
        assert store.get([0])[0].text == "new text"
    with _store(pg_dsn, pg_schema) as store:
        store.put_chunks(2, [Chunk("a#0", "a", 0, "updated", "T", 0, 7, 1)])
        assert [c.text for c in store.get([0, 2])] == ["old text", "updated"]
    indexes = pg_cluster.execute(
        f"SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = '{pg_schema}' "
        "AND tablename = 'chunks'"
    )
    assert indexes == "chunks_bundle_doc_id,chunks_pkey"


def test_bundle_keys_in_one_schema_are_isolated(pg_dsn, pg_schema, pg_cluster) -> None:
    old, new = _chunks(6, "old "), _chunks(4, "new ")
    with _store(pg_dsn, pg_schema, bundle="gen-1") as a, _store(pg_dsn, pg_schema, bundle="gen-2") as b:
        a.load_chunks(old)
        b.put_chunks(0, new)  # the same chunk ids ("d0#0", ...) under another key
        assert (len(a), len(b)) == (6, 4)
        assert a.get([0, 5]) == [old[0], old[5]] and b.get([0, 3]) == [new[0], new[3]]
        assert b.doc_ids([2]) == ["d2"] and b.all_doc_ids().to_pylist() == ["d0", "d1", "d2", "d3"]
        with pytest.raises(NotFoundError, match="no chunk with id 4"):
            b.get([4])  # a's row 4 is not b's
    with _store(pg_dsn, pg_schema, bundle="gen-1") as a, _store(pg_dsn, pg_schema, bundle="gen-2") as b:
        assert (len(a), len(b)) == (6, 4)  # counted per key when no count is given
        assert b.delete_bundle() == 4
        assert len(b) == 0 and a.get([3]) == [old[3]]
    with _store(pg_dsn, pg_schema) as default:
        assert len(default) == 0
    assert _rows(pg_cluster, pg_schema, "gen-1") == 6 and _rows(pg_cluster, pg_schema, "gen-2") == 0


def test_count_hides_rows_past_it_and_reports_missing_rows(pg_dsn, pg_schema) -> None:
    chunks = _chunks(10)
    with _store(pg_dsn, pg_schema, bundle="k") as store:
        store.put_chunks(0, chunks)
    with _store(pg_dsn, pg_schema, bundle="k", count=7) as store:  # rows 7..9: an update that crashed
        assert len(store) == 7
        assert store.all_doc_ids().to_pylist() == [c.doc_id for c in chunks[:7]]
        for bad in ([7], [0, 9]):
            with pytest.raises(NotFoundError, match="no chunk with id"):
                store.get(bad)
            with pytest.raises(NotFoundError, match="no chunk with id"):
                store.doc_ids(bad)
    with _store(pg_dsn, pg_schema, bundle="k", count=12) as store:  # more than there are
        assert len(store) == 12 and store.get([9]) == [chunks[9]]
        with pytest.raises(NotFoundError, match="1 of 2 chunk ids not found .* under bundle key 'k'"):
            store.get([9, 11])
        with pytest.raises(NotFoundError, match="2 of 12 chunk ids not found"):
            store.all_doc_ids()
    with pytest.raises(ConfigError, match="non-negative integer"):
        _store(pg_dsn, pg_schema, count=-1)
    with pytest.raises(ConfigError, match="bundle key"):
        _store(pg_dsn, pg_schema, bundle=None)


def test_put_chunks_is_idempotent_and_last_write_wins(pg_dsn, pg_schema, pg_cluster, monkeypatch) -> None:
    from retrieval.stores import postgres

    monkeypatch.setattr(postgres, "_COPY_ROWS", 4)  # writes of several batches, one transaction
    a, b, c = _chunks(10, "a "), _chunks(10, "b "), _chunks(2, "c ")
    # One pooled connection: every write reuses it (its temporary staging table included).
    with _store(pg_dsn, pg_schema, bundle="k", count=0, pool_size=1) as store:
        assert store.put_chunks(0, a) == 10
        assert store.put_chunks(0, iter(a)) == 10  # the same write again: nothing doubles
        assert len(store) == 10 and _rows(pg_cluster, pg_schema, "k") == 10
        assert store.put_chunks(5, b) == 10  # overlapping: 5..9 replaced, 10..14 added
        assert len(store) == 15 and _rows(pg_cluster, pg_schema, "k") == 15
        assert store.put_chunks(3, c) == 2  # inside: length unchanged
        assert len(store) == 15
        assert store.get(range(15)) == a[:3] + c + b
        assert store.put_chunks(15, []) == 0 and len(store) == 15
        with pytest.raises(ValueError, match="start_id 16 out of range"):
            store.put_chunks(16, a)  # would leave id 15 .. a gap
        with pytest.raises(ValueError, match="out of range"):
            store.put_chunks(-1, a)

        def failing():
            yield from a[:6]  # a first batch is upserted before this fails
            raise RuntimeError("chunker broke")

        with pytest.raises(RuntimeError, match="chunker broke"):
            store.put_chunks(15, failing())  # one transaction: nothing of it stays
        assert len(store) == 15 and _rows(pg_cluster, pg_schema, "k") == 15
        assert store.load_chunks(c) == 2 and store.get([15, 16]) == c  # appends from len()


def test_rerun_after_a_crashed_update_overwrites_its_rows(pg_dsn, pg_schema, pg_cluster) -> None:
    base, crashed, retry = _chunks(5, "base "), _chunks(4, "crashed ", doc="x"), _chunks(3, "retry ", doc="y")
    with _store(pg_dsn, pg_schema, bundle="k") as store:
        store.put_chunks(0, base + crashed)  # the update wrote 4 rows, then died before its manifest
    with _store(pg_dsn, pg_schema, bundle="k", count=5) as store:  # the manifest still says 5
        assert store.put_chunks(len(store), retry) == 3
        assert len(store) == 8 and store.get(range(8)) == base + retry
    assert _rows(pg_cluster, pg_schema, "k") == 9  # row 8 (crashed) is left, past every count


def test_delete_bundle_deletes_every_row_of_its_key_only(pg_dsn, pg_schema, pg_cluster, monkeypatch) -> None:
    from retrieval.stores import postgres

    monkeypatch.setattr(postgres, "_DELETE_IDS", 3)  # several statements, with a gap to skip
    with _store(pg_dsn, pg_schema, bundle="keep") as keep:
        keep.put_chunks(0, _chunks(5))
    pg_cluster.execute(
        f"INSERT INTO {pg_schema}.chunks (bundle, id, chunk_id, doc_id, ordinal, text, start, \"end\", n_tokens) "
        "SELECT 'gc', g, 'c#' || g, 'c', 0, 't', 0, 1, 1 FROM generate_series(0, 9) g "
        "UNION ALL SELECT 'gc', 1000000 + g, 'far#' || g, 'c', 0, 't', 0, 1, 1 FROM generate_series(0, 1) g"
    )
    with _store(pg_dsn, pg_schema, bundle="gc") as gc:
        assert len(gc) == 12
        assert gc.delete_bundle() == 12
        assert len(gc) == 0 and gc.delete_bundle() == 0
        with pytest.raises(NotFoundError):
            gc.get([0])
    assert _rows(pg_cluster, pg_schema, "gc") == 0 and _rows(pg_cluster, pg_schema, "keep") == 5


def test_lost_connection_during_a_write_is_not_retried(pg_dsn, pg_schema, pg_cluster) -> None:
    from retrieval.stores.postgres import APPLICATION_NAME

    def kill_backends() -> None:
        pg_cluster.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE application_name = '{APPLICATION_NAME}' AND pid <> pg_backend_pid()"
        )

    def chunks_killing_the_connection():
        yield from _chunks(3)
        killer = threading.Thread(target=kill_backends)  # its own event loop, not the store's
        killer.start()
        killer.join()
        yield from _chunks(3, doc="e")

    with _store(pg_dsn, pg_schema, bundle="k", pool_size=1) as store:
        with pytest.raises(StoreUnavailableError, match="^UNAVAILABLE: writing chunks: connection .* lost .*not retried"):
            store.put_chunks(0, chunks_killing_the_connection())
        assert len(store) == 0 and _rows(pg_cluster, pg_schema, "k") == 0
        assert store.put_chunks(0, _chunks(2)) == 2  # a fresh connection for the next call


def test_writer_numbers_chunks_and_commits_them_in_batches(pg_dsn, pg_schema, pg_cluster, tmp_path) -> None:
    from retrieval.stores import PostgresChunkWriter, open_chunk_store

    chunks = _chunks(23)
    with _store(pg_dsn, pg_schema, bundle="b1") as crashed_build:  # rows a dead build left under the key
        crashed_build.put_chunks(0, _chunks(30, "stale "))
    with _store(pg_dsn, pg_schema, bundle="other") as other:
        other.put_chunks(0, _chunks(2))
    writer = PostgresChunkWriter(pg_dsn, schema=pg_schema, bundle="b1", batch_rows=10)
    assert _rows(pg_cluster, pg_schema, "b1") == 0  # cleared at the start
    ids = [writer.add(c) for c in chunks[:12]]
    assert _rows(pg_cluster, pg_schema, "b1") == 10 and writer.count == 12  # one batch committed
    ids += [writer.add(c) for c in chunks[12:]]
    assert ids == list(range(23))
    assert writer.close() == 23 and writer.close() == 23
    with pytest.raises(ValueError, match="closed"):
        writer.add(chunks[0])
    section = writer.describe()
    assert section == {"kind": "postgres", "dsn": pg_dsn, "schema": pg_schema, "bundle": "b1"}
    with open_chunk_store(tmp_path, section, 23) as store:
        assert store.get(range(23)) == chunks
    assert _rows(pg_cluster, pg_schema, "other") == 2


def test_writer_abort_deletes_what_it_wrote(pg_dsn, pg_schema, pg_cluster) -> None:
    from retrieval.stores import PostgresChunkWriter

    writer = PostgresChunkWriter(pg_dsn, schema=pg_schema, bundle="doomed", batch_rows=4)
    for chunk in _chunks(9):
        writer.add(chunk)
    assert _rows(pg_cluster, pg_schema, "doomed") == 8
    writer.abort()
    writer.abort()  # idempotent
    assert _rows(pg_cluster, pg_schema, "doomed") == 0
    closed = PostgresChunkWriter(pg_dsn, schema=pg_schema, bundle="doomed", batch_rows=4)
    closed.add(_chunks(1)[0])
    assert closed.close() == 1 and _rows(pg_cluster, pg_schema, "doomed") == 1
    closed.abort()  # the build failed after its chunks were written
    assert _rows(pg_cluster, pg_schema, "doomed") == 0
    with pytest.raises(RuntimeError, match="build failed"):
        with PostgresChunkWriter(pg_dsn, schema=pg_schema, bundle="doomed", batch_rows=4) as failing:
            for chunk in _chunks(5):
                failing.add(chunk)
            raise RuntimeError("build failed")
    assert _rows(pg_cluster, pg_schema, "doomed") == 0
