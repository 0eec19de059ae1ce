"""What one answer cost: time to first token, decode rate, token counts."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

FINISH_REASONS = ("stop", "length", "cancelled", "error")


@dataclass(frozen=True)
class GenerationStats:
    """Measurements of one answer, filled in when its stream ends.

    ``ttft_ms``: from the first iteration of the stream (when the request is submitted) to the
    first answer token: queueing, prompt evaluation (or the HTTP round trip) and the first decode
    step included; ``None`` when no token came.
    ``tokens_per_s``: decode rate after the first token, ``(completion_tokens - 1)`` over the time
    from the first to the last token; 0.0 with fewer than two tokens.
    ``prompt_tokens``: tokens of the rendered prompt (for an endpoint that does not report usage,
    counted with the generator's tokenizer; 0 when unknown, e.g. the request failed). ``cached_prompt_tokens``: of those, how many were
    not evaluated again because their model state was reused (prefix cache). ``queue_ms``: waiting
    before work began (local: for requests ahead in the queue; endpoint: for the response headers).
    ``finish_reason``: "stop" (end of answer or a stop string), "length" (max_tokens or the
    context window), "cancelled" (the consumer stopped), "error".
    """

    prompt_tokens: int
    completion_tokens: int
    ttft_ms: float | None
    tokens_per_s: float
    total_ms: float
    queue_ms: float = 0.0
    cached_prompt_tokens: int = 0
    finish_reason: str = "stop"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GenerationResult:
    """A whole answer: its text and the stats of the stream that produced it."""

    text: str
    stats: GenerationStats


class StatsRecorder:
    """Collects timestamps (``perf_counter_ns``) while an answer streams; ``finish`` makes the stats."""

    def __init__(self) -> None:
        self.start_ns = time.perf_counter_ns()
        self.started_ns: int | None = None  # when the backend began working on it (after queueing)
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.tokens = 0
        self.prompt_tokens = 0
        self.cached_prompt_tokens = 0

    def started(self) -> None:
        self.started_ns = time.perf_counter_ns()

    def token(self) -> None:
        """One answer token arrived."""
        now = time.perf_counter_ns()
        if self.first_ns is None:
            self.first_ns = now
        self.last_ns = now
        self.tokens += 1

    def finish(self, reason: str, completion_tokens: int | None = None) -> GenerationStats:
        now = time.perf_counter_ns()
        tokens = self.tokens if completion_tokens is None else completion_tokens
        rate = 0.0
        if self.first_ns is not None and self.last_ns is not None and self.tokens > 1 and self.last_ns > self.first_ns:
            rate = (self.tokens - 1) / ((self.last_ns - self.first_ns) / 1e9)
        return GenerationStats(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=tokens,
            ttft_ms=None if self.first_ns is None else (self.first_ns - self.start_ns) / 1e6,
            tokens_per_s=rate,
            total_ms=(now - self.start_ns) / 1e6,
            queue_ms=0.0 if self.started_ns is None else (self.started_ns - self.start_ns) / 1e6,
            cached_prompt_tokens=self.cached_prompt_tokens,
            finish_reason=reason,
        )
