"""BM25 keyword search over the native index.

Importing this package loads neither numpy nor the native module: config validation reads
``variant_names()`` (the registry in ``retrieval.keyword.variants``); each name below loads its
module on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_getattr

if TYPE_CHECKING:
    from .bm25 import BM25, BM25Builder
    from .protocol import KeywordIndex
    from .variants import variant_names
    from .vocabulary import Vocabulary

# public name -> the submodule that defines it
_LAZY = {
    "BM25": ".bm25",
    "BM25Builder": ".bm25",
    "KeywordIndex": ".protocol",
    "Vocabulary": ".vocabulary",
    "variant_names": ".variants",
}

__all__ = [
    "BM25",
    "BM25Builder",
    "KeywordIndex",
    "Vocabulary",
    "variant_names",
]


__getattr__ = lazy_getattr(__name__, _LAZY)
