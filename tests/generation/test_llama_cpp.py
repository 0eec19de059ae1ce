"""The local backend on SmolLM2-135M-Instruct: streaming, limits, cancellation, prefix cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from retrieval.errors import ConfigError
from retrieval.generation import ChatPrompt, ContextWindowError, GenerationError, Generator, TokenStream
from retrieval.generation.ttft import demo_prompts

from .samples import CAPITAL, STORY


async def wait_for_stats(stream: TokenStream, timeout_s: float = 10.0) -> None:
    """Until the decoding thread has finished the request (its stats are set last)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while stream.stats is None:
        assert loop.time() < deadline, "the decoding thread did not finish"
        await asyncio.sleep(0.005)


def test_streamed_pieces_join_to_the_collected_answer(llama_gen) -> None:
    async def main():
        stream = llama_gen.stream(CAPITAL, max_tokens=32)
        assert stream.stats is None
        pieces = [piece async for piece in stream]
        collected = await llama_gen.generate(CAPITAL, max_tokens=32)
        return pieces, stream.stats, collected

    pieces, stats, collected = asyncio.run(main())
    assert "".join(pieces) == collected.text
    assert "Paris" in collected.text  # measured: "Le Grand Paris is the capital of France."
    assert stats.completion_tokens == len(pieces) == collected.stats.completion_tokens  # ASCII: a piece per token
    assert stats.finish_reason == "stop"
    assert stats.prompt_tokens == llama_gen.count_prompt_tokens(CAPITAL) == collected.stats.prompt_tokens
    assert stats.ttft_ms is not None and 0 < stats.ttft_ms < stats.total_ms
    assert stats.tokens_per_s > 0
    assert isinstance(llama_gen, Generator)


def test_prompt_token_count_is_the_rendered_template_tokenized(llama_gen, model_path: Path) -> None:
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    vocab = llama_cpp.Llama(str(model_path), vocab_only=True, verbose=False)
    eos = vocab.detokenize([vocab.token_eos()], special=True).decode()
    bos = vocab.detokenize([vocab.token_bos()], special=True).decode()
    formatter = Jinja2ChatFormatter(vocab.metadata["tokenizer.chat_template"], eos, bos)
    for prompt in (CAPITAL, STORY, ChatPrompt("", "plain user text")):
        rendered = formatter(messages=prompt.messages()).prompt
        expected = vocab.tokenize(rendered.encode(), add_bos=False, special=True)
        assert llama_gen.count_prompt_tokens(prompt) == len(expected)
        assert llama_gen.prompt_tokens(prompt) == expected
    assert llama_gen.context_window == 2048
    assert llama_gen.tokenizer.count("Hello world") == 2


def test_max_tokens_cuts_the_greedy_answer(llama_gen) -> None:
    long = asyncio.run(llama_gen.generate(STORY, max_tokens=60))
    short = asyncio.run(llama_gen.generate(STORY, max_tokens=5))
    assert long.stats.completion_tokens == 60 and long.stats.finish_reason == "length"  # the story goes on
    assert short.stats.completion_tokens == 5 and short.stats.finish_reason == "length"
    assert long.text.startswith(short.text) and len(short.text) < len(long.text)


