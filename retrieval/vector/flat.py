"""``flat``: exhaustive exact search (IndexFlatIP / IndexFlatL2). The reference for recall."""

from __future__ import annotations

from typing import Any

from ._faiss import faiss_metric, import_faiss
from .base import VectorIndex


class FlatIndex(VectorIndex):
    kind = "flat"

    def _plan(self, n: int) -> tuple[dict[str, Any], dict[str, str]]:
        return {}, {}

    def _new_faiss_index(self, params: dict[str, Any]) -> Any:
        return import_faiss().IndexFlat(self.dim, faiss_metric(self.metric))

    def factory_string(self) -> str:
        return "IDMap2,Flat"

    @classmethod
    def _accepts(cls, inner: Any) -> bool:
        faiss = import_faiss()
        return type(inner) in (faiss.IndexFlat, faiss.IndexFlatIP, faiss.IndexFlatL2)
