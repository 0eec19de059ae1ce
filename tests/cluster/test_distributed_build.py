"""``retrieval index --shards N --ray``: the Ray Data build equals the in-process sharded build.

Same shards, the same chunks in each (text, offsets, ids), the same collection chunk ids, the
same corpus statistics, BM25 ids and scores bit for bit; vectors and sentence vectors within
rounding (other batches). Read from JSONL cut into several byte ranges and from Parquet row
groups, so part order matters. Bad input fails with one line and leaves nothing at the path.
"""

from __future__ import annotations

import json
import time
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retrieval import Engine, IndexConfig
from retrieval.cluster.build import build_on_ray, check_writable
from retrieval.cluster.connect import ClusterError, connect
from retrieval.collection.opening import read_collection_manifest
from retrieval.errors import CorpusError
from retrieval.ingest import read_corpus, read_queries

KEYWORD_DOCS = 400
DENSE_DOCS = 20
SHARDS = 3


def _write_jsonl(docs, path: Path) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i, d in enumerate(docs):
            f.write(json.dumps({"_id": d.id, "title": d.title, "text": d.text, "part": str(i % 3), "n": i}) + "\n")
            if i % 97 == 0:
                f.write("\n")  # blank lines are skipped, and numbered
    return path


@pytest.fixture(scope="module")
def corpora(scifact_dir: Path, tmp_path_factory) -> dict[str, Path]:
    docs = list(read_corpus(scifact_dir / "corpus.jsonl"))
    root = tmp_path_factory.mktemp("ray-corpora")
    keyword = _write_jsonl(docs[:KEYWORD_DOCS], root / "keyword.jsonl")
    table = pa.table({"_id": [d.id for d in docs[:KEYWORD_DOCS]], "title": [d.title for d in docs[:KEYWORD_DOCS]],
                      "text": [d.text for d in docs[:KEYWORD_DOCS]], "n": list(range(KEYWORD_DOCS))})
    parquet = root / "keyword.parquet"
    pq.write_table(table, parquet, row_group_size=50)
    dense = _write_jsonl(docs[:DENSE_DOCS], root / "dense.jsonl")
    return {"keyword": keyword, "parquet": parquet, "dense": dense}


@pytest.fixture(scope="module")
def queries(scifact_dir: Path) -> list[str]:
    return [text for _, text in read_queries(scifact_dir / "queries.jsonl")][:60]


def _shard_arrays(root: Path) -> dict[str, dict[str, np.ndarray]]:
    manifest = read_collection_manifest(root)
    out = {}
    for entry in manifest.shards:
        if entry.empty:
            continue
        shard = Engine.open(root / entry.name)
        chunks = shard.store.get(np.arange(len(shard.store)))
        out[entry.name] = {
            "ids": np.load(root / manifest.state / f"ids-{entry.name}.npy"),
            "chunks": [(c.id, c.doc_id, c.text, c.title, c.start, c.end, c.n_tokens) for c in chunks],
            "vectors": shard.view().planner.dense.vectors[:] if shard.view().planner.dense else None,
            "sentences": shard.sentences,
            "documents": shard.counts["documents"],
        }
    return out


