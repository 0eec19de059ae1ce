"""Dynamic micro-batching of query embeddings for the asyncio service.

One query embedded alone wastes the model: on 2 cores a batch of 32 short queries costs a few
times one query, not 32 times. ``MicroBatcher.embed`` parks each caller's text; the first one
arms a ``max_wait_ms`` timer, and the batch goes to ``embed_many`` (in a worker thread, never on
the event loop) when the timer fires or ``max_batch`` distinct texts are waiting. While a batch
computes, new arrivals queue for the next one, so under load batches grow by themselves and at
low load a query waits at most ``max_wait_ms``.

    batcher = MicroBatcher(engine.embed_queries, max_batch=32, max_wait_ms=2.0)
    vector = await batcher.embed("how do I parse json")   # float32 [dim], read-only
    await batcher.close()

Identical texts waiting together are embedded once. An error from ``embed_many`` reaches every
waiter of that batch; a caller cancelled while waiting is simply dropped from its batch.
One batcher belongs to one event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..embedding.base import EmbeddingInputError
from ..errors import ConfigError, RetrievalError

log = logging.getLogger(__name__)


class BatcherError(RetrievalError):
    """The embedding function returned something other than one vector per text."""


class BatcherClosedError(BatcherError):
    """``embed`` was called after ``close`` (the service is shutting down: UNAVAILABLE)."""


@dataclass(eq=False)
class _Waiter:
    text: str
    future: asyncio.Future[np.ndarray]
    arrived: float = field(default_factory=time.monotonic)


class MicroBatcher:
    """Groups concurrent ``embed`` calls into ``embed_many`` calls.

    ``embed_many(texts) -> float32 [len(texts), dim]`` must be thread-safe when
    ``max_inflight`` > 1. ``max_batch``: distinct texts per call at most. ``max_wait_ms``: the
    longest the first text of a batch waits for company. ``on_batch(size)``: called on the
    event loop with each batch's number of texts (metrics). ``executor``: where ``embed_many``
    runs (default: the loop's default thread pool). ``max_inflight``: batches computing at
    once (default 1: the model already uses every core, and a second batch would only
    contend with the first; waiting arrivals form a bigger next batch instead).
    """

    def __init__(
        self,
        embed_many: Callable[[list[str]], np.ndarray],
        *,
        max_batch: int = 32,
        max_wait_ms: float = 2.0,
        on_batch: Callable[[int], None] | None = None,
        executor: concurrent.futures.Executor | None = None,
        max_inflight: int = 1,
    ) -> None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ConfigError(f"max_batch must be an integer >= 1, got {max_batch!r}")
        if isinstance(max_wait_ms, bool) or not isinstance(max_wait_ms, (int, float)) or not 0 <= max_wait_ms < math.inf:
            raise ConfigError(f"max_wait_ms must be a finite number >= 0, got {max_wait_ms!r}")
        if isinstance(max_inflight, bool) or not isinstance(max_inflight, int) or max_inflight < 1:
            raise ConfigError(f"max_inflight must be an integer >= 1, got {max_inflight!r}")
        self._embed_many = embed_many
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_inflight = max_inflight
        self._on_batch = on_batch
        self._executor = executor
        self._pending: list[_Waiter] = []
        self._running: set[asyncio.Future[np.ndarray]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = math.inf
        self._closing = False
        self._closed = False

    @property
    def pending(self) -> int:
        """Texts waiting for a batch (not counting the batches computing now): a queue depth."""
        return len(self._pending)

    async def embed(self, text: str) -> np.ndarray:
        """The embedding of ``text``: float32 [dim], read-only, equal to embedding it alone."""
        if self._closing:
            raise BatcherClosedError("the embedding batcher is closed")
        _check_text(text)  # here, not in the batch: one bad text must not fail its batch-mates
        waiter = _Waiter(text, asyncio.get_running_loop().create_future())
        self._pending.append(waiter)
        self._schedule()
        return await waiter.future

    async def close(self) -> None:
        """Refuse new texts, embed the ones already waiting, and wait for every batch."""
        self._closing = True
        while self._pending or self._running:
            self._schedule()
            if self._running:
                await asyncio.wait(set(self._running))
        self._cancel_timer()
        self._closed = True

    # -- scheduling (always on the event loop) ---------------------------------------------

    def _schedule(self) -> None:
        """Start every batch that is ready and may run; arm the timer for the first that is not."""
        while self._pending and len(self._running) < self.max_inflight:
            self._drop_cancelled()
            if not self._pending:
                break
            if not (self._closing or self._full() or self._waited_enough()):
                break
            self._start(self._take())
        if not self._pending or len(self._running) >= self.max_inflight:
            # Nothing to wait for, or a finishing batch will call _schedule anyway.
            self._cancel_timer()
            return
        due = self._pending[0].arrived + self.max_wait_s
        if self._timer is None or due != self._timer_due:
            self._cancel_timer()
            self._timer_due = due
            self._timer = asyncio.get_running_loop().call_later(max(0.0, due - time.monotonic()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_due = math.inf
        self._schedule()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_due = math.inf

    def _waited_enough(self) -> bool:
        # A hair of slack: call_later may wake a few microseconds early.
        return time.monotonic() + 1e-4 >= self._pending[0].arrived + self.max_wait_s

    def _full(self) -> bool:
        if len(self._pending) < self.max_batch:
            return False
        return len({w.text for w in self._pending}) >= self.max_batch

    def _drop_cancelled(self) -> None:
        if any(w.future.done() for w in self._pending):
            self._pending = [w for w in self._pending if not w.future.done()]

    def _take(self) -> list[_Waiter]:
        """The oldest waiters holding at most ``max_batch`` distinct texts (arrival order kept)."""
        texts: set[str] = set()
        n = 0
        for waiter in self._pending:
            if waiter.text not in texts:
                if len(texts) == self.max_batch:
                    break
                texts.add(waiter.text)
            n += 1
        batch, self._pending = self._pending[:n], self._pending[n:]
        return batch

    def _start(self, batch: list[_Waiter]) -> None:
        texts = list(dict.fromkeys(w.text for w in batch))  # identical texts embedded once
        if self._on_batch is not None:
            try:
                self._on_batch(len(texts))
            except Exception:  # a metrics hook must never fail the queries it counts
                log.exception("on_batch callback failed")
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(self._executor, self._embed_many, texts)
        self._running.add(job)
        job.add_done_callback(lambda done: self._finish(done, batch, texts))

    def _finish(self, job: asyncio.Future[np.ndarray], batch: list[_Waiter], texts: list[str]) -> None:
        self._running.discard(job)
        error: BaseException | None = None
        try:
            vectors = _rows(job.result(), len(texts))
        except asyncio.CancelledError:  # the executor was shut down under the batch
            error = BatcherClosedError("the embedding batch was cancelled (its executor shut down)")
        except Exception as exc:  # every waiter of the batch gets the error
            error = exc
        if error is not None:
            for waiter in batch:
                if not waiter.future.done():
                    waiter.future.set_exception(error)
        else:
            row = {text: i for i, text in enumerate(texts)}
            for waiter in batch:
                if not waiter.future.done():  # cancelled callers are skipped, the others served
                    waiter.future.set_result(vectors[row[waiter.text]])
        self._schedule()


def _check_text(text: str) -> None:
    if not isinstance(text, str):
        raise EmbeddingInputError(f"query text must be a string, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates: the tokenizer would fail the whole batch
        raise EmbeddingInputError(f"query text cannot be encoded as UTF-8: {exc.reason} at {exc.start}") from None


def _rows(result: np.ndarray, n: int) -> np.ndarray:
    """``result`` as a private read-only float32 [n, dim] array, or ``BatcherError``."""
    vectors = np.array(result, dtype=np.float32, copy=True)
    if vectors.ndim != 2 or vectors.shape[0] != n:
        raise BatcherError(f"embed_many returned shape {list(vectors.shape)} for {n} texts; expected [{n}, dim]")
    vectors.flags.writeable = False  # rows are shared by every waiter of the same text
    return vectors
