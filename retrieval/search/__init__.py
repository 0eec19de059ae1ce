"""Search modes: the planner, fusion for hybrid search, BM25-prefiltered dense search.

Importing this package imports nothing heavy: the mode names (``mode_names()``, from the registry
in ``retrieval.search.modes``) are read by the command line while it parses; each name below
loads its module on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_getattr

if TYPE_CHECKING:
    from .fusion import fuse
    from .modes import mode_names
    from .planner import DenseSide, Planner
    from .prefilter import exact_topk, prefilter_search

# public name -> the submodule that defines it
_LAZY = {
    "mode_names": ".modes",
    "DenseSide": ".planner",
    "Planner": ".planner",
    "exact_topk": ".prefilter",
    "fuse": ".fusion",
    "prefilter_search": ".prefilter",
}

__all__ = [
    "DenseSide",
    "Planner",
    "exact_topk",
    "fuse",
    "mode_names",
    "prefilter_search",
]


__getattr__ = lazy_getattr(__name__, _LAZY)
