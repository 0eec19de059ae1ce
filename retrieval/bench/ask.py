"""Time to first token with and without context compression, over real questions.

For each question the same pipeline runs twice, alternating which goes first: once with the
compressor fitting the sources to ``budget_tokens``, once with whole chunks in rank order
while they fit the context window (what a plain RAG prompt does). Each run stops after its
first token: only the time to it is measured, end to end from the question (search, limiter,
compression, prompt evaluation). One untimed warm-up question per setting loads the model,
fills the prefix cache and the embedder's caches first.
"""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path
from typing import Any

from ..answer import Answerer
from ..errors import ConfigError
from ..ingest.readers import read_qrels, read_queries


def judged_questions(queries: str | Path, qrels: str | Path | None, limit: int) -> list[str]:
    """The first ``limit`` queries, only those judged in ``qrels`` when given (SciFact's test claims)."""
    judged = set(read_qrels(qrels)) if qrels else None
    texts = [text for qid, text in read_queries(queries) if judged is None or qid in judged]
    if not texts:
        raise ConfigError(f"no questions in {queries}" + (f" judged in {qrels}" if qrels else ""))
    return texts[:limit]


async def _first_token(answerer: Answerer, question: str) -> dict[str, Any]:
    stream = await answerer.astream(question)
    async with stream:
        async for _ in stream:
            break  # the first token is all this measures
    metrics = stream.metrics
    return {
        "ttft_ms": metrics.ttft_ms,
        "prefill_ms": metrics.timings_ms.get("prefill"),
        "prompt_tokens": metrics.prompt_tokens,
        "context_tokens_before": metrics.context_tokens_before,
        "context_tokens_after": metrics.context_tokens_after,
    }


def run(engine: Any, generator: Any, questions: list[str], *, budget_tokens: int = 512, k: int = 8) -> dict[str, Any]:
    """Median TTFT with / without compression over ``questions`` (see the module docstring)."""
    settings = {
        "compressed": Answerer(engine, generator, k=k, budget_tokens=budget_tokens, compress=True),
        "uncompressed": Answerer(engine, generator, k=k, budget_tokens=budget_tokens, compress=False),
    }

    async def measure() -> dict[str, list[dict[str, Any]]]:
        for answerer in settings.values():
            await _first_token(answerer, questions[0])  # warm-up, not timed
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in settings}
        for i, question in enumerate(questions):
            order = list(settings) if i % 2 == 0 else list(reversed(settings))
            for name in order:
                rows[name].append(await _first_token(settings[name], question))
        return rows

    rows = asyncio.run(measure())

    def med(name: str, key: str) -> float:
        values = [r[key] for r in rows[name] if r[key] is not None]
        return round(float(statistics.median(values)), 2) if values else float("nan")

    summary = {
        name: {key: med(name, key) for key in ("ttft_ms", "prefill_ms", "prompt_tokens", "context_tokens_before", "context_tokens_after")}
        for name in settings
    }
    ratio = summary["compressed"]["ttft_ms"] / summary["uncompressed"]["ttft_ms"]
    return {
        "questions": len(questions),
        "budget_tokens": budget_tokens,
        "k": k,
        "ttft_ratio": round(ratio, 4),
        **summary,
        "generator": generator.describe() if hasattr(generator, "describe") else str(generator),
        "rows": rows,
    }
