"""``hnsw``: graph search over full vectors (IndexHNSWFlat); per-call parameter ``ef_search``.

Build is parallel (OpenMP) and so not bit-reproducible with more than one thread; search is.
A GPU build (``gpu.build_hnsw_with_cagra``) produces an ``IndexHNSWCagra``, which loads as this
kind too.
"""

from __future__ import annotations

from typing import Any

from . import defaults
from ._faiss import faiss_metric, import_faiss
from .base import VectorIndex
from .params import ParamSpec

EF_SEARCH = ParamSpec("ef_search", int, "candidate list size while searching (recall/latency knob)", minimum=1)


class HNSWIndex(VectorIndex):
    kind = "hnsw"
    build_params_schema = {
        "M": ParamSpec("M", int, "graph neighbours per node (2*M on the base layer)", minimum=2, maximum=512),
        "ef_construction": ParamSpec("ef_construction", int, "candidate list size while building", minimum=1),
        "ef_search": EF_SEARCH,
    }

    @property
    def search_params_schema(self) -> dict[str, ParamSpec]:
        return {"ef_search": EF_SEARCH}

    def _plan(self, n: int) -> tuple[dict[str, Any], dict[str, str]]:
        rules = {
            "M": (defaults.HNSW_M, "fixed default"),
            "ef_construction": (defaults.HNSW_EF_CONSTRUCTION, "fixed default"),
            "ef_search": (defaults.HNSW_EF_SEARCH, "2x the smallest efSearch reaching recall@10 >= 0.95 on SIFT10K and SciFact-MiniLM (24)"),
        }
        params, derivation = {}, {}
        for name, (value, rule) in rules.items():
            params[name] = self._given.get(name, value)
            derivation[name] = "given" if name in self._given else rule
        return params, derivation

    def _new_faiss_index(self, params: dict[str, Any]) -> Any:
        index = import_faiss().IndexHNSWFlat(self.dim, params["M"], faiss_metric(self.metric))
        index.hnsw.efConstruction = params["ef_construction"]
        index.hnsw.efSearch = params["ef_search"]  # persisted default; searches pass their own
        return index

    def _search_parameters(self, values: dict[str, Any], sel: Any, k: int) -> Any:
        # FAISS can return fewer than k hits when efSearch < k (measured: 4 of 20 missing at
        # efSearch=1), so the effective value is max(ef_search, k).
        return import_faiss().SearchParametersHNSW(efSearch=max(values["ef_search"], k), sel=sel)

    def factory_string(self) -> str:
        return f"IDMap2,HNSW{self._params.get('M', '?')},Flat"

    @classmethod
    def _accepts(cls, inner: Any) -> bool:
        faiss = import_faiss()
        return isinstance(inner, (faiss.IndexHNSWFlat, faiss.IndexHNSWCagra))

    @classmethod
    def _params_from_faiss(cls, inner: Any) -> dict[str, Any]:
        return {
            "M": int(inner.hnsw.nb_neighbors(1)),
            "ef_construction": int(inner.hnsw.efConstruction),
            "ef_search": int(inner.hnsw.efSearch),
        }
