"""``TokenStream``: an answer as it is generated, with its stats once it ends.

Backends produce pieces with an async generator and share a ``StreamState`` with the stream:
the consumer side sets ``cancelled`` (thread-safe, so a decoding thread can poll it between
tokens), the producer side fills ``stats`` before the stream ends, in every outcome.

Stopping early: ``aclose()`` (or ``async with``), cancelling the consuming task, or dropping the
stream (``break`` out of ``async for gen.stream(...)``) all cancel generation; the last one works
through a ``weakref.finalize`` hook, so it needs no event loop and takes effect at once.
"""

from __future__ import annotations

import threading
import weakref
from types import TracebackType
from typing import AsyncGenerator

from .errors import GenerationError
from .stats import GenerationResult, GenerationStats


class StreamState:
    """Shared by one stream's producer and consumer."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self.stats: GenerationStats | None = None
        self.tokens_decoded = 0  # decode steps the model has run for this answer (producer writes)
        self.decoded_at_cancel: int | None = None  # tokens_decoded when cancel() was first called

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Ask the producer to stop; idempotent, callable from any thread, a no-op once finished."""
        if self.stats is None and not self._cancelled.is_set():
            self.decoded_at_cancel = self.tokens_decoded
            self._cancelled.set()


class TokenStream:
    """Async iterator of answer text pieces (usually one per token).

    ``stats`` is a ``GenerationStats`` once the answer ended (finished, cut by a limit, cancelled
    or failed), ``None`` while it streams or if it was never iterated. ``collect()`` drains it into a
    ``GenerationResult``.
    """

    def __init__(self, source: AsyncGenerator[str, None], state: StreamState) -> None:
        self._source = source
        self._state = state
        weakref.finalize(self, state.cancel)  # dropped unfinished: stop generating

    def __aiter__(self) -> TokenStream:
        return self

    async def __anext__(self) -> str:
        try:
            return await self._source.__anext__()
        except StopAsyncIteration:
            raise
        except BaseException:  # CancelledError included: the consumer is gone, stop decoding
            self._state.cancel()
            raise

    async def aclose(self) -> None:
        """Stop generating (if still running) and wait until the backend has let go of it."""
        self._state.cancel()
        await self._source.aclose()

    async def __aenter__(self) -> TokenStream:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    @property
    def stats(self) -> GenerationStats | None:
        return self._state.stats

    @property
    def cancelled(self) -> bool:
        return self._state.cancelled

    @property
    def tokens_decoded(self) -> int:
        """Decode steps the model ran so far (also the ones after a cancel, which are discarded)."""
        return self._state.tokens_decoded

    @property
    def decoded_at_cancel(self) -> int | None:
        """``tokens_decoded`` at the moment generation was cancelled (``None``: never cancelled)."""
        return self._state.decoded_at_cancel

    async def collect(self) -> GenerationResult:
        """The whole answer; closes the stream whatever happens."""
        async with self:
            pieces = [piece async for piece in self]
        if self._state.stats is None:  # pragma: no cover - every producer sets stats before it ends
            raise GenerationError("the answer stream ended without its stats")
        return GenerationResult("".join(pieces), self._state.stats)
