"""`retrieval sync` against a throwaway PostgreSQL: inserts, updates and deletes since the
watermark, a SIGKILL midway, chunk text served from PostgreSQL, and metadata from its columns."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from retrieval import Engine, IndexConfig
from retrieval.cli import main
from retrieval.errors import StoreUnavailableError
from retrieval.ingest.postgres_reader import PostgresCorpus
from retrieval.types import Document
from retrieval.updates.sync import sync
from retrieval.bundle.manifest import dump

pytestmark = pytest.mark.postgres
_TABLES = itertools.count()
KEYWORD_ONLY = IndexConfig(dense=False)


@pytest.fixture()
def source(pg_cluster):
    """A fresh source table of 20 documents; returns (table name, its query)."""
    table = f"src_{next(_TABLES)}_{os.getpid()}"
    values = ", ".join(
        f"('d{i}', 'Title {i}', 'Document {i} talks about topic {i % 5} at some length.', 'g{i % 2}')" for i in range(20)
    )
    pg_cluster.execute(
        f"CREATE TABLE {table} (id text PRIMARY KEY, title text, text text NOT NULL, grp text, "
        "updated_at timestamptz NOT NULL DEFAULT clock_timestamp())",
        f"INSERT INTO {table} (id, title, text, grp) VALUES {values}",
    )
    return table, f"SELECT id, title, text, grp, updated_at FROM {table}"


def hit_docs(engine: Engine, query: str, **kw) -> list[str]:
    return [h.doc_id for h in engine.search(query, k=50, **kw).hits]


def test_sync_applies_inserts_updates_and_deletes_since_the_watermark(tmp_path, pg_cluster, source):
    table, sql = source
    engine = Engine.build(PostgresCorpus(pg_cluster.dsn, sql), tmp_path / "b", KEYWORD_ONLY)
    recorded = dump(engine.manifest.sync)
    assert recorded["sql"] == sql and recorded["watermark"] and "postgres@" in recorded["source"]
    assert "grp" in engine.manifest.metadata.keys and "updated_at" not in engine.manifest.metadata.keys

    pg_cluster.execute(
        f"UPDATE {table} SET text = 'Now about quokkas entirely.', updated_at = clock_timestamp() WHERE id = 'd3'",
        f"INSERT INTO {table} (id, title, text, grp) VALUES ('n1', 'New', 'A wombat appears.', 'g1')",
        f"DELETE FROM {table} WHERE id = 'd4'",
    )
    report = sync(tmp_path / "b", pg_cluster.dsn, sql)
    assert (report.update.replaced, report.update.added, report.update.deleted) == (1, 1, 1)
    assert not report.full and report.rows_read < 20  # only rows at or past the watermark were read
    assert report.watermark_after > report.watermark_before

    engine = Engine.open(tmp_path / "b")
    assert hit_docs(engine, "quokkas") == ["d3"]
    assert "d3" not in hit_docs(engine, "Document 3 talks")
    assert hit_docs(engine, "wombat") == ["n1"]
    assert "d4" not in hit_docs(engine, "Document 4 talks topic")
    # Metadata from the table's columns filters the synced version.
    assert set(hit_docs(engine, "wombat quokkas", filters={"grp": "g1"})) == {"d3", "n1"}

    again = sync(tmp_path / "b", pg_cluster.dsn, sql)  # nothing new: rows at the watermark compare equal
    assert not again.update.committed and again.update.unchanged == again.rows_read >= 1

    pg_cluster.execute(f"UPDATE {table} SET grp = 'g0', updated_at = clock_timestamp() WHERE id = 'n1'")
    assert sync(tmp_path / "b", pg_cluster.dsn, sql).update.replaced == 1
    assert Engine.open(tmp_path / "b").search("wombat", k=5, filters={"grp": "g1"}).hits == ()

    # Compaction, then a fresh build from the table in the same document order: same results.
    assert main(["compact", str(tmp_path / "b"), "--json"]) == 0
    compacted = Engine.open(tmp_path / "b")
    order = list(dict.fromkeys(compacted.store.all_doc_ids().to_pylist()))
    rows = {d.id: d for d in PostgresCorpus(pg_cluster.dsn, sql)}
    fresh = Engine.build([rows[i] for i in order], tmp_path / "fresh", KEYWORD_ONLY)
    for query in ("quokkas", "Document topic 2", "wombat appears", "talks about topic 1"):
        assert compacted.search(query, k=30).hits == fresh.search(query, k=30).hits


def test_full_sync_without_updated_at_compares_by_hash(tmp_path, pg_cluster, source):
    table, _ = source
    sql = f"SELECT id, title, text FROM {table}"
    Engine.build(PostgresCorpus(pg_cluster.dsn, sql), tmp_path / "b", KEYWORD_ONLY)
    pg_cluster.execute(f"UPDATE {table} SET text = 'Changed to platypus.' WHERE id = 'd9'")
    report = sync(tmp_path / "b", pg_cluster.dsn, sql)
    assert report.full and report.rows_read == 20
    assert (report.update.replaced, report.update.unchanged) == (1, 19)
    assert hit_docs(Engine.open(tmp_path / "b"), "platypus") == ["d9"]


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import retrieval.bundle as bundle
    from retrieval.updates.sync import sync

    root, dsn, sql, marker = Path(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4])
    original = bundle.seal_version_dir

    def sealed_then_wait(tmp):
        final = original(tmp)           # the new delta is complete (and its chunk rows written)
        marker.write_text("here")       # ... but no manifest names it yet
        time.sleep(120)
        return final

    bundle.seal_version_dir = sealed_then_wait
    sync(root, dsn, sql)
    """
)


