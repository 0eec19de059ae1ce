"""The answer pipeline end to end: search, limiter, compressor, prompt, the local generator.

One small dense bundle (the context tests' corpus) and SmolLM2 on one thread (see
tests/generation/conftest.py for why one).
"""

from __future__ import annotations

import asyncio
import gc
import json

import pytest

from retrieval import Engine
from retrieval.answer import Answerer, whole_chunks_context
from retrieval.bench.ask import run as bench_ask
from retrieval.context.prompt import SOURCES_PREFIX, build_prompt, context_room
from retrieval.errors import QueryError
from retrieval.generation import ContextWindowError, LlamaCppGenerator
from tests.context.conftest import DOCS, QUERIES


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    root = tmp_path_factory.mktemp("answer")
    Engine.build(DOCS, root / "bundle")
    return Engine.open(root / "bundle")


@pytest.fixture(scope="module")
def generator():
    gen = LlamaCppGenerator(threads=1, max_tokens=24)
    yield gen
    gen.close()


@pytest.fixture(scope="module")
def small_window():
    gen = LlamaCppGenerator(threads=1, n_ctx=160, max_tokens=24)
    yield gen
    gen.close()


def _answer(answerer: Answerer, question: str, **limits):
    return asyncio.run(answerer.answer(question, **limits))


def test_prompt_holds_the_sources_and_the_question(engine, generator):
    answerer = Answerer(engine, generator, budget_tokens=60)
    prepared = answerer.prepare(QUERIES[0])
    assert prepared.prompt.user_prefix == SOURCES_PREFIX and prepared.prompt.system
    assert prepared.prompt.user.endswith(f"Question: {QUERIES[0]}")
    assert prepared.context.text in prepared.prompt.user
    assert 0 < prepared.context.tokens <= 60
    assert generator.tokenizer.count(prepared.context.text) == prepared.context.tokens
    assert prepared.prompt_tokens == generator.count_prompt_tokens(prepared.prompt)
    # every citation in the text is a source, numbered as the rendered context shows it
    for source in prepared.context.sources:
        assert f"[{source.number}]" in prepared.context.text
    assert {"search", "limit", "compress", "prompt"} <= set(prepared.timings_ms)


def test_compressed_context_is_smaller_than_whole_chunks(engine, generator):
    question = QUERIES[1]
    small = Answerer(engine, generator, budget_tokens=40).prepare(question)
    whole = Answerer(engine, generator, compress=False).prepare(question)
    assert small.context.tokens <= 40 < whole.context.tokens
    assert small.prompt_tokens < whole.prompt_tokens
    assert whole.context.tokens_before == small.context.tokens_before or not small.context.compressed
    # uncompressed: whole chunks, verbatim
    for source in whole.context.sources:
        assert source.sentences == ()


def test_whole_chunks_stop_at_the_budget(engine, generator):
    hits = list(engine.search(QUERIES[1], k=8, mode="bm25").hits)
    full = whole_chunks_context(hits, 10_000, generator.tokenizer)
    assert len(full.sources) == len(hits)
    some = whole_chunks_context(hits, full.tokens - 1, generator.tokenizer)
    assert len(some.sources) < len(hits) and some.tokens <= full.tokens - 1
    assert some.text == full.text[: len(some.text)]  # a prefix: rank order kept


def test_context_window_is_never_exceeded(engine, small_window):
    answerer = Answerer(engine, small_window, budget_tokens=10_000, compress=False)
    prepared = answerer.prepare(QUERIES[2])
    assert prepared.prompt_tokens + small_window.limits.max_tokens <= small_window.context_window
    compressed = Answerer(engine, small_window, budget_tokens=10_000).prepare(QUERIES[2])
    assert compressed.prompt_tokens + small_window.limits.max_tokens <= small_window.context_window


def test_a_question_longer_than_the_window_is_an_error(engine, small_window):
    question = "why " * 200
    with pytest.raises(ContextWindowError, match="context window"):
        context_room(small_window, question)
    with pytest.raises(ContextWindowError):
        Answerer(engine, small_window).prepare(question)


def test_bad_input(engine, generator):
    with pytest.raises(QueryError):
        Answerer(engine, generator).prepare("   ")
    with pytest.raises(QueryError):
        Answerer(engine, generator, budget_tokens=0)
    with pytest.raises(QueryError):
        Answerer(engine, generator, mode="nonsense")


def test_answer_streams_with_metrics(engine, generator):
    answerer = Answerer(engine, generator, budget_tokens=60)
    answer = _answer(answerer, QUERIES[3])
    m = answer.metrics
    assert answer.text and m.completion_tokens >= 1
    assert m.ttft_ms is not None and m.ttft_ms >= m.timings_ms["prefill"] > 0
    assert m.ttft_ms >= m.timings_ms["search"]
    assert m.context_tokens_after <= 60 and m.context_tokens_after <= m.context_tokens_before
    assert m.prompt_tokens == generator.count_prompt_tokens(build_prompt(QUERIES[3], answer_context(answerer, QUERIES[3])))
    assert m.finish_reason in ("stop", "length")
    json.dumps(m.as_dict())


def answer_context(answerer: Answerer, question: str) -> str:
    return answerer.prepare(question).context.text


def test_streamed_answer_equals_the_collected_one(engine, generator):
    answerer = Answerer(engine, generator, budget_tokens=60)

    async def streamed() -> str:
        stream = answerer.stream(QUERIES[4])
        async with stream:
            return "".join([piece async for piece in stream])

    assert asyncio.run(streamed()) == _answer(answerer, QUERIES[4]).text  # greedy decoding


def test_closing_the_stream_stops_generation(engine, generator):
    answerer = Answerer(engine, generator, budget_tokens=60)

    errors = []

    async def first_only():
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))
        stream = answerer.stream(QUERIES[5], max_tokens=200)
        async with stream:
            async for _ in stream:
                break
        gc.collect()  # nothing left suspended that a later task would have to close
        await asyncio.sleep(0.05)
        return stream

    stream = asyncio.run(first_only())
    assert errors == []
    assert stream.metrics.finish_reason == "cancelled"
    assert stream.metrics.completion_tokens < 10


def test_bench_ask_reports_both_settings(engine, generator):
    result = bench_ask(engine, generator, QUERIES[:2], budget_tokens=40)
    assert result["questions"] == 2
    for name in ("compressed", "uncompressed"):
        assert result[name]["ttft_ms"] > 0 and len(result["rows"][name]) == 2
    assert result["compressed"]["context_tokens_after"] <= 40 < result["uncompressed"]["context_tokens_after"]
    assert result["ttft_ratio"] == pytest.approx(result["compressed"]["ttft_ms"] / result["uncompressed"]["ttft_ms"], rel=1e-3)
