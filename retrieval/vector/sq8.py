"""``sq8``: exhaustive search over 8-bit scalar-quantized vectors (4x smaller than flat).

Training only records each dimension's range, so it uses every vector and is deterministic.
"""

from __future__ import annotations

from typing import Any

from ._faiss import faiss_metric, import_faiss
from .base import VectorIndex


class SQ8Index(VectorIndex):
    kind = "sq8"
    exact_vectors = False

    def _plan(self, n: int) -> tuple[dict[str, Any], dict[str, str]]:
        return {}, {}

    def _new_faiss_index(self, params: dict[str, Any]) -> Any:
        faiss = import_faiss()
        return faiss.IndexScalarQuantizer(self.dim, faiss.ScalarQuantizer.QT_8bit, faiss_metric(self.metric))

    def factory_string(self) -> str:
        return "IDMap2,SQ8"

    @classmethod
    def _accepts(cls, inner: Any) -> bool:
        faiss = import_faiss()
        return isinstance(inner, faiss.IndexScalarQuantizer) and inner.sq.qtype == faiss.ScalarQuantizer.QT_8bit
