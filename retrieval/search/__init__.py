"""Search modes: the planner, fusion for hybrid search, BM25-prefiltered dense search."""

from .fusion import fuse
from .planner import MODES, DenseSide, Planner
from .prefilter import exact_topk, prefilter_search

__all__ = ["MODES", "DenseSide", "Planner", "exact_topk", "fuse", "prefilter_search"]
