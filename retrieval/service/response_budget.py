"""How big a search response will be, estimated before any of its work is done.

One SearchBatch of 256 hybrid queries at k=1000 asks for 256,000 hits: running it takes seconds
of CPU, only for the response to be refused for its size afterwards. ``ResponseBudget.check``
refuses such a call at once with ``ResponseTooLarge`` (RESOURCE_EXHAUSTED, as the exact check
after the work does), before any query is embedded or searched.

The estimate: a query returns at most min(k, live chunks) hits, and a hit takes the mean
serialized size of a sample of the bundle's chunks (ids, text, title, score and framing),
measured once per bundle version. It is the typical size, not a bound: a call estimated under
the limit can still come out over it, and the servicer's exact check refuses it then.
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

import numpy as np

from . import convert
from .errors import ResponseTooLarge

SAMPLE_CHUNKS = 256  # chunks whose size is measured, evenly spread over the store
RESPONSE_OVERHEAD_BYTES = 256  # per SearchResponse: ~10 stage timings, the cached flag, framing


class ResponseBudget:
    """Refuses searches whose responses would be over ``max_send_bytes``."""

    def __init__(self, engine: Any, max_send_bytes: int, sample_chunks: int = SAMPLE_CHUNKS) -> None:
        self.engine = engine
        self.max_send_bytes = max_send_bytes
        self.sample_chunks = sample_chunks
        self._measured: tuple[str, float] | None = None  # (bundle version, mean bytes per hit)

    async def check(self, ks: Sequence[int]) -> None:
        """``ResponseTooLarge`` when the responses to queries asking for ``ks`` hits (one k per
        query) would together be over the limit."""
        if not ks:
            return
        per_hit = await self.hit_bytes()
        chunks = self._live_chunks()
        hits = [min(k, chunks) for k in ks]
        estimate = round(sum(hits) * per_hit) + len(ks) * RESPONSE_OVERHEAD_BYTES
        if estimate <= self.max_send_bytes:
            return
        shape = f"{len(ks)} queries x up to {max(hits)} hits" if len(ks) > 1 else f"up to {hits[0]} hits"
        raise ResponseTooLarge(
            f"the response would be about {estimate} bytes ({shape} of ~{per_hit:.0f} bytes each), "
            f"over this server's limit of {self.max_send_bytes}: ask for a smaller k or fewer queries per call"
        )

    async def hit_bytes(self) -> float:
        """The mean bytes of one hit of the current bundle version (measured off the event loop)."""
        view = self.engine.view()  # the version and the chunks measured belong together
        if self._measured is None or self._measured[0] != view.version:
            self._measured = (view.version, await asyncio.to_thread(self._measure, view.store))
        return self._measured[1]

    def _measure(self, store: Any) -> float:
        n = len(store)
        if n == 0:
            return 0.0
        ids = np.unique(np.linspace(0, n - 1, min(n, self.sample_chunks)).astype(np.int64))
        sizes = [convert.hit_size(c.id, c.doc_id, c.text, c.title) for c in store.get(ids)]
        return float(np.mean(sizes))

    def _live_chunks(self) -> int:
        chunks = self.engine.counts.get("chunks")
        return int(chunks) if isinstance(chunks, int) else len(self.engine.store)
