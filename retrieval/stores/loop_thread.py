"""A private asyncio event loop on a daemon thread, so async clients (asyncpg) can serve
synchronous callers and callers on any other event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable, Coroutine, TypeVar

T = TypeVar("T")


class LoopThread:
    """Runs coroutines on one loop owned by a background thread."""

    def __init__(self, name: str = "retrieval-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the private loop and wait for its result (from a non-loop thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def run_async(self, coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
        """Run ``coro`` on the private loop; await the result from any other event loop."""
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def close(self) -> None:
        """Stop the loop and its thread; idempotent."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()