def assert_same_collection(expected: Path, actual: Path, queries: list[str], modes=("bm25",)) -> None:
    a, b = read_collection_manifest(expected), read_collection_manifest(actual)
    assert a.counts == b.counts and a.bm25 == b.bm25
    assert [(s.name, s.chunks, s.documents, s.empty) for s in a.shards] == [(s.name, s.chunks, s.documents, s.empty) for s in b.shards]
    assert (expected / a.state / "terms.json").read_text() == (actual / b.state / "terms.json").read_text()
    assert np.array_equal(np.load(expected / a.state / "df.npy"), np.load(actual / b.state / "df.npy"))
    left, right = _shard_arrays(expected), _shard_arrays(actual)
    assert left.keys() == right.keys()
    for name in left:
        assert np.array_equal(left[name]["ids"], right[name]["ids"]), name
        assert left[name]["chunks"] == right[name]["chunks"], name
        assert left[name]["documents"] == right[name]["documents"]
        if left[name]["vectors"] is not None:
            np.testing.assert_allclose(left[name]["vectors"], right[name]["vectors"], atol=2e-5)
            ls, rs = left[name]["sentences"], right[name]["sentences"]
            chunks = range(len(left[name]["chunks"]))
            lspans, lvecs = ls.rows(chunks)
            rspans, rvecs = rs.rows(chunks)
            assert np.array_equal(lspans, rspans)
            np.testing.assert_allclose(lvecs.astype(np.float32), rvecs.astype(np.float32), atol=2e-3)
    one, other = Engine.open(expected), Engine.open(actual)
    for mode in modes:
        for query in queries:
            x, y = one.search(query, 10, mode), other.search(query, 10, mode)
            assert [h.chunk for h in x.hits] == [h.chunk for h in y.hits], (mode, query)
            if mode == "bm25":
                assert [h.score for h in x.hits] == [h.score for h in y.hits], query
    for engine in (one, other):
        engine.close()


@pytest.fixture(scope="module")
def in_process_keyword(corpora, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ray-inproc") / "keyword"
    Engine.build(corpora["keyword"], out, IndexConfig(dense=False), shards=SHARDS).close()
    return out


def test_jsonl_in_byte_ranges_equals_the_in_process_build(ray_cluster, corpora, in_process_keyword, queries, tmp_path) -> None:
    out = tmp_path / "on-ray"
    build_on_ray(corpora["keyword"], out, IndexConfig(dense=False), SHARDS, address=ray_cluster.address,
                 part_bytes=32 * 1024)  # several parts: their order must not matter
    assert_same_collection(in_process_keyword, out, queries)


def test_parquet_row_groups_equal_the_in_process_build(ray_cluster, corpora, queries, tmp_path) -> None:
    expected, out = tmp_path / "in-process", tmp_path / "on-ray"
    Engine.build(corpora["parquet"], expected, IndexConfig(dense=False), shards=SHARDS).close()
    build_on_ray(corpora["parquet"], out, IndexConfig(dense=False), SHARDS, address=ray_cluster.address)
    assert_same_collection(expected, out, queries)


def test_dense_build_embeds_in_actors_and_equals_the_in_process_build(ray_cluster, corpora, queries, tmp_path) -> None:
    expected, out = tmp_path / "in-process", tmp_path / "on-ray"
    Engine.build(corpora["dense"], expected, shards=SHARDS).close()
    build_on_ray(corpora["dense"], out, IndexConfig(), SHARDS, address=ray_cluster.address, embed_actors=2)
    assert_same_collection(expected, out, queries[:15], modes=("bm25", "dense", "hybrid", "prefilter"))


def test_a_duplicate_id_fails_the_build_and_leaves_nothing(ray_cluster, tmp_path) -> None:
    corpus = tmp_path / "dup.jsonl"
    corpus.write_text("".join(json.dumps({"_id": i, "text": f"text {i}"}) + "\n" for i in ["a", "b", "c", "a"]))
    with pytest.raises(CorpusError, match="duplicate document id 'a'"):
        build_on_ray(corpus, tmp_path / "out", IndexConfig(dense=False), 2, address=ray_cluster.address)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dup.jsonl"]


def test_a_corpus_without_text_is_refused_as_in_process(ray_cluster, tmp_path) -> None:
    corpus = tmp_path / "empty.jsonl"
    corpus.write_text("".join(json.dumps({"_id": i, "text": ""}) + "\n" for i in ["a", "b"]))
    with pytest.raises(CorpusError, match="has no documents with text to index"):
        build_on_ray(corpus, tmp_path / "out", IndexConfig(dense=False), 2, address=ray_cluster.address)
    assert not (tmp_path / "out").exists()


def test_a_node_that_cannot_write_the_output_is_named(ray_cluster, tmp_path) -> None:
    # What a worker without the shared filesystem sees: the output's directory does not exist there.
    with pytest.raises(ClusterError, match=r"cannot write the output: .*missing.*No such file or directory"):
        check_writable(connect(ray_cluster.address), tmp_path / "missing")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "retrieval.cli", *args], capture_output=True, text=True, timeout=120)


