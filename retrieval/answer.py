"""Question to streamed answer: search, limit, compress, prompt, generate.

    answerer = Answerer(engine, make_generator("llama-cpp"))
    stream = answerer.stream("how do I read a file line by line?")
    async with stream:
        async for piece in stream:
            print(piece, end="", flush=True)
    stream.metrics.ttft_ms, stream.metrics.context_tokens_after, stream.sources

The retrieval half (search, chunk limiter, compressor, prompt) runs when ``stream`` is called,
in the caller's thread, so errors in it (a bad question, a prompt that cannot fit) raise there;
``astream`` runs it in a worker thread for event-loop callers. Generation starts on the first
iteration.

Budgets: the sources may take at most ``budget_tokens`` (counted with the generator's own
tokenizer, so exact for the model) and never more than the room the context window leaves
after the question and the tokens kept for the answer. With ``compress=False`` the limiter
keeps whole chunks in rank order while they fit that room (what a plain RAG prompt does), and
``budget_tokens`` is not applied.

``ttft_ms`` in the metrics is measured from the question: retrieval, compression and prompt
evaluation all count, because the user waits for all of them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from . import tracing
from .config import ContextConfig
from .context import CompressedContext, ContextCompressor, Source, limit_hits, render
from .context.prompt import PromptConfig, answer_tokens, build_prompt, check_fits, context_room
from .errors import QueryError
from .generation import ChatPrompt, GenerationStats, TokenStream
from .tracing import StageClock
from .types import Hit

DEFAULT_BUDGET_TOKENS = 512
DEFAULT_K = 8


@dataclass(frozen=True)
class AnswerMetrics:
    """What one answer cost and how much context it read (see the module docstring)."""

    ttft_ms: float | None
    tokens_per_s: float
    prompt_tokens: int
    completion_tokens: int
    context_tokens_before: int
    context_tokens_after: int
    timings_ms: dict[str, float]
    finish_reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "ttft_ms": self.ttft_ms,
            "tokens_per_s": self.tokens_per_s,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "context_tokens_before": self.context_tokens_before,
            "context_tokens_after": self.context_tokens_after,
            "timings_ms": dict(self.timings_ms),
            "finish_reason": self.finish_reason,
        }


@dataclass(frozen=True)
class Answer:
    text: str
    sources: tuple[Source, ...]
    metrics: AnswerMetrics


@dataclass(frozen=True)
class PreparedPrompt:
    """The retrieval half of an answer: the prompt, its sources and where the time went."""

    question: str
    prompt: ChatPrompt
    context: CompressedContext
    prompt_tokens: int
    started_ns: int
    timings_ms: dict[str, float] = field(default_factory=dict)


class AnswerStream:
    """Answer text pieces as the generator decodes them; ``metrics`` once the stream ended.

    Closing it (``aclose``, leaving ``async with``, breaking out of ``async for``) stops generation.
    """

    def __init__(self, prepared: PreparedPrompt, tokens: TokenStream) -> None:
        self.prepared = prepared
        self._tokens = tokens
        self.metrics: AnswerMetrics | None = None
        self._trace = tracing.current_context()  # the span prefill and decode are recorded under

    @property
    def sources(self) -> tuple[Source, ...]:
        return self.prepared.context.sources

    def __aiter__(self) -> "AnswerStream":
        return self

    async def __anext__(self) -> str:
        # A plain iterator over the token stream (no generator of our own): nothing is left
        # suspended for the garbage collector to close on another task later.
        try:
            return await self._tokens.__anext__()
        except StopAsyncIteration:
            self._finish(self._tokens.stats)
            raise
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        await self._tokens.aclose()
        self._finish(self._tokens.stats)

    async def __aenter__(self) -> "AnswerStream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def collect(self) -> Answer:
        pieces = [piece async for piece in self]
        assert self.metrics is not None  # set by _pieces' finally
        return Answer("".join(pieces), self.sources, self.metrics)

    def _finish(self, stats: GenerationStats | None) -> None:
        if self.metrics is not None:
            return
        p = self.prepared
        timings = dict(p.timings_ms)
        ttft = None
        if stats is not None and stats.ttft_ms is not None:
            timings["prefill"] = round(stats.ttft_ms, 3)  # prompt evaluation + first decode step
            decode = max(stats.total_ms - stats.ttft_ms, 0.0)
            timings["decode"] = round(decode, 3)
            ttft = round(sum(p.timings_ms.values()) + stats.ttft_ms, 3)
            if self._trace is not None:  # generation is timed by the generator: spans after the fact
                end = time.time_ns()
                decode_ns = int(decode * 1e6)
                tracing.record_stage("prefill", int(stats.ttft_ms * 1e6), end - decode_ns, self._trace)
                tracing.record_stage("decode", decode_ns, end, self._trace)
        self.metrics = AnswerMetrics(
            ttft_ms=ttft,
            tokens_per_s=round(stats.tokens_per_s, 2) if stats else 0.0,
            prompt_tokens=stats.prompt_tokens if stats and stats.prompt_tokens else p.prompt_tokens,
            completion_tokens=stats.completion_tokens if stats else 0,
            context_tokens_before=p.context.tokens_before,
            context_tokens_after=p.context.tokens,
            timings_ms=timings,
            finish_reason=stats.finish_reason if stats else "cancelled",
        )


class Answerer:
    """Answers questions over an opened ``Engine`` with a generator (see the module docstring)."""

    def __init__(
        self,
        engine: Any,
        generator: Any,
        *,
        mode: str | None = None,
        k: int = DEFAULT_K,
        budget_tokens: int = DEFAULT_BUDGET_TOKENS,
        compress: bool = True,
        context: ContextConfig | None = None,
        prompt: PromptConfig | None = None,
        filters: Any = None,
    ) -> None:
        if isinstance(budget_tokens, bool) or not isinstance(budget_tokens, int) or budget_tokens < 1:
            raise QueryError(f"budget_tokens must be a positive integer, got {budget_tokens!r}")
        self.engine = engine
        self.generator = generator
        self.mode = mode or ("hybrid" if "hybrid" in engine.modes else "bm25")
        if self.mode not in engine.modes:
            raise QueryError(f"mode {self.mode!r} is not available in this bundle (it has {', '.join(engine.modes)})")
        self.k = k
        self.filters = filters  # document metadata every source must have (see Engine.retrieve)
        self.budget_tokens = budget_tokens
        self.compress = compress
        self.context_config = context or ContextConfig()
        self.prompt_config = prompt or PromptConfig()
        # One compressor per bundle version, made for the version a question is answered on.
        self._compressor: tuple[str, ContextCompressor] | None = None
        self._compressor_lock = threading.Lock()
        self._compressor_for(engine.view())  # made now: a problem shows at construction

    @property
    def compressor(self) -> ContextCompressor:
        """The compressor for the version the engine has open now."""
        return self._compressor_for(self.engine.view())

    def _compressor_for(self, view: Any) -> ContextCompressor:
        with self._compressor_lock:
            if self._compressor is None or self._compressor[0] != view.version:
                made = ContextCompressor.for_view(view, self.generator.tokenizer, self.context_config.compressor)
                self._compressor = (view.version, made)
            return self._compressor[1]

    def prepare(self, question: str) -> PreparedPrompt:
        """Search, limit, compress and assemble the prompt for ``question`` (no generation)."""
        started = time.perf_counter_ns()
        if not isinstance(question, str) or not question.strip():
            raise QueryError("the question must be a non-empty string")
        with tracing.span("retrieval.prepare"):
            return self._prepare(question, started)

    def _prepare(self, question: str, started: int) -> PreparedPrompt:
        timings: dict[str, float] = {}
        # One version for the search, the chunk vectors and the sentences: an update committed
        # meanwhile is answered from by the next question, never half-way through this one.
        view = self.engine.view()
        compressor = self._compressor_for(view) if self.compress else None
        clock = StageClock()
        room = context_room(self.generator, question, self.prompt_config)
        timings["prompt_room"] = round(clock.lap("prompt_room"), 3)
        result = view.search(question, k=self.k, mode=self.mode, filters=self.filters)
        timings["search"] = round(clock.lap("search", traced=False), 3)  # retrieval.search is its span
        hits = self._limit(view, list(result.hits), room)
        timings["limit"] = round(clock.lap("limit"), 3)
        budget = min(self.budget_tokens, room) if self.compress else room
        context = self._context(compressor, question, hits, budget)
        timings["compress"] = round(clock.lap("compress"), 3)
        prompt = build_prompt(question, context.text, self.prompt_config)
        tokens = self.generator.count_prompt_tokens(prompt)
        limit = self.generator.context_window - answer_tokens(self.generator, self.prompt_config)
        if tokens > limit:
            # A token can merge where the sources meet the template: refit once, by the overflow.
            context = self._context(compressor, question, hits, max(budget - (tokens - limit), 0))
            prompt = build_prompt(question, context.text, self.prompt_config)
            tokens = check_fits(self.generator, prompt, self.prompt_config)
        timings["prompt"] = round(clock.lap("prompt"), 3)
        return PreparedPrompt(question, prompt, context, tokens, started, timings)

    def stream(self, question: str, **limits: Any) -> AnswerStream:
        """Prepare the prompt now; the returned stream generates when iterated."""
        prepared = self.prepare(question)
        return AnswerStream(prepared, self.generator.stream(prepared.prompt, **limits))

    async def astream(self, question: str, **limits: Any) -> AnswerStream:
        """``stream`` for event-loop callers: retrieval and compression run in a worker thread."""
        prepared = await asyncio.to_thread(self.prepare, question)
        return AnswerStream(prepared, self.generator.stream(prepared.prompt, **limits))

    async def answer(self, question: str, **limits: Any) -> Answer:
        """The whole answer, collected."""
        stream = await self.astream(question, **limits)
        return await stream.collect()

    # -- steps ------------------------------------------------------------------------------

    def _limit(self, view: Any, hits: list[Hit], room: int) -> list[Hit]:
        config = self.context_config.limiter
        if not self.compress:
            # Whole chunks are the context: they must fit the room themselves.
            budget = room if config.budget_tokens is None else min(config.budget_tokens, room)
            config = replace(config, budget_tokens=budget)
        chunk_vectors = view.chunk_vectors
        vectors = chunk_vectors[[h.chunk for h in hits]] if chunk_vectors is not None and hits else None
        return limit_hits(hits, self.generator.tokenizer, config, vectors)

    def _context(self, compressor: ContextCompressor | None, question: str, hits: list[Hit], budget: int) -> CompressedContext:
        if compressor is not None:
            return compressor.compress(question, hits, budget)
        return whole_chunks_context(hits, budget, self.generator.tokenizer)


def whole_chunks_context(hits: list[Hit], budget: int, tokenizer: Any) -> CompressedContext:
    """Whole chunks in rank order while the rendered context fits ``budget`` (no compression)."""
    t0 = time.perf_counter_ns()
    sources = tuple(Source(i + 1, h.chunk, h.id, h.doc_id, h.title, h.text) for i, h in enumerate(hits))
    before = tokenizer.count(render(sources)) if sources else 0
    kept, tokens = 0, 0
    for n in range(1, len(sources) + 1):
        count = tokenizer.count(render(sources[:n]))
        if count > budget:
            break
        kept, tokens = n, count
    return CompressedContext(render(sources[:kept]), sources[:kept], tokens, before, budget, 0, 0, False, _ms(t0))


def _ms(t0: int) -> float:
    return round((time.perf_counter_ns() - t0) / 1e6, 3)
