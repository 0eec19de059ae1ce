"""The OpenAI-compatible backend against a real server (llama_cpp.server) and scripted fakes."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from retrieval.errors import ConfigError
from retrieval.generation import (
    GenerationError,
    GenerationHTTPError,
    GenerationTimeoutError,
    Generator,
    GeneratorUnavailableError,
    MalformedEventError,
    OpenAIGenerator,
    make_generator,
)

from .http_fakes import Reply, SilentServer, chunk, free_port, serving, token_events
from .samples import CAPITAL, STORY

FAST = {"retries": 2, "backoff_s": 0.01, "connect_timeout": 2.0, "read_timeout": 5.0}


def collect(generator: OpenAIGenerator, prompt=CAPITAL, **limits) -> tuple[list[str], object]:
    async def main():
        stream = generator.stream(prompt, **limits)
        pieces = [p async for p in stream]
        return pieces, stream.stats

    return asyncio.run(main())


# -- against llama_cpp.server ------------------------------------------------------------------


def test_streamed_tokens_equal_the_non_streamed_answer(llama_server: str) -> None:
    generator = make_generator("openai", base_url=llama_server, model="smollm2", **FAST)
    assert isinstance(generator, Generator)
    pieces, stats = collect(generator, STORY, max_tokens=48)
    body = generator.request_body(STORY, generator.limits.with_overrides(max_tokens=48), stream=False)
    reply = httpx.post(generator.url, json=body, timeout=60).json()
    answer = reply["choices"][0]["message"]["content"]
    assert len(pieces) > 10
    assert "".join(pieces) == answer
    assert asyncio.run(generator.generate(STORY, max_tokens=48)).text == answer
    # the server sends no usage in streams: the counts come from the local tokenizer, exactly
    assert stats.prompt_tokens == reply["usage"]["prompt_tokens"] == generator.count_prompt_tokens(STORY)
    assert stats.completion_tokens == len(pieces) == reply["usage"]["completion_tokens"]
    assert stats.finish_reason == "length"
    assert stats.ttft_ms is not None and stats.tokens_per_s > 0


def test_server_and_local_backend_agree_on_the_greedy_answer(llama_server: str, llama_gen) -> None:
    # the same model, template and sampler (llama-cpp-python's server defaults to repeat_penalty 1.1)
    generator = OpenAIGenerator(llama_server, extra_body={"repeat_penalty": 1.0}, **FAST)
    remote = asyncio.run(generator.generate(CAPITAL, max_tokens=32)).text
    local = asyncio.run(llama_gen.generate(CAPITAL, max_tokens=32)).text
    assert remote == local and "Paris" in remote


def test_stop_strings_are_sent_and_honoured(llama_server: str) -> None:
    generator = OpenAIGenerator(llama_server, **FAST)
    full = asyncio.run(generator.generate(STORY, max_tokens=40)).text
    stop = " " + full.split(" ")[len(full.split(" ")) // 2]
    cut = asyncio.run(generator.generate(STORY, max_tokens=40, stop=stop))
    assert cut.text == full[: full.index(stop)]
    assert cut.stats.finish_reason == "stop"


# -- failures --------------------------------------------------------------------------------


def test_dead_endpoint_is_reported_after_the_retries() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    generator = OpenAIGenerator(url, **{**FAST, "retries": 1})
    started = time.perf_counter()
    with pytest.raises(GeneratorUnavailableError, match=r"cannot reach .*/v1/chat/completions .*ConnectError.*2 attempts"):
        collect(generator)
    assert time.perf_counter() - started < 5


def test_read_timeout_when_the_server_never_answers() -> None:
    silent = SilentServer()
    try:
        generator = OpenAIGenerator(silent.base_url, **{**FAST, "read_timeout": 0.5})
        started = time.perf_counter()
        with pytest.raises(GenerationTimeoutError, match=r"sent nothing for 0.5 s"):
            collect(generator)
        elapsed = time.perf_counter() - started
    finally:
        silent.close()
    assert 0.45 <= elapsed < 2.0  # not retried: one read timeout, measured ~0.5 s


def test_read_timeout_in_the_middle_of_a_stream() -> None:
    with serving([Reply(events=token_events(["Hel", "lo", " there"]), stall_after=2)]) as server:
        generator = OpenAIGenerator(server.base_url, **{**FAST, "read_timeout": 0.4})
        received: list[str] = []

        async def main():
            async for piece in generator.stream(CAPITAL):
                received.append(piece)

        with pytest.raises(GenerationTimeoutError, match="after 2 token"):
            asyncio.run(main())
    assert received == ["Hel", "lo"]


@pytest.mark.parametrize(
    ("events", "error", "words"),
    [
        (["this is not json"], MalformedEventError, "not JSON: 'this is not json'"),
        ([json.dumps({"id": "x", "object": "chat.completion.chunk"})], MalformedEventError, "without a 'choices' list"),
        ([chunk("fine"), "{broken", "[DONE]"], MalformedEventError, "not JSON"),
        ([json.dumps({"error": {"message": "model exploded"}})], GenerationError, "model exploded"),
        ([chunk("cut"), chunk("off")], GeneratorUnavailableError, r"closed the stream before it finished"),
    ],
)
def test_garbage_events_raise_clear_errors(events: list[str], error: type, words: str) -> None:
    with serving([Reply(events=events)]) as server:
        generator = OpenAIGenerator(server.base_url, **FAST)
        with pytest.raises(error, match=words):
            collect(generator)
    assert len(server.requests) == 1  # never retried: the endpoint answered


def test_json_instead_of_an_event_stream_is_malformed() -> None:
    body = json.dumps({"choices": [{"message": {"content": "hi"}}]}).encode()
    with serving([Reply(raw=body, headers={"content-type": "application/json"})]) as server:
        with pytest.raises(MalformedEventError, match="JSON instead of an event stream"):
            collect(OpenAIGenerator(server.base_url, **FAST))


def test_http_500_before_the_first_token_is_retried_then_reported() -> None:
    with serving([Reply(status=500, raw=b"boom: the model crashed")]) as server:
        generator = OpenAIGenerator(server.base_url, **FAST)
        with pytest.raises(GenerationHTTPError, match=r"HTTP 500 \(3 attempts\): 'boom: the model crashed'") as info:
            collect(generator)
    assert len(server.requests) == 3  # 1 + retries
    assert info.value.status == 500 and info.value.body == "boom: the model crashed"


def test_retry_recovers_from_a_500_and_a_429() -> None:
    replies = [
        Reply(status=500, raw=b"transient"),
        Reply(status=429, raw=b"slow down", headers={"retry-after": "0"}),
        Reply(events=token_events(["Par", "is"])),
    ]
    with serving(replies) as server:
        pieces, stats = collect(OpenAIGenerator(server.base_url, **FAST))
    assert pieces == ["Par", "is"] and stats.finish_reason == "stop" and stats.completion_tokens == 2
    assert len(server.requests) == 3


def test_client_errors_are_not_retried() -> None:
    with serving([Reply(status=401, raw=b'{"error": "bad key"}')]) as server:
        with pytest.raises(GenerationHTTPError, match=r"HTTP 401 \(1 attempt\)") as info:
            collect(OpenAIGenerator(server.base_url, **FAST))
    assert info.value.status == 401 and len(server.requests) == 1


def test_request_carries_model_messages_limits_and_bearer_key() -> None:
    with serving([Reply(events=token_events(["ok"]))]) as server:
        generator = OpenAIGenerator(server.base_url, model="m1", api_key="sk-test", **FAST)
        collect(generator, CAPITAL, max_tokens=7, stop=["###"], temperature=0.5, seed=3)
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    body = request["json"]
    assert body["model"] == "m1" and body["stream"] is True and body["messages"] == CAPITAL.messages()
    assert (body["max_tokens"], body["stop"], body["temperature"], body["seed"]) == (7, ["###"], 0.5, 3)
    assert body["stream_options"] == {"include_usage": True}


def test_usage_chunk_fills_the_stats() -> None:
    usage = json.dumps({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 8}}})
    events = [chunk("a"), chunk("b"), chunk(None, "stop"), usage, "[DONE]"]
    with serving([Reply(events=events)]) as server:
        pieces, stats = collect(OpenAIGenerator(server.base_url, **FAST))
    assert pieces == ["a", "b"]
    assert (stats.prompt_tokens, stats.completion_tokens, stats.cached_prompt_tokens) == (11, 2, 8)


def test_closing_the_stream_early_marks_it_cancelled() -> None:
    with serving([Reply(events=token_events([f"t{i} " for i in range(50)]), event_delay_s=0.01)]) as server:
        generator = OpenAIGenerator(server.base_url, **FAST)

        async def main():
            async with generator.stream(CAPITAL) as stream:
                async for _ in stream:
                    if stream.tokens_decoded == 3:
                        break
            return stream

        stream = asyncio.run(main())
    assert stream.stats is not None and stream.stats.finish_reason == "cancelled"
    assert stream.stats.completion_tokens == 3


def test_bad_options_are_config_errors() -> None:
    for options in ({"base_url": "ftp://x"}, {"read_timeout": 0}, {"retries": -1}, {"model": ""}, {"context_window": 0}):
        with pytest.raises(ConfigError):
            OpenAIGenerator(**options)
    assert OpenAIGenerator(context_window=8192).context_window == 8192
