"""Reading an OpenAI-style chat completion stream: server-sent events, then their JSON chunks.

``iter_sse_data`` follows the event-stream format: ``data:`` lines accumulate (several are
joined with newlines), a blank line ends an event, comment lines (``:``) and the other fields
(``event:``, ``id:``, ``retry:``) are skipped. ``parse_chunk`` checks one chunk's shape and
raises ``MalformedEventError`` with a snippet of the offending data when it is not what the
protocol says; the caller stops at the ``[DONE]`` sentinel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, AsyncIterator

from .errors import GenerationError, MalformedEventError

DONE = "[DONE]"
_SNIPPET = 200


@dataclass(frozen=True)
class ChunkDelta:
    """What one streamed chunk adds: answer text, maybe why it ended, maybe token usage."""

    content: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None


async def iter_sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The data of each event in a stream of lines (line endings already removed)."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:  # the stream ended without the blank line: still an event
        yield "\n".join(data)


def parse_chunk(data: str) -> ChunkDelta:
    """The delta in one ``chat.completion.chunk`` event's data."""
    try:
        chunk = json.loads(data)
    except ValueError:
        raise MalformedEventError(f"the endpoint streamed an event that is not JSON: {snippet(data)!r}") from None
    if not isinstance(chunk, dict):
        raise MalformedEventError(f"the endpoint streamed an event that is not a JSON object: {snippet(data)!r}")
    if "error" in chunk:  # OpenAI-compatible servers report failures mid-stream this way
        error = chunk["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise GenerationError(f"the endpoint reported an error while streaming: {snippet(str(message))}")
    usage = chunk.get("usage") if isinstance(chunk.get("usage"), dict) else None
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        if usage is not None:  # a usage-only chunk
            return ChunkDelta(usage=usage)
        raise MalformedEventError(f"the endpoint streamed an event without a 'choices' list: {snippet(data)!r}")
    if not choices:  # e.g. the final usage chunk, or a filter-results chunk
        return ChunkDelta(usage=usage)
    choice = choices[0]
    if not isinstance(choice, dict):
        raise MalformedEventError(f"the endpoint streamed a choice that is not an object: {snippet(data)!r}")
    delta = choice.get("delta") or {}
    if not isinstance(delta, dict):
        raise MalformedEventError(f"the endpoint streamed a 'delta' that is not an object: {snippet(data)!r}")
    content = delta.get("content") or ""
    if not isinstance(content, str):
        raise MalformedEventError(f"the endpoint streamed a 'content' that is not a string: {snippet(data)!r}")
    finish = choice.get("finish_reason")
    return ChunkDelta(content=content, finish_reason=finish if isinstance(finish, str) else None, usage=usage)


def snippet(text: str, limit: int = _SNIPPET) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "..."
