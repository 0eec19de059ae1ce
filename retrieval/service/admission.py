"""Admission control: a bound on calls doing work, a bounded queue, two priorities, deadlines.

    admission = Admission(max_inflight=64, queue_limit=256)
    async with admission.slot(INTERACTIVE, deadline):   # Overloaded / DeadlineExpired / NotServing
        ...the call's work...

At most ``max_inflight`` calls hold a slot. The next ``queue_limit`` wait, interactive calls
(Search, Answer) served before batch calls (SearchBatch), first come first served within a
priority. A call that finds the queue full is refused at once (RESOURCE_EXHAUSTED) rather than
left to time out: the client learns in microseconds that it should back off. A call whose
deadline passes while it waits leaves the queue and its work never starts. Runs on one event
loop (not thread-safe).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import AsyncIterator, Callable

from .errors import DeadlineExpired, NotServing, Overloaded

INTERACTIVE = 0
BATCH = 1
PRIORITIES = (INTERACTIVE, BATCH)


class Admission:
    def __init__(self, max_inflight: int, queue_limit: int, on_queue_depth: Callable[[int], None] | None = None) -> None:
        self.max_inflight = max_inflight
        self.queue_limit = queue_limit
        self._on_queue_depth = on_queue_depth
        self._inflight = 0
        self._queues: dict[int, deque[asyncio.Future[None]]] = {p: deque() for p in PRIORITIES}
        self._closed = False

    @property
    def inflight(self) -> int:
        return self._inflight

    @property
    def queued(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def close(self) -> None:
        """Refuse new calls (draining); calls already admitted or queued still run."""
        self._closed = True

    @contextlib.asynccontextmanager
    async def slot(self, priority: int, deadline: float | None) -> AsyncIterator[float]:
        """Hold a slot for the ``async with`` body; yields the milliseconds spent queued."""
        started = time.perf_counter_ns()
        await self._acquire(priority, deadline)
        try:
            yield (time.perf_counter_ns() - started) / 1e6
        finally:
            self._release()

    async def _acquire(self, priority: int, deadline: float | None) -> None:
        if self._closed:
            raise NotServing("the server is shutting down")
        if self._inflight < self.max_inflight and not self.queued:
            self._inflight += 1
            return
        if self.queued >= self.queue_limit:
            raise Overloaded(
                f"server overloaded: {self._inflight} calls running and {self.queued} queued "
                f"(limit {self.queue_limit}); retry later"
            )
        queue = self._queues[priority]
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(waiter)
        self._depth_changed()
        try:
            if deadline is None:
                await waiter
            else:
                async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
                    await waiter
        except BaseException as exc:
            # Timed out or cancelled (the client went away): a slot handed over at the same
            # moment passes on to the next waiter.
            if waiter.done() and not waiter.cancelled():
                self._release()
            if isinstance(exc, TimeoutError):
                raise DeadlineExpired("the deadline passed while the call waited in the admission queue") from None
            raise
        finally:
            with contextlib.suppress(ValueError):
                queue.remove(waiter)
                self._depth_changed()

    def _release(self) -> None:
        for priority in PRIORITIES:
            queue = self._queues[priority]
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the slot passes straight to the waiter
                    self._depth_changed()
                    return
        self._inflight -= 1

    def _depth_changed(self) -> None:
        if self._on_queue_depth is not None:
            self._on_queue_depth(self.queued)
