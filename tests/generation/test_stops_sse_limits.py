"""Pure pieces: stop-string matching, SSE parsing, generation limits, prompts."""

from __future__ import annotations

import asyncio
import json

import pytest

from retrieval.errors import ConfigError, RetrievalError
from retrieval.generation import ChatPrompt, GenerationError, GenerationLimits, MalformedEventError, PromptError, as_prompt
from retrieval.generation.sse import iter_sse_data, parse_chunk
from retrieval.generation.stops import StopMatcher


def run_stops(stops: list[str], pieces: list[str]) -> tuple[str, bool]:
    matcher = StopMatcher(stops)
    out = "".join(matcher.push(p) for p in pieces)
    return out + matcher.flush(), matcher.hit


def test_stop_string_split_over_pieces_is_caught_and_dropped() -> None:
    assert run_stops(["\n\nQ:"], ["The answer", " is 4.\n", "\nQ", ": next"]) == ("The answer is 4.", True)


def test_held_back_text_is_released_when_no_stop_follows() -> None:
    matcher = StopMatcher(["END"])
    assert matcher.push("the E") == "the "  # "E" might start "END"
    assert matcher.push("ND? no: EN") == ""  # ...it does: the stop completes here
    assert matcher.hit
    assert run_stops(["END"], ["the E", "gg"]) == ("the Egg", False)
    assert run_stops(["END"], ["ends with EN"]) == ("ends with EN", False)  # flushed at the end


def test_earliest_of_several_stop_strings_wins() -> None:
    assert run_stops(["bb", "a"], ["xxbbya"]) == ("xx", True)
    assert run_stops([], ["no", " stops"]) == ("no stops", False)


async def _lines(lines: list[str]):
    for line in lines:
        yield line


def sse(lines: list[str]) -> list[str]:
    async def collect() -> list[str]:
        return [d async for d in iter_sse_data(_lines(lines))]

    return asyncio.run(collect())


def test_sse_events_comments_fields_and_multiline_data() -> None:
    lines = [": keep-alive", "event: message", "id: 7", "data: {\"a\":", "data:1}", "", "", "retry: 10", "data: [DONE]"]
    assert sse(lines) == ['{"a":\n1}', "[DONE]"]  # the last event has no blank line after it


def test_parse_chunk_reads_content_finish_and_usage() -> None:
    delta = parse_chunk(json.dumps({"choices": [{"delta": {"content": "Hi"}, "finish_reason": None}]}))
    assert (delta.content, delta.finish_reason) == ("Hi", None)
    end = parse_chunk(json.dumps({"choices": [{"delta": {}, "finish_reason": "length"}]}))
    assert (end.content, end.finish_reason) == ("", "length")
    usage = parse_chunk(json.dumps({"choices": [], "usage": {"prompt_tokens": 3}}))
    assert usage.usage == {"prompt_tokens": 3}
    role_only = parse_chunk(json.dumps({"choices": [{"delta": {"role": "assistant", "content": None}}]}))
    assert role_only.content == ""


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("this is not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"id": "x"}', "without a 'choices' list"),
        ('{"choices": "nope"}', "without a 'choices' list"),
        ('{"choices": [7]}', "choice that is not an object"),
        ('{"choices": [{"delta": "text"}]}', "'delta' that is not an object"),
        ('{"choices": [{"delta": {"content": 5}}]}', "'content' that is not a string"),
    ],
)
def test_malformed_chunks_raise_a_clear_error(data: str, words: str) -> None:
    with pytest.raises(MalformedEventError, match=words) as info:
        parse_chunk(data)
    assert isinstance(info.value, RetrievalError)


def test_error_object_in_the_stream_is_a_generation_error() -> None:
    with pytest.raises(GenerationError, match="out of memory"):
        parse_chunk('{"error": {"message": "out of memory"}}')


def test_limits_validate_and_override_per_call() -> None:
    limits = GenerationLimits(max_tokens=10, stop="###")
    assert limits.stop == ("###",)
    assert limits.with_overrides(max_tokens=3, temperature=None).max_tokens == 3
    assert limits.with_overrides(temperature=None) is limits
    for bad in ({"max_tokens": 0}, {"max_tokens": True}, {"temperature": -1}, {"temperature": float("nan")},
                {"top_p": 0}, {"seed": -2}, {"stop": [""]}, {"stop": [3]}):  # fmt: skip
        with pytest.raises(ConfigError):
            GenerationLimits(**bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_tokenz"):
        limits.with_overrides(max_tokenz=3)


def test_chat_prompt_checks_fields_and_builds_messages() -> None:
    prompt = ChatPrompt("sys", "question", "fixed: ")
    assert prompt.user_content == "fixed: question"
    assert prompt.messages() == [{"role": "system", "content": "sys"}, {"role": "user", "content": "fixed: question"}]
    assert as_prompt("hi").messages() == [{"role": "user", "content": "hi"}]
    assert as_prompt(prompt) is prompt
    with pytest.raises(PromptError):
        ChatPrompt("sys", None)  # type: ignore[arg-type]
    with pytest.raises(PromptError):
        as_prompt(42)  # type: ignore[arg-type]
