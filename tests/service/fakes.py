"""Test doubles: the real engine with a delay and scripted failures."""

from __future__ import annotations

import threading
import time
from typing import Any, Mapping


class ScriptedEngine:
    """Delegates to a real ``Engine``; ``search`` first sleeps ``delay_s`` and raises the error
    scripted for its query, if any. ``calls`` lists the queries whose search ran. ``asearch``
    (what warm-up uses) waits for ``warm_gate`` first, when one is given."""

    def __init__(
        self,
        engine: Any,
        delay_s: float = 0.0,
        errors: Mapping[str, BaseException] | None = None,
        warm_gate: threading.Event | None = None,
    ) -> None:
        self._engine = engine
        self.delay_s = delay_s
        self.warm_gate = warm_gate
        self.errors = dict(errors or {})
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def search(
        self, query: str, k: int = 10, mode: str = "bm25", params: Any = None, query_vector: Any = None, filters: Any = None
    ) -> Any:
        with self._lock:
            self.calls.append(query)
        if query in self.errors:
            raise self.errors[query]
        time.sleep(self.delay_s)
        return self._engine.search(query, k, mode, params, query_vector=query_vector, filters=filters)

    async def asearch(self, *args: Any, **kwargs: Any) -> Any:
        if self.warm_gate is not None:
            import asyncio

            await asyncio.to_thread(self.warm_gate.wait, 30)
        return await self._engine.asearch(*args, **kwargs)
