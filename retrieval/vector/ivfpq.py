"""``ivfpq``: inverted lists over product-quantized codes (IndexIVFPQ), optionally re-ranked
with the exact vectors (IndexRefineFlat). Per-call parameters: ``nprobe``, and ``k_factor``
(candidates re-ranked = k_factor * k) when built with ``refine=True``.

Selector subtlety: ``IndexRefine`` ignores ``SearchParameters.sel`` at its own level, and
``IndexIDMap2`` only translates the top-level selector. With refine, the selector therefore goes
into the base index's parameters, wrapped in ``IDSelectorTranslated`` (chunk id -> position).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from . import defaults
from ._faiss import faiss_metric, import_faiss
from .base import VectorIndex
from .ivf import NLIST, NPROBE, SEED, ivf_search_parameters, nprobe_spec, plan_ivf
from .params import ParamSpec

K_FACTOR = ParamSpec("k_factor", float, "re-rank k_factor*k PQ candidates with exact vectors", minimum=1.0)


class IVFPQIndex(VectorIndex):
    kind = "ivfpq"
    build_params_schema = {
        "nlist": NLIST,
        "nprobe": NPROBE,
        "m": ParamSpec("m", int, "PQ sub-quantizers (bytes per vector at nbits=8); must divide dim", minimum=1),
        "nbits": ParamSpec("nbits", int, "bits per sub-quantizer code", minimum=defaults.PQ_MIN_NBITS, maximum=12),
        "refine": ParamSpec("refine", bool, "keep exact vectors and re-rank PQ candidates with them"),
        "k_factor": K_FACTOR,
        "seed": SEED,
    }

    @property
    def refine(self) -> bool:
        return bool(self._params.get("refine", self._given.get("refine", False)))

    @property
    def exact_vectors(self) -> bool:  # type: ignore[override]
        return self.refine

    @property
    def search_params_schema(self) -> dict[str, ParamSpec]:
        schema = {"nprobe": nprobe_spec(self._params)}
        if self.refine:
            schema["k_factor"] = K_FACTOR
        return schema

    def _check_given(self, given: dict[str, Any]) -> None:
        if "m" in given and self.dim % given["m"]:
            raise ConfigError(f"ivfpq m={given['m']} must divide dim={self.dim}")
        if "k_factor" in given and not given.get("refine", False):
            raise ConfigError("ivfpq k_factor only applies with refine=True")

    def _plan(self, n: int) -> tuple[dict[str, Any], dict[str, str]]:
        if n < defaults.pq_min_vectors():
            raise ConfigError(
                f"ivfpq needs at least {defaults.pq_min_vectors()} vectors to train its codebooks, got {n}; "
                "use 'flat' or 'hnsw' for a collection this small"
            )
        params, derivation = plan_ivf(self._given, n)
        for name, (value, rule) in {
            "m": defaults.pq_m(self.dim),
            "nbits": defaults.pq_nbits(params["train_size"]),
            "refine": (False, "fixed default (refine keeps the full vectors: 4*dim more bytes per vector)"),
        }.items():
            params[name] = self._given.get(name, value)
            derivation[name] = "given" if name in self._given else rule
        if params["refine"]:
            params["k_factor"] = self._given.get("k_factor", defaults.REFINE_K_FACTOR)
            derivation["k_factor"] = "given" if "k_factor" in self._given else "fixed default"
        return params, derivation

    def _new_faiss_index(self, params: dict[str, Any]) -> Any:
        faiss = import_faiss()
        metric = faiss_metric(self.metric)
        base = faiss.IndexIVFPQ(
            faiss.IndexFlat(self.dim, metric), self.dim, params["nlist"], params["m"], params["nbits"], metric
        )
        base.cp.seed = params["seed"]
        base.pq.cp.seed = params["seed"]
        base.nprobe = params["nprobe"]  # persisted default; searches pass their own
        if not params["refine"]:
            return base
        refined = faiss.IndexRefineFlat(base)
        refined.k_factor = params["k_factor"]
        return refined

    def _train_size(self, params: dict[str, Any], n: int) -> int:
        return params["train_size"]

    def _after_train(self, inner: Any, params: dict[str, Any]) -> None:
        if not params["refine"]:
            inner.make_direct_map()  # reconstruct() by id (decoded PQ codes)

    def _search_parameters(self, values: dict[str, Any], sel: Any, k: int) -> Any:
        faiss = import_faiss()
        if not self.refine:
            return ivf_search_parameters(values["nprobe"], sel)
        translated = None if sel is None else faiss.IDSelectorTranslated(self._index.id_map, sel)
        base = ivf_search_parameters(values["nprobe"], translated)
        params = faiss.IndexRefineSearchParameters(k_factor=values["k_factor"], base_index_params=base)
        params.keep_alive = (base, translated, sel)  # raw pointers inside params refer to these
        return params

    def factory_string(self) -> str:
        p = self._params
        refine = ",RFlat" if self.refine else ""
        return f"IDMap2,IVF{p.get('nlist', '?')},PQ{p.get('m', '?')}x{p.get('nbits', '?')}{refine}"

    @classmethod
    def _accepts(cls, inner: Any) -> bool:
        faiss = import_faiss()
        if isinstance(inner, faiss.IndexRefineFlat):
            inner = faiss.downcast_index(inner.base_index)
        return type(inner) is faiss.IndexIVFPQ

    @classmethod
    def _params_from_faiss(cls, inner: Any) -> dict[str, Any]:
        faiss = import_faiss()
        extra: dict[str, Any] = {"refine": False}
        if isinstance(inner, faiss.IndexRefineFlat):
            extra = {"refine": True, "k_factor": float(inner.k_factor)}
            inner = faiss.downcast_index(inner.base_index)
        return {
            "nlist": int(inner.nlist),
            "nprobe": int(inner.nprobe),
            "m": int(inner.pq.M),
            "nbits": int(inner.pq.nbits),
            **extra,
        }