@pytest.mark.parametrize("store", ["parquet", "postgres"])
def test_sigkill_mid_sync_keeps_previous_version_and_rerun_completes(tmp_path, pg_cluster, pg_schema, source, store):
    table, sql = source
    Engine.build(PostgresCorpus(pg_cluster.dsn, sql), tmp_path / "b", KEYWORD_ONLY,
                 store=pg_cluster.dsn if store == "postgres" else None, store_schema=pg_schema).close()
    with Engine.open(tmp_path / "b") as engine:
        before = [(h.id, h.score) for h in engine.search("Document 7 topic", k=20).hits]
    pg_cluster.execute(
        f"UPDATE {table} SET text = 'Echidnas lay eggs.', updated_at = clock_timestamp() WHERE id = 'd7'",
        f"DELETE FROM {table} WHERE id = 'd8'",
    )
    marker = tmp_path / "marker"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "b"), pg_cluster.dsn, sql, str(marker)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None and time.monotonic() < deadline, "the sync never reached its commit"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)

    with Engine.open(tmp_path / "b") as previous:  # every file's sha256 checked
        assert previous.manifest.version == 1
        assert [(h.id, h.score) for h in previous.search("Document 7 topic", k=20).hits] == before
        assert not previous.search("echidnas", k=1).hits

    report = sync(tmp_path / "b", pg_cluster.dsn, sql)  # the watermark did not move: same changes again
    assert (report.update.replaced, report.update.deleted) == (1, 1)
    with Engine.open(tmp_path / "b") as synced:
        assert hit_docs(synced, "echidnas eggs") == ["d7"]
        assert "d8" not in hit_docs(synced, "Document 8 talks topic")
        if store == "postgres":
            assert type(synced.store).__name__ == "PostgresChunkStore"
            assert synced.search("echidnas", k=1).hits[0].text == "Echidnas lay eggs."


def test_sync_cli_and_unreachable_server(tmp_path, pg_cluster, source, capsys):
    table, sql = source
    Engine.build(PostgresCorpus(pg_cluster.dsn, sql), tmp_path / "b", KEYWORD_ONLY)
    manifest = (tmp_path / "b" / "manifest.json").read_text()
    with pytest.raises(StoreUnavailableError, match="UNAVAILABLE"):
        sync(tmp_path / "b", "postgresql://postgres@127.0.0.1:1/nowhere", sql)
    assert (tmp_path / "b" / "manifest.json").read_text() == manifest

    pg_cluster.execute(f"INSERT INTO {table} (id, title, text) VALUES ('cli', 'CLI', 'Added for the CLI test.')")
    capsys.readouterr()
    assert main(["sync", str(tmp_path / "b"), pg_cluster.dsn, "--json"]) == 0  # the query comes from the manifest
    out = json.loads(capsys.readouterr().out)
    assert out["added"] == 1 and out["committed"] and out["version"] == 2
    assert main(["sync", str(tmp_path / "b"), "/not/a/dsn"]) == 2
    assert "postgresql://" in capsys.readouterr().err


