"""``mode="auto"``'s rule: answer with BM25 alone when its ranking is confident.

One signal, a few microseconds from scores BM25 has already computed: the relative spread of
its top scores, ``(s_1 - s_depth) / s_1`` (``RoutingConfig``). A query whose best hits stand
far above the rest is one where the dense side rarely changes the top 10 (measured on SciFact
dev); one whose scores are flat, or that matched nothing, goes on to hybrid. The decision is
a stage of the result's timings: ``route_bm25`` or ``route_hybrid`` (the rule's own time).
"""

from __future__ import annotations

import numpy as np

from ..config import RoutingConfig

ROUTE_BM25 = "route_bm25"
ROUTE_HYBRID = "route_hybrid"


def top_spread(scores: np.ndarray, depth: int) -> float:
    """``(s_1 - s_depth) / s_1`` of scores sorted best first (a missing hit scores 0; 0 when
    nothing matched, so that an empty BM25 ranking is never confident)."""
    if len(scores) == 0 or not scores[0] > 0:
        return 0.0
    last = float(scores[depth - 1]) if len(scores) >= depth else 0.0
    return (float(scores[0]) - last) / float(scores[0])


def stays_with_bm25(scores: np.ndarray, config: RoutingConfig) -> bool:
    """Whether BM25's ranking (its top ``config.depth`` scores at least) is the answer; never
    when BM25 matched nothing (the dense side is all there is then)."""
    return len(scores) > 0 and scores[0] > 0 and top_spread(scores, config.depth) >= config.min_spread


def route_of(stages: dict[str, float] | object) -> str | None:
    """``"bm25"`` or ``"hybrid"``: where an auto search went (None: not an auto search)."""
    names = stages.keys() if isinstance(stages, dict) else getattr(stages, "stages", {}).keys()
    for name in names:
        if name in (ROUTE_BM25, ROUTE_HYBRID):
            return name[len("route_"):]
    return None
