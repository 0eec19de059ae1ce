"""`retrieval bench bm25`: our BM25 against rank-bm25 and bm25s, same tokens, same run.

Each library gets the same analyzed tokens for the corpus and is timed end to end per query:
query string → our analyzer → that library's top-10. One thread everywhere. Warm-up queries are
excluded; every query is timed with ``perf_counter_ns``; the query set runs ``repeats`` times and
the median pass is reported.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Callable, Sequence

import numpy as np

from ..config import AnalyzerConfig, BM25Config
from ..errors import ConfigError, CorpusError
from ..keyword import BM25, BM25Builder
from ..text import Analyzer
from .quality import percentiles_ms

K = 10
WARMUP = 10


def document_texts(corpus) -> list[str]:
    from ..ingest import read_corpus

    return [f"{d.title} {d.text}" if d.title else d.text for d in read_corpus(corpus)]


def topk_by_score(scores: np.ndarray, candidates: np.ndarray, k: int) -> list[int]:
    """Best-first ids among ``candidates``, ties broken by smaller id (the rule ours uses)."""
    cand = np.asarray(candidates)
    order = np.lexsort((cand, -scores[cand]))
    return cand[order[:k]].tolist()


def _time_queries(search: Callable[[str], object], queries: Sequence[str], repeats: int) -> tuple[float, list[int]]:
    """Queries/s of the median pass, and every per-query sample of every pass."""
    for q in queries[:WARMUP]:
        search(q)
    samples: list[int] = []
    pass_qps = []
    for _ in range(repeats):
        start = len(samples)
        for q in queries:
            t0 = time.perf_counter_ns()
            search(q)
            samples.append(time.perf_counter_ns() - t0)
        pass_qps.append(len(queries) / (sum(samples[start:]) / 1e9))
    return float(np.median(pass_qps)), samples


def run(
    corpus,
    queries: Sequence[str],
    analyzer_config: AnalyzerConfig | None = None,
    with_numba: bool = True,
    repeats: int = 3,
) -> dict:
    if not queries:  # each rate below divides by the number of queries
        raise ConfigError("bench bm25 needs at least one query")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"repeats must be a positive integer, got {repeats!r}")
    analyzer = Analyzer(analyzer_config or AnalyzerConfig())
    texts = document_texts(corpus)
    if not texts:
        raise CorpusError(f"corpus {corpus} has no documents")

    t0 = time.perf_counter()
    doc_tokens = analyzer.analyze_many(texts)
    analyze_s = time.perf_counter() - t0
    if not any(doc_tokens):  # the peers divide by the mean document length
        raise CorpusError(f"the analyzer found no terms in any of the {len(texts)} documents of {corpus}")

    # Ours, okapi variant: the same formula as rank-bm25, so the rankings must agree exactly.
    t0 = time.perf_counter()
    builder = BM25Builder(analyzer, BM25Config(variant="okapi"))
    for tokens in doc_tokens:
        builder.add_terms(tokens)
    ours: BM25 = builder.build()
    ours_build_s = time.perf_counter() - t0

    import bm25s
    from rank_bm25 import BM25Okapi

    t0 = time.perf_counter()
    rank = BM25Okapi(doc_tokens)
    rank_build_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    peer = bm25s.BM25()
    peer.index(doc_tokens, show_progress=False)
    bm25s_build_s = time.perf_counter() - t0

    def search_ours(q: str):
        return ours.search(q, K)

    def search_bm25s(q: str, retriever=peer):
        return retriever.retrieve([analyzer(q) or [""]], k=K, show_progress=False, n_threads=0)

    def search_rank(q: str):
        scores = rank.get_scores(analyzer(q))
        return np.lexsort((np.arange(len(scores)), -scores))[:K]

    ours_qps, ours_samples = _time_queries(search_ours, queries, repeats)
    bm25s_qps, _ = _time_queries(search_bm25s, queries, repeats)
    rank_qps, _ = _time_queries(search_rank, queries, repeats)
    result = {
        "ours_qps": ours_qps,
        "bm25s_qps": bm25s_qps,
        "rank_bm25_qps": rank_qps,
        "queries": len(queries),
        "documents": len(texts),
        "repeats": repeats,
        "ours_vs_bm25s": ours_qps / bm25s_qps,
        "ours_vs_rank_bm25": ours_qps / rank_qps,
        "ours_latency_ms": percentiles_ms(ours_samples),
        "top10_agreement_rank_bm25": agreement_with_rank_bm25(ours, rank, analyzer, queries),
        "build_s": {"analyze": analyze_s, "ours": ours_build_s, "bm25s": bm25s_build_s, "rank_bm25": rank_build_s},
    }
    if with_numba and _has_numba():
        fast = bm25s.BM25(backend="numba")
        fast.index(doc_tokens, show_progress=False)
        result["bm25s_numba_qps"], _ = _time_queries(lambda q: search_bm25s(q, fast), queries, repeats)
        result["ours_vs_bm25s_numba"] = ours_qps / result["bm25s_numba_qps"]
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    return result


def agreement_with_rank_bm25(ours: BM25, rank, analyzer: Analyzer, queries: Sequence[str]) -> float:
    """Fraction of queries whose top-10 id lists (order included) are identical.

    Candidates on the rank-bm25 side are the documents containing a query term, found from
    rank-bm25's own term frequencies; ties break by id on both sides.
    """
    same = 0
    for q in queries:
        tokens = analyzer(q)
        scores = rank.get_scores(tokens)
        matching = np.array([i for i, freqs in enumerate(rank.doc_freqs) if any(t in freqs for t in tokens)], dtype=np.int64)
        theirs = topk_by_score(scores, matching, K) if matching.size else []
        mine, _ = ours.search(q, K)
        same += mine.tolist() == theirs
    return same / len(queries) if queries else 0.0


def _has_numba() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True
