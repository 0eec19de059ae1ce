"""A bounded pool of threads for the CPU work of requests (BM25, FAISS, chunk fetch, prompts).

The event loop only moves bytes; the native code releases the GIL, so a few threads keep the
cores busy while the loop keeps answering (health checks included). A job whose call's deadline
has already passed when a thread picks it up is dropped, not run: nobody waits for its answer.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from .errors import DeadlineExpired

T = TypeVar("T")


class CpuPool:
    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="retrieval-cpu")

    async def run(self, fn: Callable[[], T], deadline: float | None = None) -> T:
        """``fn()`` on a pool thread; ``DeadlineExpired`` instead if ``deadline`` passes first.

        ``fn`` runs in a copy of the caller's context (as ``asyncio.to_thread`` does), so the
        call's trace span is the parent of what it records."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        return await loop.run_in_executor(self._executor, context.run, _unless_expired, fn, deadline)

    def shutdown(self, wait: bool = True) -> None:
        """Drop queued jobs; ``wait`` for the running ones (a thread cannot be interrupted)."""
        self._executor.shutdown(wait=wait, cancel_futures=True)


def check_deadline(deadline: float | None, what: str = "its work could start") -> None:
    """``DeadlineExpired`` if ``deadline`` (``time.monotonic()`` seconds) has passed."""
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlineExpired(f"the deadline passed before {what}")


def _unless_expired(fn: Callable[[], T], deadline: float | None) -> T:
    check_deadline(deadline)
    return fn()
