"""Protobuf at the edge: request messages to validated queries, results to response messages.

Nothing past this module sees a protobuf message, and nothing before it sees an engine type.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..answer import AnswerMetrics
from ..context import Source
from ..types import Hit
from .protos import retrieval_pb2 as pb
from .validation import AnswerQuery, RequestRules, SearchQuery

# proto SearchParams field -> the engine's per-call parameter name
PARAM_NAMES: dict[str, str] = {
    "candidates": "candidates",
    "fusion_method": "method",
    "normalization": "normalization",
    "dense_weight": "dense_weight",
    "keyword_weight": "keyword_weight",
    "rrf_k": "rrf_k",
    "ef_search": "ef_search",
    "nprobe": "nprobe",
    "k_factor": "k_factor",
    "exact_max": "exact_max",
}


def search_query(request: pb.SearchRequest, rules: RequestRules) -> SearchQuery:
    """The validated query of a ``SearchRequest`` (``QueryError`` for a bad field)."""
    return rules.search(
        request.query,
        request.k,
        request.mode,
        search_params(request.params),
        [(f.key, tuple(f.values)) for f in request.filters],
    )


def search_params(params: pb.SearchParams) -> dict[str, Any]:
    """The fields the client set (proto3 ``optional``: unset ones keep the bundle's defaults)."""
    return {engine_name: getattr(params, field) for field, engine_name in PARAM_NAMES.items() if params.HasField(field)}


def answer_query(request: pb.AnswerRequest, rules: RequestRules) -> AnswerQuery:
    return rules.answer(
        request.question, request.k, request.mode, request.budget_tokens, request.max_tokens, not request.no_compress
    )


def search_response(hits: Iterable[Hit], timings_ms: Mapping[str, float], cached: bool) -> pb.SearchResponse:
    return pb.SearchResponse(
        hits=[
            pb.Hit(chunk_id=h.id, document_id=h.doc_id, score=h.score, text=h.text, title=h.title) for h in hits
        ],
        timings_ms={stage: float(ms) for stage, ms in timings_ms.items()},
        cached=cached,
    )


def hit_size(chunk_id: str, doc_id: str, text: str, title: str) -> int:
    """Bytes one hit with these fields takes in a ``SearchResponse``, its framing included."""
    size = pb.Hit(chunk_id=chunk_id, document_id=doc_id, score=1.0, text=text, title=title).ByteSize()
    return 1 + _varint_size(size) + size  # field tag + length prefix + the message


def _varint_size(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


def token_event(piece: str) -> pb.AnswerEvent:
    return pb.AnswerEvent(token=piece)


def done_event(metrics: AnswerMetrics, sources: Iterable[Source]) -> pb.AnswerEvent:
    done = pb.AnswerDone(
        ttft_ms=metrics.ttft_ms or 0.0,
        tokens_per_s=metrics.tokens_per_s,
        prompt_tokens=metrics.prompt_tokens,
        completion_tokens=metrics.completion_tokens,
        context_tokens_before=metrics.context_tokens_before,
        context_tokens_after=metrics.context_tokens_after,
        timings_ms={stage: float(ms) for stage, ms in metrics.timings_ms.items()},
        sources=[
            pb.Source(number=s.number, chunk_id=s.chunk_id, document_id=s.doc_id, title=s.title) for s in sources
        ],
        finish_reason=metrics.finish_reason,
    )
    return pb.AnswerEvent(done=done)
