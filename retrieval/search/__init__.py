"""Search modes: the planner, fusion for hybrid search, BM25-prefiltered dense search.

Importing this package imports nothing heavy: the mode names (``mode_names()``, from the registry
in ``retrieval.search.modes``) are read by the command line while it parses; each name below
loads its module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
