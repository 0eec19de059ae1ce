"""ANN parameter sweep: recall@k vs speed for every index kind and parameter value.

``run`` takes a grid such as ``{"hnsw": {"M": [16, 32], "ef_search": [16, 64]}, "flat": {}}``
(a parsed TOML file, see ``benchmarks/configs/``). For each kind, keys that are per-call search
parameters of that kind (its ``search_params_schema``) are swept at search time; every other key
is a build parameter and each combination of build values is built once. Scalars count as
one-value lists.

Measurement (per build configuration and search value):

- ``recall@10`` (``recall@{k}`` in general): batch search ids against ``gt[:, :k]``, or against
  ``exact_search`` when no ground truth is given.
- ``batch_qps``: all queries in one call; one warm-up call, then ``repeats`` timed calls,
  median time reported.
- ``qps`` and ``p50_ms``/``p95_ms``/``p99_ms``: one query per call. A warm-up pass over the first
  ``min(10, nq)`` queries is excluded; each of ``repeats`` passes times every query with
  ``perf_counter_ns``; ours and raw FAISS take turns pass by pass, so background load falls on
  both alike. ``qps`` is the median over passes of ``nq / pass time``; the percentiles are
  over each query's median latency across passes.
- ``build_s``: wall time of ``build`` (training included). ``memory_mb``: size in MiB of the
  serialized index (``faiss.serialize_index``; ours includes the IndexIDMap2 id map).

``faiss_direct`` repeats the same configurations on raw FAISS objects (no IndexIDMap2, no
parameter validation, same derived build parameters, same training sample), with per-call
parameters passed as FAISS ``SearchParameters``, so ``overhead`` is our wrapper's cost as a
measured ratio. FAISS runs on ``threads`` OpenMP threads (default 1), restored afterwards.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import statistics
import time
import tomllib
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import ConfigError
from ..vector import create_index, exact_search, recall_at_k, set_num_threads
from ..vector._faiss import faiss_metric, get_num_threads, import_faiss

#: the kinds a sweep without a config covers; their grids come from ``default_config``
DEFAULT_KINDS = ("flat", "hnsw", "ivf", "sq8")


def default_config(n: int, k: int = 10) -> dict[str, dict[str, Any]]:
    """The grid ``run`` sweeps without a config, derived from the data size and each index's own
    parameters so that every kind reaches its recall ceiling: IVF nprobe doubles from 1 up to its
    nlist (nprobe = nlist scans every list: exact), HNSW ef_search doubles from k up to 512 or n.
    """
    from ..vector.defaults import ivf_nlist

    def doubling(start: int, stop: int) -> list[int]:
        values = [start]
        while values[-1] < stop:
            values.append(min(values[-1] * 2, stop))
        return values

    nlist, _ = ivf_nlist(n)
    return {
        "flat": {},
        "hnsw": {"M": [16, 32], "ef_search": doubling(max(k, 16), max(min(512, n), max(k, 16)))},
        "ivf": {"nlist": [nlist], "nprobe": doubling(1, nlist)},
        "sq8": {},
    }

WARMUP_QUERIES = 10


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A sweep grid from a TOML file; ConfigError naming the file when missing or malformed."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read sweep config: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None
    _check_config(data, str(file))
    return data


def run(
    base: np.ndarray,
    queries: np.ndarray,
    gt: np.ndarray | None = None,
    metric: str = "l2",
    config: Mapping[str, Any] | None = None,
    k: int = 10,
    repeats: int = 3,
    threads: int = 1,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Sweep ``config`` over ``base``/``queries``; see the module docstring for what is measured.

    Returns ``{"rows", "faiss_direct", "overhead", "skipped", "k", "metric", "threads",
    "repeats", "n", "nq", "dim", "seconds", "machine"}``.
    """
    config = default_config(len(base), k if isinstance(k, int) and k > 0 else 10) if config is None else config
    _check_config(config, "sweep config")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"repeats must be a positive integer, got {repeats!r}")
    faiss_metric(metric)
    xb = np.ascontiguousarray(base, dtype=np.float32)
    xq = np.ascontiguousarray(queries, dtype=np.float32)
    if xb.ndim != 2 or xq.ndim != 2 or xb.shape[1] != xq.shape[1] or len(xb) == 0 or len(xq) == 0:
        raise ConfigError(f"base {list(xb.shape)} and queries {list(xq.shape)} must be non-empty [n, d] with equal d")
    if k > len(xb):
        raise ConfigError(f"k={k} exceeds the number of base vectors ({len(xb)})")
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    previous_threads = get_num_threads()
    set_num_threads(threads)
    try:
        truth = _ground_truth(xb, xq, gt, metric, k, say)
        rows: list[dict[str, Any]] = []
        direct: list[dict[str, Any]] = []
        skipped: list[dict[str, Any]] = []
        for kind, grid in config.items():
            for build_given, search_grid in _expand(kind, grid, xb.shape[1], len(xb), metric):
                say(f"{kind} {build_given}: building")
                ours_rows, direct_rows, skips = _sweep_one(
                    kind, build_given, search_grid, xb, xq, truth, metric, k, repeats, say
                )
                rows += ours_rows
                direct += direct_rows
                skipped += skips
        used_threads = get_num_threads()
    finally:
        set_num_threads(previous_threads)
    return {
        "rows": rows,
        "faiss_direct": direct,
        "overhead": overhead(rows, direct),
        "skipped": skipped,
        "k": k,
        "metric": metric,
        "threads": used_threads,
        "repeats": repeats,
        "n": int(len(xb)),
        "nq": int(len(xq)),
        "dim": int(xb.shape[1]),
        "seconds": round(time.perf_counter() - started, 3),
        "machine": machine_info(),
    }


