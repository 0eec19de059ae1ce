"""Warm-up: searches in every supported mode through the batcher; warm-up query files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from retrieval import Engine, IndexConfig
from retrieval.errors import CorpusError
from retrieval.service.batcher import MicroBatcher
from retrieval.service.warmup import DEFAULT_QUERIES, read_warmup_queries, warm
from tests.conftest import SMALL_CORPUS, write_jsonl


@pytest.fixture(scope="module")
def engines(tmp_path_factory) -> tuple[Engine, Engine]:
    root = tmp_path_factory.mktemp("warmup")
    corpus = write_jsonl(root / "corpus.jsonl", SMALL_CORPUS)
    dense = Engine.build(corpus, root / "dense", IndexConfig.from_dict({"dense": True}))
    keyword = Engine.build(corpus, root / "bm25", IndexConfig.from_dict({"dense": False}))
    return dense, keyword


def test_warm_runs_every_mode_through_the_batcher_and_fills_the_embedding_cache(engines):
    engine, _ = engines
    sizes: list[int] = []
    recent = ["json parsing", "how to open files", "json parsing"]

    async def main():
        batcher = MicroBatcher(engine.embed_queries, max_batch=32, max_wait_ms=5, on_batch=sizes.append)
        report = await warm(engine, batcher, recent)
        await batcher.close()
        return report

    report = asyncio.run(main())
    texts = len(DEFAULT_QUERIES) + 2  # the repeated recent query is run once
    assert report.modes == ("bm25", "dense", "hybrid", "prefilter", "auto")
    assert report.searches == len(report.modes) * texts and report.failures == 0
    assert sizes == [texts]  # all embeddings in one batch
    cache = engine.planner.dense.embedder.cache
    hits = cache.stats().hits
    engine.search("how to open files", 3, "dense")
    assert cache.stats().hits == hits + 1  # the recent query's embedding is already cached


def test_warm_skips_unsupported_modes_and_counts_failures(engines):
    engine, keyword = engines
    report = asyncio.run(warm(keyword, None, ["json"], modes=["bm25", "dense"]))
    assert report.modes == ("bm25",) and report.searches == len(DEFAULT_QUERIES) + 1

    async def with_broken_text():
        batcher = MicroBatcher(engine.embed_queries, max_wait_ms=1)
        try:
            return await warm(engine, batcher, ["fine query", "lone \ud800 surrogate"], modes=["dense"])
        finally:
            await batcher.close()

    report = asyncio.run(with_broken_text())
    assert report.modes == ("dense",)
    assert report.failures == 1 and report.searches == len(DEFAULT_QUERIES) + 1


def test_warm_without_a_batcher_embeds_through_the_engine(engines):
    engine, _ = engines
    report = asyncio.run(warm(engine, None, modes=["hybrid"]))
    assert report.searches == len(DEFAULT_QUERIES) and report.failures == 0 and report.seconds > 0


def test_read_warmup_queries_plain_and_jsonl(tmp_path: Path):
    plain = tmp_path / "recent.txt"
    plain.write_text("\ufefffirst query\n\n  second query  \n", encoding="utf-8")
    assert read_warmup_queries(plain) == ["first query", "second query"]
    jsonl = write_jsonl(tmp_path / "q.jsonl", [{"_id": "1", "text": "a"}, {"text": "b"}])
    assert read_warmup_queries(jsonl) == ["a", "b"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"title": "no text"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"bad.jsonl:2: missing field 'text'"):
        read_warmup_queries(bad)
    with pytest.raises(CorpusError, match="not found"):
        read_warmup_queries(tmp_path / "missing.txt")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(CorpusError, match="UTF-8"):
        read_warmup_queries(latin1)
