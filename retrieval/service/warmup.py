"""Warm-up before the server reports SERVING: the first real query should not pay for cold starts.

A fresh process pays once for onnxruntime's first run (memory planning, kernel selection), for
FAISS and BM25 pages faulted in from memory-mapped files, and for empty caches. ``warm`` runs a
few searches in every mode the bundle supports (plus recent production queries, when given, so
their embeddings land in the LRU cache), through the same batcher the service uses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import RetrievalError

if TYPE_CHECKING:
    from .batcher import MicroBatcher

log = logging.getLogger(__name__)

#: generic queries touching common words: enough to exercise every stage without a query log
DEFAULT_QUERIES = (
    "what is this about",
    "how do I read a file",
    "error handling and exceptions",
    "configuration options",
    "performance of search",
)
#: recent queries replayed at most (warm-up must stay short: the server is not serving yet)
MAX_QUERIES = 64


@dataclass(frozen=True)
class WarmupReport:
    searches: int
    failures: int
    seconds: float
    modes: tuple[str, ...]


async def warm(
    engine: Any,
    batcher: MicroBatcher | None,
    queries: Sequence[str] | None = None,
    modes: Sequence[str] | None = None,
    k: int = 10,
) -> WarmupReport:
    """Run the default queries and up to ``MAX_QUERIES`` of ``queries`` in each of ``modes``.

    ``modes``: default every mode the bundle supports; modes it does not support are skipped.
    Dense modes embed through ``batcher`` when one is given (warming it and its batch shapes),
    else through the engine. A failing query (say a malformed line in a query log) is logged
    and counted, never raised: warm-up must not keep a healthy server from starting.
    """
    started = time.perf_counter()
    supported = tuple(engine.modes)
    wanted = supported if modes is None else tuple(m for m in modes if m in supported)
    skipped = sorted(set(modes or ()) - set(supported))
    if skipped:
        log.info("warm-up skips modes this bundle does not support: %s", ", ".join(skipped))
    texts = list(dict.fromkeys([*DEFAULT_QUERIES, *(queries or ())[:MAX_QUERIES]]))
    vectors: dict[str, Any] = {}
    failures = 0
    if batcher is not None and any(m != "bm25" for m in wanted):
        # All at once: the batcher forms real batches, the shapes production will see.
        results = await asyncio.gather(*(batcher.embed(t) for t in texts), return_exceptions=True)
        for text, result in zip(texts, results):
            if isinstance(result, RetrievalError):
                failures += 1
                _log_failure("embed", text, result)
            elif isinstance(result, BaseException):
                raise result  # a broken embedder is not something to start serving with
            else:
                vectors[text] = result
    searches = 0
    for mode in wanted:
        for text in texts:
            vector = vectors.get(text) if mode != "bm25" else None
            if mode != "bm25" and batcher is not None and vector is None:
                continue  # its embedding failed above, already counted
            try:
                await engine.asearch(text, k, mode, None, vector)
                searches += 1
            except RetrievalError as exc:
                failures += 1
                _log_failure(mode, text, exc)
    report = WarmupReport(searches, failures, time.perf_counter() - started, wanted)
    log.info("warm-up: %d searches in %s, %d failures, %.2f s", searches, ", ".join(wanted), failures, report.seconds)
    return report


def read_warmup_queries(path: str | Path) -> list[str]:
    """Query texts from a ``.jsonl`` file (``"text"`` fields) or a plain file, one per line."""
    from ..ingest.readers import read_query_texts

    return read_query_texts(path)


def _log_failure(stage: str, text: str, exc: BaseException) -> None:
    log.warning("warm-up %s failed for %r: %s", stage, text[:80], exc)