def overhead(rows: list[dict[str, Any]], direct: list[dict[str, Any]]) -> dict[str, Any]:
    """Wrapper overhead over rows matched by (index, params): ``faiss_direct / ours - 1``.

    ``median_ratio_qps`` > 0 means raw FAISS answers that much faster one query at a time.
    """
    theirs = {row_key(r): r for r in direct}
    one, batch = [], []
    for r in rows:
        d = theirs.get(row_key(r))
        if d is None or not r["qps"] or not r["batch_qps"]:
            continue
        one.append(d["qps"] / r["qps"] - 1)
        batch.append(d["batch_qps"] / r["batch_qps"] - 1)
    if not one:
        return {"matched": 0}
    return {
        "matched": len(one),
        "median_ratio_qps": round(statistics.median(one), 4),
        "min_ratio_qps": round(min(one), 4),
        "max_ratio_qps": round(max(one), 4),
        "median_ratio_batch_qps": round(statistics.median(batch), 4),
    }


def row_key(row: Mapping[str, Any]) -> tuple[str, str]:
    """What identifies a configuration across runs: kind and its build+search parameters."""
    return str(row["index"]), json.dumps(row.get("params", {}), sort_keys=True)


def write_jsonl(result: Mapping[str, Any], directory: str | os.PathLike[str] = "benchmarks/results") -> Path:
    """One JSON line per row (ours and faiss_direct, told apart by ``source``) in a new
    ``sweep-<UTC timestamp>.jsonl`` under ``directory``; returns the file's path."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = folder / f"sweep-{stamp}.jsonl"
    n = 1
    while target.exists():
        n += 1
        target = folder / f"sweep-{stamp}-{n}.jsonl"
    common = {"timestamp": stamp, "k": result.get("k"), "threads": result.get("threads"), "machine": result.get("machine")}
    with open(target, "x", encoding="utf-8") as fh:
        for source in ("rows", "faiss_direct"):
            for row in result.get(source, []):
                fh.write(json.dumps({"source": "ours" if source == "rows" else "faiss_direct", **row, **common}) + "\n")
    return target


def machine_info() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "faiss": import_faiss().__version__,
    }


# --------------------------------------------------------------------------- grid


def _check_config(config: Any, where: str) -> None:
    if not isinstance(config, Mapping) or not config:
        raise ConfigError(f"{where}: expected a non-empty table of index kinds, e.g. [hnsw] M = [16, 32]")
    for kind, grid in config.items():
        if not isinstance(grid, Mapping):
            raise ConfigError(f"{where}: [{kind}] must be a table of parameter = value or [values]")
        for name, values in grid.items():
            if isinstance(values, list) and not values:
                raise ConfigError(f"{where}: [{kind}] {name} is an empty list")


def _values(v: Any) -> list[Any]:
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _expand(kind: str, grid: Mapping[str, Any], dim: int, n: int, metric: str):
    """``(build_params, [search_params, ...])`` per build combination of ``kind``."""
    # Bool build parameters (ivfpq refine) can change which search parameters exist: probe with them.
    bools = {name: _values(v)[0] for name, v in grid.items() if isinstance(_values(v)[0], bool)}
    probe = create_index(kind, dim, None, metric, **bools)  # ConfigError for unknown kinds/params
    search_names = [name for name in grid if name in probe.search_params_schema]
    build_names = [name for name in grid if name not in search_names]
    for build_vals in itertools.product(*(_values(grid[name]) for name in build_names)):
        build = dict(zip(build_names, build_vals))
        searches = [dict(zip(search_names, vals)) for vals in itertools.product(*(_values(grid[s]) for s in search_names))]
        yield build, searches


# --------------------------------------------------------------------------- measuring


def _ground_truth(xb, xq, gt, metric, k, say) -> np.ndarray:
    if gt is None:
        say("computing exact ground truth")
        return exact_search(xb, None, xq, k, metric)[1]
    truth = np.asarray(gt)
    if truth.ndim != 2 or len(truth) != len(xq) or truth.shape[1] < k:
        raise ConfigError(f"ground truth has shape {list(truth.shape)}; need [{len(xq)}, >= {k}] for {len(xq)} queries")
    return truth[:, :k].astype(np.int64)


def _time_pair(searches: list[Callable[[np.ndarray], np.ndarray]], xq: np.ndarray, repeats: int) -> list[dict[str, Any]]:
    """Batch and one-at-a-time timings of each ``search(queries) -> ids`` (see module docstring).

    The searches take turns pass by pass (ours, raw FAISS, ours, ...), so load from anything else
    on the machine falls on both alike and their ratio stays meaningful.
    """
    nq = len(xq)
    ids = [search(xq) for search in searches]  # warm-up, and the ids recall is computed from
    batch_ns = [[] for _ in searches]
    for _ in range(repeats):
        for search, out in zip(searches, batch_ns):
            t0 = time.perf_counter_ns()
            search(xq)
            out.append(time.perf_counter_ns() - t0)
    singles = [xq[i : i + 1] for i in range(nq)]
    for search in searches:
        for q in singles[:WARMUP_QUERIES]:
            search(q)
    per_query = [np.empty((repeats, nq), dtype=np.int64) for _ in searches]
    clock = time.perf_counter_ns
    for r in range(repeats):
        for search, times in zip(searches, per_query):
            row = times[r]
            for i, q in enumerate(singles):
                t0 = clock()
                search(q)
                row[i] = clock() - t0
    results = []
    for found, batch, times in zip(ids, batch_ns, per_query):
        pass_qps = [nq / (row.sum() / 1e9) for row in times]
        lat_ms = np.median(times, axis=0) / 1e6
        results.append(
            {
                "ids": found,
                "qps": round(float(statistics.median(pass_qps)), 2),
                "batch_qps": round(float(nq / (statistics.median(batch) / 1e9)), 2),
                "p50_ms": round(float(np.percentile(lat_ms, 50)), 4),
                "p95_ms": round(float(np.percentile(lat_ms, 95)), 4),
                "p99_ms": round(float(np.percentile(lat_ms, 99)), 4),
            }
        )
    return results


def _sweep_one(kind, build_given, search_grid, xb, xq, truth, metric, k, repeats, say):
    faiss = import_faiss()
    index = create_index(kind, xb.shape[1], len(xb), metric, **build_given)
    t0 = time.perf_counter()
    index.build(xb)
    ours_build = time.perf_counter() - t0
    ours_mb = _mib(faiss.serialize_index(index._index))
    derived = index.describe()["build_params"]

    t0 = time.perf_counter()
    raw = _direct_build(kind, derived, xb, metric)
    direct_build = time.perf_counter() - t0
    direct_mb = _mib(faiss.serialize_index(raw))

    schema = index.search_params_schema
    rows, direct_rows, skipped = [], [], []
    for sp in search_grid:
        params = {**build_given, **sp}
        too_big = [n for n, v in sp.items() if schema[n].maximum is not None and v > schema[n].maximum]
        if too_big:
            skipped.append({"index": kind, "params": params, "reason": f"{', '.join(too_big)} above its maximum for this build"})
            continue
        values = {**index.search_defaults(), **sp}
        fparams = _direct_params(kind, derived, values, k)
        ours, theirs = _time_pair(
            [lambda q, _p=sp: index.search(q, k, params=_p)[1], lambda q, _p=fparams: raw.search(q, k, params=_p)[1]], xq, repeats
        )
        for timing, build_s, mb, out in ((ours, ours_build, ours_mb, rows), (theirs, direct_build, direct_mb, direct_rows)):
            ids = timing.pop("ids")
            out.append(
                {
                    "index": kind,
                    "params": params,
                    f"recall@{k}": round(recall_at_k(ids, truth, k), 4),
                    **timing,
                    "build_s": round(build_s, 4),
                    "memory_mb": round(mb, 4),
                }
            )
        if f"recall@{k}" != "recall@10":  # contract key, for callers that always read recall@10
            for out in (rows, direct_rows):
                out[-1]["recall@10"] = out[-1][f"recall@{k}"]
        say(f"{kind} {params}: recall@{k}={rows[-1][f'recall@{k}']:.3f} qps={rows[-1]['qps']:.0f} (faiss {direct_rows[-1]['qps']:.0f})")
    return rows, direct_rows, skipped


def _mib(buf: Any) -> float:
    return float(np.asarray(buf).nbytes) / 2**20


def _direct_build(kind: str, params: Mapping[str, Any], xb: np.ndarray, metric: str) -> Any:
    """The same index as ours, on raw FAISS (same derived params, seeds and training sample)."""
    from ..vector.base import _train_sample  # the very sample our build trains on

    faiss = import_faiss()
    d, m = xb.shape[1], faiss_metric(metric)
    if kind == "flat":
        index = faiss.IndexFlat(d, m)
    elif kind == "sq8":
        index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, m)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, params["M"], m)
        index.hnsw.efConstruction = params["ef_construction"]
    elif kind == "ivf":
        index = faiss.IndexIVFFlat(faiss.IndexFlat(d, m), d, params["nlist"], m)
        index.cp.seed = params["seed"]
    elif kind == "ivfpq":
        pq = faiss.IndexIVFPQ(faiss.IndexFlat(d, m), d, params["nlist"], params["m"], params["nbits"], m)
        pq.cp.seed = params["seed"]
        pq.pq.cp.seed = params["seed"]
        index = faiss.IndexRefineFlat(pq) if params.get("refine") else pq
    else:
        raise ConfigError(f"no raw-FAISS equivalent known for index kind {kind!r}")
    if not index.is_trained:
        size = params.get("train_size", len(xb))
        index.train(_train_sample(xb, size, int(params.get("seed", 0))))
    index.add(xb)
    return index


def _direct_params(kind: str, params: Mapping[str, Any], values: Mapping[str, Any], k: int) -> Any:
    faiss = import_faiss()
    if kind == "hnsw":
        return faiss.SearchParametersHNSW(efSearch=max(int(values["ef_search"]), k))  # as ours does
    if kind == "ivf" or (kind == "ivfpq" and not params.get("refine")):
        return faiss.SearchParametersIVF(nprobe=int(values["nprobe"]))
    if kind == "ivfpq":
        base = faiss.SearchParametersIVF(nprobe=int(values["nprobe"]))
        out = faiss.IndexRefineSearchParameters(k_factor=float(values["k_factor"]), base_index_params=base)
        out.keep_alive = base
        return out
    return None