def test_an_unreachable_address_is_one_line(corpora, tmp_path) -> None:
    result = _cli("index", str(corpora["dense"]), "--out", str(tmp_path / "x"), "--shards", "2", "--no-dense",
                  "--ray", f"127.0.0.1:{_free_port()}")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "cannot reach the Ray cluster at 127.0.0.1:" in result.stderr and "refused" in result.stderr
    assert not (tmp_path / "x").exists()


def test_an_output_path_that_cannot_be_written_is_one_line(corpora, tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = _cli("index", str(corpora["dense"]), "--out", str(blocker / "out"), "--shards", "2", "--no-dense",
                  "--ray", "127.0.0.1:1")
    assert result.returncode != 0 and result.stderr.strip().count("\n") == 0, result.stderr
    assert str(blocker) in result.stderr


def test_ray_needs_shards(corpora, tmp_path) -> None:
    result = _cli("index", str(corpora["dense"]), "--out", str(tmp_path / "x"), "--ray")
    assert result.returncode != 0 and "--ray builds a sharded collection: add --shards N" in result.stderr


@pytest.mark.postgres
def test_a_postgres_query_in_id_ranges_equals_the_in_process_build(ray_cluster, pg_cluster, pg_dsn, scifact_dir,
                                                                   queries, tmp_path) -> None:
    from retrieval.ingest.postgres_reader import PostgresCorpus

    docs = list(read_corpus(scifact_dir / "corpus.jsonl"))[:300]
    rows = ", ".join(
        "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in (d.id, d.title, d.text)) + f", {i % 5}, "
        f"TIMESTAMPTZ '2026-01-01' + {i} * INTERVAL '1 minute')"
        for i, d in enumerate(docs)
    )
    pg_cluster.execute("CREATE TABLE ray_corpus (id text PRIMARY KEY, title text, text text, grp int, updated_at timestamptz)",
                       f"INSERT INTO ray_corpus VALUES {rows}")
    sql = "SELECT id, title, text, grp, updated_at FROM ray_corpus ORDER BY id"
    expected, out = tmp_path / "in-process", tmp_path / "on-ray"
    Engine.build(PostgresCorpus(pg_dsn, sql), expected, IndexConfig(dense=False), shards=SHARDS).close()
    build_on_ray(PostgresCorpus(pg_dsn, sql), out, IndexConfig(dense=False), SHARDS, address=ray_cluster.address)
    assert_same_collection(expected, out, queries)
    assert read_collection_manifest(out).sync == read_collection_manifest(expected).sync
    assert read_collection_manifest(out).sync["watermark"].startswith("2026-01-01T04:59")


def test_a_writer_killed_mid_write_is_retried_by_ray(ray_cluster, corpora, in_process_keyword, queries, tmp_path) -> None:
    """SIGKILL the worker process writing a shard (found by its temporary directory, which
    carries its pid): Ray runs the task again, and the collection is the same as ever."""
    import os
    import re
    import signal
    import threading

    out = tmp_path / "on-ray"
    killed: list[int] = []
    done = threading.Event()

    def killer() -> None:
        while not done.is_set() and not killed:
            for entry in tmp_path.glob(".on-ray.tmp-*/.shard-*.tmp-*"):
                match = re.search(r"\.tmp-(\d+)-", entry.name)
                if match:
                    pid = int(match.group(1))
                    try:
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                    except ProcessLookupError:
                        pass
                    break
            time.sleep(0.001)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        build_on_ray(corpora["keyword"], out, IndexConfig(dense=False), SHARDS, address=ray_cluster.address)
    finally:
        done.set()
        thread.join(5)
    assert killed, "no shard writer was caught writing"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert_same_collection(in_process_keyword, out, queries)
