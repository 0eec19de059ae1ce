"""BM25 keyword search over the native index.

Importing this package loads neither numpy nor the native module: config validation reads
``variant_names()`` (the registry in ``retrieval.keyword.variants``); each name below loads its
module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bm25 import BM25, BM25Builder
    from .variants import variant_names
    from .vocabulary import Vocabulary

# public name -> the submodule that defines it
_LAZY = {
    "BM25": ".bm25",
    "BM25Builder": ".bm25",
    "Vocabulary": ".vocabulary",
    "variant_names": ".variants",
}

__all__ = [
    "BM25",
    "BM25Builder",
    "Vocabulary",
    "variant_names",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
