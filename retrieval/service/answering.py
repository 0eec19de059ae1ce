"""The answer path of the service: admission, prompt preparation on a pool thread, generation.

    async with answers.stream(query, deadline) as stream:   # AnswerStream
        async for piece in stream: ...

The retrieval half (search, limiter, compressor, prompt) holds an interactive admission slot
and runs on a pool thread; generation then runs in the generator, which serializes requests
itself (the local model decodes one answer at a time), so it holds no slot. At most
``max_streams`` answers may be generating or waiting for the generator: the next one is
refused at once (RESOURCE_EXHAUSTED) instead of queueing behind minutes of decoding. Leaving
the ``async with`` (the stream ended, failed, or the client went away) stops generation.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from typing import Any, AsyncIterator

from ..answer import DEFAULT_BUDGET_TOKENS, DEFAULT_K, Answerer, AnswerStream
from .admission import INTERACTIVE, Admission
from .errors import NoGenerator, Overloaded
from .validation import AnswerQuery
from .workers import CpuPool

ANSWERERS_KEPT = 32  # distinct (mode, k, budget, compress) settings kept ready
WARMUP_QUESTION = "What is this collection about?"


class AnswerPipeline:
    def __init__(
        self,
        engine: Any,
        generator: Any,
        *,
        pool: CpuPool,
        admission: Admission,
        max_streams: int,
        metrics: Any = None,
    ) -> None:
        self.engine = engine
        self.generator = generator
        self.pool = pool
        self.admission = admission
        self.max_streams = max_streams
        self.metrics = metrics
        self._streams = 0
        self._answerers: OrderedDict[tuple[Any, ...], Answerer] = OrderedDict()
        self._lock = threading.Lock()  # the answerers are made on pool threads

    @property
    def streams(self) -> int:
        """Answers generating or waiting for the generator now."""
        return self._streams

    @contextlib.asynccontextmanager
    async def stream(self, query: AnswerQuery, deadline: float | None) -> AsyncIterator[AnswerStream]:
        if self.generator is None:
            raise NoGenerator("this server has no generator (started with --generator none): Answer is not available")
        if self._streams >= self.max_streams:
            raise Overloaded(f"{self._streams} answers are already being generated (limit {self.max_streams}); retry later")
        self._streams += 1
        try:
            async with self.admission.slot(INTERACTIVE, deadline) as queued_ms:
                prepared = await self.pool.run(lambda: self._answerer(query).prepare(query.question), deadline)
            # The user waited in the queue too: it counts towards the time to first token.
            prepared.timings_ms["queue"] = round(queued_ms, 3)
            stream = AnswerStream(prepared, self.generator.stream(prepared.prompt, max_tokens=query.max_tokens))
            try:
                yield stream
            finally:
                await stream.aclose()  # stops generation if it is still running
                self._observe(stream)
        finally:
            self._streams -= 1

    async def warm(self, mode: str, question: str = WARMUP_QUESTION) -> None:
        """One short answer: loads the model's pages and fills the prompt-prefix cache."""
        if self.generator is None:
            return
        answerer = self._answerer(AnswerQuery(question, DEFAULT_K, mode, DEFAULT_BUDGET_TOKENS, 1, True))
        prepared = await self.pool.run(lambda: answerer.prepare(question))
        stream = AnswerStream(prepared, self.generator.stream(prepared.prompt, max_tokens=1))
        await stream.collect()

    def _answerer(self, query: AnswerQuery) -> Answerer:
        key = (query.mode, query.k, query.budget_tokens, query.compress)
        with self._lock:
            answerer = self._answerers.get(key)
            if answerer is not None:
                self._answerers.move_to_end(key)
                return answerer
        answerer = Answerer(
            self.engine, self.generator, mode=query.mode, k=query.k, budget_tokens=query.budget_tokens, compress=query.compress
        )
        with self._lock:
            self._answerers[key] = answerer
            while len(self._answerers) > ANSWERERS_KEPT:
                self._answerers.popitem(last=False)
        return answerer

    def _observe(self, stream: AnswerStream) -> None:
        if self.metrics is None or stream.metrics is None:
            return
        for stage, ms in stream.metrics.timings_ms.items():
            self.metrics.stage(f"answer_{stage}", ms)
        if stream.metrics.ttft_ms is not None:
            self.metrics.stage("answer_ttft", stream.metrics.ttft_ms)
