"""``ivf``: inverted lists over full vectors (IndexIVFFlat); per-call parameter ``nprobe``."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from . import defaults
from ._faiss import faiss_metric, import_faiss
from .base import VectorIndex
from .params import ParamSpec

NLIST = ParamSpec("nlist", int, "number of inverted lists (k-means centroids)", minimum=1)
NPROBE = ParamSpec("nprobe", int, "inverted lists scanned per query (recall/latency knob)", minimum=1)
SEED = ParamSpec("seed", int, "seed of the training sample and k-means initialisation", minimum=0)


def plan_ivf(given: dict[str, Any], n: int) -> tuple[dict[str, Any], dict[str, str]]:
    """nlist, nprobe, training-sample size and seed for ``n`` vectors (shared with ivfpq)."""
    params: dict[str, Any] = {}
    derivation: dict[str, str] = {}
    if "nlist" in given:
        if given["nlist"] > n:
            raise ConfigError(f"nlist={given['nlist']} exceeds the number of vectors ({n}); use fewer lists or 'flat'")
        params["nlist"], derivation["nlist"] = given["nlist"], "given"
    else:
        params["nlist"], derivation["nlist"] = defaults.ivf_nlist(n)
    if "nprobe" in given:
        if given["nprobe"] > params["nlist"]:
            raise ConfigError(f"nprobe={given['nprobe']} exceeds nlist={params['nlist']}")
        params["nprobe"], derivation["nprobe"] = given["nprobe"], "given"
    else:
        params["nprobe"], derivation["nprobe"] = defaults.ivf_nprobe(params["nlist"])
    params["train_size"], derivation["train_size"] = defaults.ivf_train_size(n, params["nlist"])
    params["seed"] = given.get("seed", defaults.DEFAULT_SEED)
    derivation["seed"] = "given" if "seed" in given else "fixed default"
    return params, derivation


def ivf_search_parameters(nprobe: int, sel: Any) -> Any:
    return import_faiss().SearchParametersIVF(nprobe=nprobe, sel=sel)


def nprobe_spec(params: dict[str, Any]) -> ParamSpec:
    nlist = params.get("nlist")
    return NPROBE if nlist is None else NPROBE.with_maximum(nlist)


class IVFIndex(VectorIndex):
    kind = "ivf"
    build_params_schema = {"nlist": NLIST, "nprobe": NPROBE, "seed": SEED}

    @property
    def search_params_schema(self) -> dict[str, ParamSpec]:
        return {"nprobe": nprobe_spec(self._params)}

    def _plan(self, n: int) -> tuple[dict[str, Any], dict[str, str]]:
        return plan_ivf(self._given, n)

    def _new_faiss_index(self, params: dict[str, Any]) -> Any:
        faiss = import_faiss()
        metric = faiss_metric(self.metric)
        index = faiss.IndexIVFFlat(faiss.IndexFlat(self.dim, metric), self.dim, params["nlist"], metric)
        index.cp.seed = params["seed"]
        index.nprobe = params["nprobe"]  # persisted default; searches pass their own
        return index

    def _train_size(self, params: dict[str, Any], n: int) -> int:
        return params["train_size"]

    def _after_train(self, inner: Any, params: dict[str, Any]) -> None:
        inner.make_direct_map()  # reconstruct() by id, 8 bytes per vector

    def _search_parameters(self, values: dict[str, Any], sel: Any, k: int) -> Any:
        return ivf_search_parameters(values["nprobe"], sel)

    def factory_string(self) -> str:
        return f"IDMap2,IVF{self._params.get('nlist', '?')},Flat"

    @classmethod
    def _accepts(cls, inner: Any) -> bool:
        return type(inner) is import_faiss().IndexIVFFlat

    @classmethod
    def _params_from_faiss(cls, inner: Any) -> dict[str, Any]:
        return {"nlist": int(inner.nlist), "nprobe": int(inner.nprobe)}
