"""PostgreSQL store and incremental updates on SciFact, against a throwaway PostgreSQL 15 cluster.

    .venv/bin/python benchmarks/postgres_sync.py [--scifact ../shared/data/scifact] [--changed 100]

Measures, in one run (prints one JSON object; the machine and versions are recorded in it):
  ingest     keyword-only builds from the PostgreSQL table vs from corpus.jsonl, alternating,
             3 each: median wall times and their ratio.
  fetch      10 chunks by id through the bundle's PostgreSQL store over a warm pool (and the
             Parquet store for reference): p50 and p99 over 2,000 fetches after 200 warm-up.
  sync       a full build of the default bundle (dense + sentence index) from the table, then
             ``--changed`` documents edited in the table and ``sync``: the sync's wall time over
             the full build's (target <= 0.1).
  upsert     on a copy of that fresh bundle, 10% of SciFact upserted with unchanged text, twice:
             as-is (skipped by content hash) and with ``force=True`` (tombstoned, re-chunked,
             re-embedded, re-added): nDCG@10 per mode against the fresh bundle's.
The cluster runs with fsync off (a benchmark server), on this machine, in a temp directory.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval import Engine, IndexConfig  # noqa: E402
from retrieval.bench.quality import evaluate  # noqa: E402
from retrieval.ingest import read_corpus  # noqa: E402
from retrieval.ingest.postgres_reader import PostgresCorpus  # noqa: E402
from retrieval.ingest.readers import read_qrels, read_queries  # noqa: E402
from retrieval.updates.sync import sync  # noqa: E402
from tests.stores.conftest import PgCluster, _bindir, _free_port  # noqa: E402

MODES = ("bm25", "dense", "hybrid")


def start_cluster() -> PgCluster:
    import os

    as_postgres = os.geteuid() == 0
    workdir = Path(tempfile.mkdtemp(prefix="pgsync-bench-pg-"))  # its own: the server user must reach it
    (workdir / "socket").mkdir(parents=True)
    if as_postgres:
        shutil.chown(workdir, "postgres", "postgres")
        shutil.chown(workdir / "socket", "postgres", "postgres")
    cluster = PgCluster(_bindir(), workdir, _free_port(), as_postgres, database="bench")
    cluster.initdb()
    cluster.start()
    cluster.create_database()
    return cluster


def load_table(cluster: PgCluster, corpus: Path) -> int:
    import asyncio

    import asyncpg

    rows = [(d.id, d.title, d.text) for d in read_corpus(corpus)]

    async def load() -> None:
        conn = await asyncpg.connect(cluster.dsn)
        try:
            await conn.execute(
                "CREATE TABLE scifact (id text PRIMARY KEY, title text, text text NOT NULL, "
                "updated_at timestamptz NOT NULL DEFAULT clock_timestamp())"
            )
            await conn.copy_records_to_table("scifact", records=rows, columns=["id", "title", "text"])
        finally:
            await conn.close()

    asyncio.run(load())
    return len(rows)


def timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def bench_ingest(cluster: PgCluster, corpus: Path, work: Path, runs: int = 3) -> dict:
    sql = "SELECT id, title, text FROM scifact"
    pg, jsonl = [], []
    for i in range(runs):  # alternating, so background load falls on both alike
        pg.append(timed(lambda: Engine.build(PostgresCorpus(cluster.dsn, sql), work / f"pg{i}", IndexConfig(dense=False)))[0])
        jsonl.append(timed(lambda: Engine.build(corpus, work / f"jsonl{i}", IndexConfig(dense=False)))[0])
    return {
        "postgres_s": [round(x, 3) for x in pg],
        "jsonl_s": [round(x, 3) for x in jsonl],
        "ratio_median": round(statistics.median(pg) / statistics.median(jsonl), 3),
    }


def bench_fetch(cluster: PgCluster, corpus: Path, work: Path) -> dict:
    out = {}
    pg_engine = Engine.build(corpus, work / "pgstore", IndexConfig(dense=False), store=cluster.dsn, store_schema="bench")
    parquet_engine = Engine.open(work / "jsonl0")
    for name, engine in (("postgres", pg_engine), ("parquet", parquet_engine)):
        store = engine.store
        rng = np.random.default_rng(0)
        samples = []
        for i in range(2200):
            ids = rng.integers(0, len(store), size=10)
            t0 = time.perf_counter_ns()
            store.get(ids)
            if i >= 200:
                samples.append(time.perf_counter_ns() - t0)
        out[name] = {"p50_ms": round(float(np.percentile(samples, 50)) / 1e6, 3), "p99_ms": round(float(np.percentile(samples, 99)) / 1e6, 3)}
    return out


def eval_modes(engine: Engine, queries, qrels) -> dict:
    return {mode: round(evaluate(engine, queries, qrels, mode=mode, k=100)["ndcg@10"], 6) for mode in MODES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scifact", default=str(ROOT.parent / "shared" / "data" / "scifact"))
    parser.add_argument("--changed", type=int, default=100)
    parser.add_argument("--skip-ingest", action="store_true")
    args = parser.parse_args()
    scifact = Path(args.scifact)
    corpus = scifact / "corpus.jsonl"
    queries = read_queries(scifact / "queries.jsonl")
    qrels = read_qrels(scifact / "qrels" / "test.tsv")
    work = Path(tempfile.mkdtemp(prefix="pgsync-bench-"))
    cluster = start_cluster()
    result: dict = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": __import__("os").cpu_count()},
    }
    try:
        result["documents"] = load_table(cluster, corpus)
        if not args.skip_ingest:
            result["ingest"] = bench_ingest(cluster, corpus, work)
            result["fetch_10"] = bench_fetch(cluster, corpus, work)

        sql = "SELECT id, title, text, updated_at FROM scifact"
        full_s, fresh = timed(lambda: Engine.build(PostgresCorpus(cluster.dsn, sql), work / "full", IndexConfig()))
        result["full_build_s"] = round(full_s, 2)
        result["full_build_stages_s"] = fresh.manifest.build_stages_s
        fresh_ndcg = eval_modes(fresh, queries, qrels)
        result["fresh_ndcg@10"] = fresh_ndcg

        # Upsert 10% with unchanged text, on a copy of the fresh bundle.
        shutil.copytree(work / "full", work / "upsert")
        docs = list(read_corpus(corpus))
        sample = random.Random(0).sample(docs, len(docs) // 10)
        engine = Engine.open(work / "upsert", verify=False)
        as_is_s, as_is = timed(lambda: engine.upsert(sample))
        forced_s, forced = timed(lambda: engine.upsert(sample, force=True))
        forced_ndcg = eval_modes(engine, queries, qrels)
        result["upsert_10pct"] = {
            "documents": len(sample),
            "as_is": {"seconds": round(as_is_s, 2), "unchanged": as_is.unchanged, "committed": as_is.committed},
            "forced": {"seconds": round(forced_s, 2), "replaced": forced.replaced, "chunks_added": forced.chunks_added,
                       "ndcg@10": forced_ndcg,
                       "equal_to_fresh": {m: forced_ndcg[m] == fresh_ndcg[m] for m in MODES},
                       "abs_diff": {m: abs(forced_ndcg[m] - fresh_ndcg[m]) for m in MODES}},
        }

        # Sync of --changed edited documents on the fresh bundle.
        ids = [d.id for d in random.Random(1).sample(docs, args.changed)]
        cluster.execute(
            "UPDATE scifact SET text = text || ' This abstract was revised.', updated_at = clock_timestamp() "
            f"WHERE id IN ({', '.join(repr(i) for i in ids)})"
        )
        sync_s, report = timed(lambda: sync(work / "full", cluster.dsn, sql))
        result["sync"] = {
            "changed": args.changed,
            "seconds": round(sync_s, 2),
            "ratio_to_full_build": round(sync_s / full_s, 4),
            "replaced": report.update.replaced,
            "rows_read": report.rows_read,
            "stages_s": {**report.stages_s, **report.update.stages_s},
        }
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(cluster.root, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