def test_old_bundle_keys_are_deleted_once_no_kept_version_uses_them(tmp_path, pg_cluster, pg_schema):
    def rows(key: str) -> int:
        return int(pg_cluster.execute(f"SELECT count(*) FROM {pg_schema}.chunks WHERE bundle = '{key}'"))

    docs = [Document(id=f"d{i}", title="T", text=f"Document {i} says ordinary things.", metadata={"grp": f"g{i % 2}"})
            for i in range(8)]
    with Engine.build(docs, tmp_path / "b", KEYWORD_ONLY, store=pg_cluster.dsn, store_schema=pg_schema) as engine:
        first = engine.manifest.store.bundle
        engine.upsert([Document(id="d1", title="T", text="Now about a quokka.")])
        assert rows(first) == 9  # the added chunk went under the same key
        engine.compact()
        second = engine.manifest.store.bundle
        assert second != first and rows(second) == 8
        assert rows(first) == 9  # the previous version (still kept) reads them
        engine.upsert([Document(id="d2", title="T", text="Now about a wombat.")])
        assert rows(first) == 0 and rows(second) == 9  # no kept version uses the first key
        assert [h.doc_id for h in engine.search("quokka wombat", k=5).hits] == ["d1", "d2"]
        # Metadata filters on a bundle whose chunk text is in PostgreSQL (d1 and d2 lost theirs).
        assert {h.doc_id for h in engine.search("Document ordinary", k=10, filters={"grp": "g1"}).hits} == {"d3", "d5", "d7"}
    Engine.build(docs, tmp_path / "b", KEYWORD_ONLY, store=pg_cluster.dsn, store_schema=pg_schema,
                 overwrite=True).close()
    assert rows(second) == 0  # an overwrite leaves none of the old bundle's rows


def test_sync_into_a_collection_routes_rows_and_equals_a_fresh_sharded_build(tmp_path, pg_cluster, source):
    table, sql = source
    engine = Engine.build(PostgresCorpus(pg_cluster.dsn, sql), tmp_path / "col", KEYWORD_ONLY, shards=3)
    assert engine.manifest.sync["sql"] == sql and engine.manifest.sync["watermark"]
    pg_cluster.execute(
        f"UPDATE {table} SET text = 'Now about quokkas entirely.', updated_at = clock_timestamp() WHERE id = 'd3'",
        f"INSERT INTO {table} (id, title, text, grp) VALUES ('n1', 'New', 'A wombat appears.', 'g1')",
        f"DELETE FROM {table} WHERE id = 'd4'",
    )
    assert main(["sync", str(tmp_path / "col"), pg_cluster.dsn, "--json"]) == 0
    report = sync(tmp_path / "col", pg_cluster.dsn, sql)  # nothing new since
    assert not report.update.committed
    synced = Engine.open(tmp_path / "col")
    assert synced.manifest.version == 2 and synced.manifest.sync["watermark"] > engine.manifest.sync["watermark"]
    # The same live rows, in the collection's order, built fresh: the same answers.
    order = {d: i for i, d in enumerate(dict.fromkeys(synced.store.doc_ids(synced.live)))}
    rows = sorted(PostgresCorpus(pg_cluster.dsn, sql), key=lambda d: order[d.id])
    fresh = Engine.build(rows, tmp_path / "fresh", KEYWORD_ONLY, shards=3)
    for query in ("quokkas", "wombat", "Document 4 talks topic", "topic 2 length"):
        assert [(h.id, h.score) for h in synced.search(query, k=30).hits] == [
            (h.id, h.score) for h in fresh.search(query, k=30).hits
        ]
    assert hit_docs(synced, "wombat quokkas", filters={"grp": "g1"}) == hit_docs(fresh, "wombat quokkas", filters={"grp": "g1"})


def test_a_collection_keeps_its_chunk_text_in_postgresql_and_an_overwrite_drops_it(tmp_path, pg_cluster, pg_schema):
    def rows() -> int:
        return int(pg_cluster.execute(f"SELECT count(*) FROM {pg_schema}.chunks"))

    docs = [Document(id=f"d{i}", title="T", text=f"Document {i} says ordinary things.") for i in range(12)]
    with Engine.build(docs, tmp_path / "col", KEYWORD_ONLY, store=pg_cluster.dsn, store_schema=pg_schema,
                      shards=3) as engine:
        assert rows() == 12  # a fresh schema: every shard's chunks, under its own key
        one = Engine.build(docs, tmp_path / "one", KEYWORD_ONLY)
        assert [(h.id, h.text, h.score) for h in engine.search("Document 5 ordinary", k=5).hits] == [
            (h.id, h.text, h.score) for h in one.search("Document 5 ordinary", k=5).hits
        ]
    Engine.build(docs, tmp_path / "col", KEYWORD_ONLY, store=pg_cluster.dsn, store_schema=pg_schema, shards=2,
                 overwrite=True).close()
    assert rows() == 12  # the three old shards' rows are gone, the two new ones' are there
