"""Stop strings over a stream of text pieces.

A stop string can arrive split over several tokens, so text that could be the start of one is
held back until the next piece decides: it either completes a stop string (dropped, answer
ends) or does not (released).
"""

from __future__ import annotations

from typing import Sequence


class StopMatcher:
    """Feed pieces with ``push``; emit what it returns; ``hit`` turns True at a stop string."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(stops)
        self._held = ""
        self.hit = False

    def push(self, text: str) -> str:
        """The text that is safe to emit now (never anything at or after a stop string)."""
        if self.hit:
            return ""
        if not self._stops:
            return text
        buffer = self._held + text
        found = [i for i in (buffer.find(stop) for stop in self._stops) if i >= 0]
        if found:
            self.hit = True
            self._held = ""
            return buffer[: min(found)]
        keep = max((_partial_stop_length(buffer, stop) for stop in self._stops), default=0)
        self._held = buffer[len(buffer) - keep :] if keep else ""
        return buffer[: len(buffer) - keep]

    def flush(self) -> str:
        """The held-back text, at the end of the answer (it never became a stop string)."""
        held, self._held = ("" if self.hit else self._held), ""
        return held


def _partial_stop_length(buffer: str, stop: str) -> int:
    """Length of the longest end of ``buffer`` that is a proper beginning of ``stop``."""
    for length in range(min(len(stop) - 1, len(buffer)), 0, -1):
        if buffer.endswith(stop[:length]):
            return length
    return 0