def test_stop_strings_end_the_answer_before_them(llama_gen) -> None:
    reference = asyncio.run(llama_gen.generate(STORY, max_tokens=60)).text
    words = reference.split(" ")
    stop = " " + words[len(words) // 2]  # a word from the middle, as it appears there
    cut = reference.index(stop)
    result = asyncio.run(llama_gen.generate(STORY, max_tokens=60, stop=[stop, "NEVER-THERE"]))
    assert result.text == reference[:cut]
    assert result.stats.finish_reason == "stop"
    assert 0 < result.stats.completion_tokens < 60


def test_breaking_out_of_the_loop_stops_decoding(llama_gen) -> None:
    async def main():
        stream = llama_gen.stream(STORY, max_tokens=200)
        state = stream._state  # kept to look at after the stream is gone
        received = []
        async for piece in stream:
            received.append(piece)
            if len(received) == 3:
                break
        del stream  # the consumer drops it, as `async for ... in gen.stream(...)` does
        assert state.cancelled
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while state.stats is None:
            assert loop.time() < deadline
            await asyncio.sleep(0.005)
        return state

    state = asyncio.run(main())
    assert state.stats.finish_reason == "cancelled"
    # the decode step in progress at the cancel completes, nothing after it
    assert state.tokens_decoded - state.decoded_at_cancel <= 2
    assert state.decoded_at_cancel <= 3 + 3 and state.stats.completion_tokens <= 3 + 3 + 2


def test_cancelling_the_consumer_task_ends_the_decoding_job(llama_gen) -> None:
    async def main():
        stream = llama_gen.stream(STORY, max_tokens=200)
        received: list[str] = []

        async def consume() -> None:
            async for piece in stream:
                received.append(piece)

        task = asyncio.create_task(consume())
        while len(received) < 3:
            await asyncio.sleep(0.002)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stats_at_cancel_return = stream.stats  # set once the decoding job has returned
        after = await llama_gen.generate(CAPITAL, max_tokens=4)
        return stream, stats_at_cancel_return, after

    stream, stats, after = asyncio.run(main())
    assert stats is not None and stats.finish_reason == "cancelled"
    assert stream.tokens_decoded - stream.decoded_at_cancel <= 2
    assert stats.completion_tokens < 20
    assert after.stats.queue_ms < 200  # the model is free at once (measured ~0.1 ms)


def test_aclose_and_async_with_stop_generation(llama_gen) -> None:
    async def main():
        async with llama_gen.stream(STORY, max_tokens=200) as stream:
            async for _ in stream:
                if stream.tokens_decoded >= 2:
                    break
        return stream

    stream = asyncio.run(main())
    assert stream.stats is not None and stream.stats.finish_reason == "cancelled"
    assert stream.tokens_decoded - stream.decoded_at_cancel <= 2


def test_a_queued_request_cancelled_before_it_runs_never_decodes(llama_gen) -> None:
    async def main():
        first = llama_gen.stream(STORY, max_tokens=30)
        second = llama_gen.stream(CAPITAL, max_tokens=30)
        first_task = asyncio.create_task(first.collect())
        await asyncio.sleep(0)  # the first request is submitted first
        second_task = asyncio.create_task(second.collect())
        await asyncio.sleep(0.01)
        second_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second_task
        return await first_task, second

    first, second = asyncio.run(main())
    assert first.stats.completion_tokens == 30
    assert second.stats.finish_reason == "cancelled" and second.tokens_decoded == 0


def test_concurrent_requests_are_serialized_and_unchanged(llama_gen) -> None:
    sequential = [asyncio.run(llama_gen.generate(p, max_tokens=16)).text for p in (CAPITAL, STORY)]

    async def both():
        return await asyncio.gather(llama_gen.generate(CAPITAL, max_tokens=16), llama_gen.generate(STORY, max_tokens=16))

    concurrent = asyncio.run(both())
    assert [r.text for r in concurrent] == sequential
    # one waited for the other's whole run (measured: queue_ms ~ the other's total_ms)
    assert max(r.stats.queue_ms for r in concurrent) >= 0.5 * min(r.stats.total_ms for r in concurrent)


@pytest.mark.slow  # ~8 s: ten prompt evaluations of ~190 tokens on one thread
def test_prefix_cache_on_and_off_give_the_same_greedy_text(llama_gen, uncached_gen) -> None:
    prompts = demo_prompts(2, min_tokens=50, max_tokens=90, tokenizer=llama_gen.tokenizer)
    other = ChatPrompt("You answer in one sentence.", prompts[0].user, "Use these sources:\n")
    before = llama_gen.prefix_cache_info()
    # the same prefix twice, another prefix, then the first prefix again (restored)
    sequence = [*prompts, other, prompts[0]]
    cached = [asyncio.run(llama_gen.generate(p, max_tokens=16)) for p in sequence]
    plain = [asyncio.run(uncached_gen.generate(p, max_tokens=16)) for p in sequence]
    assert [r.text for r in cached] == [r.text for r in plain]
    prefix_tokens = len(llama_gen.tokenizer.encode_rendered(llama_gen.template.fixed_prefix(prompts[0])))
    assert prefix_tokens > 60  # the system instruction alone is 64 tokens
    assert all(r.stats.cached_prompt_tokens == 0 for r in plain)
    assert cached[1].stats.cached_prompt_tokens >= prefix_tokens - 1
    assert cached[3].stats.cached_prompt_tokens >= prefix_tokens - 1  # after `other` pushed it out
    after = llama_gen.prefix_cache_info()
    assert after.restores - before.restores >= 1
    assert not uncached_gen.prefix_cache and llama_gen.prefix_cache


def test_sampling_with_a_seed_is_reproducible(llama_gen) -> None:
    first = asyncio.run(llama_gen.generate(STORY, max_tokens=12, temperature=0.9, seed=7))
    again = asyncio.run(llama_gen.generate(STORY, max_tokens=12, temperature=0.9, seed=7))
    assert first.text == again.text


def test_context_window_limits_prompt_and_answer(model_path: Path) -> None:
    from retrieval.generation import LlamaCppGenerator

    small = LlamaCppGenerator(model_path, n_ctx=256, threads=1)  # llama.cpp pads n_ctx to a multiple of 256
    try:
        assert small.context_window == 256
        n_prompt = small.count_prompt_tokens(STORY)
        result = asyncio.run(small.generate(STORY, max_tokens=500))
        assert result.stats.completion_tokens == 256 - n_prompt and result.stats.finish_reason == "length"

        async def too_long():
            stream = small.stream("word " * 300)
            with pytest.raises(ContextWindowError, match="context window is 256"):
                await stream.collect()
            return stream.stats

        assert asyncio.run(too_long()).finish_reason == "error"
    finally:
        small.close()
    with pytest.raises(GenerationError, match="closed"):
        asyncio.run(small.generate(STORY))


def test_bad_options_are_config_errors(model_path: Path) -> None:
    from retrieval.generation import LlamaCppGenerator

    for options in ({"n_ctx": 8}, {"threads": 0}, {"prefix_cache": "yes"}, {"max_tokens": -1}):
        with pytest.raises(ConfigError):
            LlamaCppGenerator(model_path, **options)
    with pytest.raises(ConfigError, match="not found"):
        LlamaCppGenerator("/no/such/model.gguf")


def test_close_cancels_the_running_request_and_refuses_new_ones(model_path: Path) -> None:
    from retrieval.generation import LlamaCppGenerator

    generator = LlamaCppGenerator(model_path, threads=1)

    async def main():
        stream = generator.stream(STORY, max_tokens=200)
        pieces = []
        async for piece in stream:
            pieces.append(piece)
            if len(pieces) == 3:
                await asyncio.to_thread(generator.close)  # blocks until the decoding step ends
        return stream, pieces

    stream, pieces = asyncio.run(main())
    assert stream.stats is not None and stream.stats.finish_reason == "cancelled"
    assert stream.tokens_decoded - stream.decoded_at_cancel <= 2 and len(pieces) <= 3 + 3
    with pytest.raises(GenerationError, match="closed"):
        asyncio.run(generator.generate(CAPITAL))
