"""`retrieval bench bm25`: our BM25 against bm25s and rank-bm25, same tokens, same run.

Each library runs in its own child process, one after the other (so no library's memory or
threads disturb another's figures). A child analyzes the corpus with our analyzer, builds that
library's index from the same tokens (timed: the build; peak RSS: the whole child, tokens
included, so the libraries differ only by what their index costs), then times every query end to
end: query string -> our analyzer -> that library's top-10, one thread. Warm-up queries are
excluded; every query is timed with ``perf_counter_ns``; the query set runs ``repeats`` times and
the median pass is reported, with p50/p99 over every timed query. A batched pass (all queries in
one call, ``BATCH_THREADS`` threads) follows where the library has a batched API.

rank-bm25 scores every document in Python for every query: above ``RANK_BM25_MAX_DOCS``
documents it is skipped unless asked for explicitly (``rank_bm25_max_docs=None``), and the result
says so.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..config import AnalyzerConfig, BM25Config
from ..errors import ConfigError, CorpusError, RetrievalError
from ..text import Analyzer
from .quality import percentiles_ms

K = 10
BATCH_THREADS = 2
RANK_BM25_MAX_DOCS = 50_000
# "bm25s" runs both its backends (numba only where installed); "bm25s-numba" only the fast one.
PEERS = ("bm25s", "bm25s-numba", "rank-bm25")
LIBRARIES = ("ours", "bm25s", "bm25s-numba", "rank-bm25")


def document_texts(corpus) -> list[str]:
    from ..ingest import read_corpus

    return [f"{d.title} {d.text}" if d.title else d.text for d in read_corpus(corpus)]


def topk_by_score(scores: np.ndarray, candidates: np.ndarray, k: int) -> list[int]:
    """Best-first ids among ``candidates``, ties broken by smaller id (the rule ours uses)."""
    cand = np.asarray(candidates)
    order = np.lexsort((cand, -scores[cand]))
    return cand[order[:k]].tolist()


def parse_peers(text: str) -> tuple[str, ...]:
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in names if p not in PEERS]
    if unknown:
        raise ConfigError(f"unknown peer {unknown[0]!r}; choose from {', '.join(PEERS)} (comma-separated)")
    return names


# -- the parent: checks the inputs, runs one child per library, compares their answers ----------


def run(
    corpus,
    queries: Sequence[str],
    analyzer_config: AnalyzerConfig | None = None,
    with_numba: bool = True,
    repeats: int = 3,
    peers: Sequence[str] = PEERS,
    rank_bm25_max_docs: int | None = RANK_BM25_MAX_DOCS,
) -> dict:
    if not queries:  # each rate below divides by the number of queries
        raise ConfigError("bench bm25 needs at least one query")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"repeats must be a positive integer, got {repeats!r}")
    analyzer_config = analyzer_config or AnalyzerConfig()
    documents = _check_corpus(corpus, Analyzer(analyzer_config))

    libraries = ["ours"]
    if "bm25s" in peers:
        libraries.append("bm25s")
    if ("bm25s" in peers or "bm25s-numba" in peers) and with_numba and _has_numba():
        libraries.append("bm25s-numba")
    skipped: dict[str, str] = {}
    if "rank-bm25" in peers:
        if rank_bm25_max_docs is not None and documents > rank_bm25_max_docs:
            skipped["rank-bm25"] = (
                f"{documents:,} documents > {rank_bm25_max_docs:,}: rank-bm25 scores every document in Python "
                "(minutes a pass); --rank-bm25-max-docs raises the limit"
            )
        else:
            libraries.append("rank-bm25")

    with tempfile.TemporaryDirectory(prefix="bench-bm25-") as tmp:
        query_file = Path(tmp) / "queries.json"
        query_file.write_text(json.dumps(list(queries)), encoding="utf-8")
        config_file = Path(tmp) / "analyzer.json"
        config_file.write_text(json.dumps(dataclasses.asdict(analyzer_config)), encoding="utf-8")
        measured = {lib: _run_child(lib, corpus, query_file, config_file, repeats) for lib in libraries}

    ours = measured["ours"]
    result: dict[str, Any] = {
        "queries": len(queries),
        "documents": documents,
        "repeats": repeats,
        "libraries": {lib: {k: v for k, v in m.items() if k != "top10"} for lib, m in measured.items()},
        "skipped": skipped,
        "ours_qps": ours["qps"],
        "ours_latency_ms": ours["latency_ms"],
        "build_s": {lib: m["build_s"] for lib, m in measured.items()},
        "peak_rss_mb": {lib: m["peak_rss_mb"] for lib, m in measured.items()},
    }
    for lib, m in measured.items():
        if lib == "ours":
            continue
        key = lib.replace("-", "_")
        result[f"{key}_qps"] = m["qps"]
        result[f"ours_vs_{key}"] = ours["qps"] / m["qps"]
    result.setdefault("bm25s_qps", None)
    result.setdefault("rank_bm25_qps", None)
    # Ours and rank-bm25 compute the same okapi scores: their top-10 lists must be identical.
    result["top10_agreement_rank_bm25"] = (
        _agreement(ours["top10"], measured["rank-bm25"]["top10"]) if "rank-bm25" in measured else None
    )
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    return result


def _check_corpus(corpus, analyzer: Analyzer) -> int:
    """The number of documents; a one-line error when there are none or none has a term."""
    from ..ingest import read_corpus

    documents, has_terms = 0, False
    for doc in read_corpus(corpus):
        documents += 1
        if not has_terms:
            has_terms = bool(analyzer(f"{doc.title} {doc.text}"))
    if documents == 0:
        raise CorpusError(f"corpus {corpus} has no documents")
    if not has_terms:  # the peers divide by the mean document length
        raise CorpusError(f"the analyzer found no terms in any of the {documents} documents of {corpus}")
    return documents


def _run_child(library: str, corpus, query_file: Path, config_file: Path, repeats: int) -> dict:
    command = [sys.executable, "-m", "retrieval.bench.bm25_peers", library, str(corpus), str(query_file),
               str(config_file), str(repeats)]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        raise RetrievalError(f"bench bm25: {library} failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
    return json.loads(proc.stdout)


def _agreement(ours: list[list[int]], theirs: list[list[int]]) -> float:
    """Fraction of queries whose top-10 id lists (order included) are identical."""
    return sum(a == b for a, b in zip(ours, theirs)) / len(ours)


def _has_numba() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


# -- a child: one library, built and timed ---------------------------------------------------------


def measure(library: str, corpus, queries: Sequence[str], analyzer_config: AnalyzerConfig, repeats: int) -> dict:
    analyzer = Analyzer(analyzer_config)
    doc_tokens = analyzer.analyze_many(document_texts(corpus))
    rss_before = _rss_mb()
    t0 = time.perf_counter()
    search, search_batch, top10 = _BUILDERS[library](doc_tokens, analyzer)
    build_s = time.perf_counter() - t0
    index_mb = _rss_mb() - rss_before
    del doc_tokens
    qps, samples = _time_queries(search, queries, repeats)
    result = {
        "build_s": build_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "index_rss_mb": index_mb,
        "qps": qps,
        "latency_ms": percentiles_ms(samples),
        "batch_qps": None,
        "top10": [top10(q) for q in queries],
    }
    if search_batch is not None:
        search_batch(queries)  # warm-up
        t0 = time.perf_counter()
        search_batch(queries)
        result["batch_qps"] = len(queries) / (time.perf_counter() - t0)
    return result


def _time_queries(search: Callable[[str], object], queries: Sequence[str], repeats: int) -> tuple[float, list[int]]:
    """Queries/s of the median pass, and every per-query sample of every pass."""
    for q in queries:  # warm-up
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


def _build_ours(doc_tokens, analyzer: Analyzer):
    from ..keyword import BM25Builder

    # The okapi variant: rank-bm25's formula, so the rankings must agree exactly.
    builder = BM25Builder(analyzer, BM25Config(variant="okapi"))
    for tokens in doc_tokens:
        builder.add_terms(tokens)
    ours = builder.build()

    def search(q: str):
        return ours.search(q, K)

    def search_batch(qs: Sequence[str]):
        return ours.search_batch(qs, K, n_threads=BATCH_THREADS)

    return search, search_batch, lambda q: ours.search(q, K)[0].tolist()


def _bm25s_builder(backend: str):
    def build(doc_tokens, analyzer: Analyzer):
        import bm25s

        retriever = bm25s.BM25(backend=backend)
        retriever.index(doc_tokens, show_progress=False)

        def search(q: str):
            return retriever.retrieve([analyzer(q) or [""]], k=K, show_progress=False, n_threads=0)

        def search_batch(qs: Sequence[str]):
            tokens = [analyzer(q) or [""] for q in qs]
            return retriever.retrieve(tokens, k=K, show_progress=False, n_threads=BATCH_THREADS)

        def top10(q: str) -> list[int]:
            docs, _ = search(q)
            return np.asarray(docs[0]).tolist()

        return search, search_batch, top10

    return build


def _build_rank_bm25(doc_tokens, analyzer: Analyzer):
    from rank_bm25 import BM25Okapi

    rank = BM25Okapi(doc_tokens)

    def search(q: str):
        scores = rank.get_scores(analyzer(q))
        return np.lexsort((np.arange(len(scores)), -scores))[:K]

    def top10(q: str) -> list[int]:
        # Candidates are the documents holding a query term (from rank-bm25's own term
        # frequencies), ties broken by id: the rule ours uses.
        tokens = analyzer(q)
        scores = rank.get_scores(tokens)
        matching = np.array([i for i, freqs in enumerate(rank.doc_freqs) if any(t in freqs for t in tokens)],
                            dtype=np.int64)
        return topk_by_score(scores, matching, K) if matching.size else []

    return search, None, top10


_BUILDERS = {
    "ours": _build_ours,
    "bm25s": _bm25s_builder("numpy"),
    "bm25s-numba": _bm25s_builder("numba"),
    "rank-bm25": _build_rank_bm25,
}


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child_main(argv: list[str]) -> int:
    library, corpus, query_file, config_file, repeats = argv
    queries = json.loads(Path(query_file).read_text(encoding="utf-8"))
    config = AnalyzerConfig(**json.loads(Path(config_file).read_text(encoding="utf-8")))
    try:
        result = measure(library, corpus, queries, config, int(repeats))
    except RetrievalError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(_child_main(sys.argv[1:]))
