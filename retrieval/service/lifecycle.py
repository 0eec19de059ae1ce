"""The server's life: warming up, serving, draining; and the calls in flight.

New calls are taken only while serving: during warm-up and during a drain they get
UNAVAILABLE (a client retries elsewhere), while calls already running finish. ``wait_idle``
is what a graceful stop waits on.
"""

from __future__ import annotations

import asyncio
import enum

from .errors import NotServing


class Phase(enum.Enum):
    WARMING = "warming"
    SERVING = "serving"
    DRAINING = "draining"


class Lifecycle:
    """Runs on one event loop."""

    def __init__(self) -> None:
        self.phase = Phase.WARMING
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def active(self) -> int:
        """Calls in flight (admitted by ``enter`` and not yet ``exit``-ed)."""
        return self._active

    def serving(self) -> None:
        if self.phase is Phase.WARMING:
            self.phase = Phase.SERVING

    def draining(self) -> None:
        self.phase = Phase.DRAINING

    def enter(self) -> None:
        """Count a new call in, or ``NotServing`` if the server takes none now."""
        if self.phase is Phase.WARMING:
            raise NotServing("the server is warming up; retry in a moment")
        if self.phase is Phase.DRAINING:
            raise NotServing("the server is shutting down")
        self._active += 1
        self._idle.clear()

    def exit(self) -> None:
        self._active -= 1
        if self._active == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no call is in flight; False if ``timeout`` seconds passed first."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True
