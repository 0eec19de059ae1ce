"""Recall-vs-QPS curves of a sweep result, with Pareto-optimal points marked."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence


def pareto(rows: Sequence[Mapping[str, Any]], x: str = "recall@10", y: str = "qps") -> list[Mapping[str, Any]]:
    """Rows not dominated on (``x``, ``y``), both maximised, sorted by ``x`` ascending.

    A row is dominated when another row is at least as good on both and strictly better on one.
    Of rows with identical (x, y), the first is kept.
    """
    ordered = sorted(rows, key=lambda r: (-r[x], -r[y]))  # best x first; within equal x, best y first
    front: list[Mapping[str, Any]] = []
    best_y = float("-inf")
    for r in ordered:
        if r[y] > best_y:
            front.append(r)
            best_y = r[y]
    return front[::-1]


def plot(result: Mapping[str, Any], path: str | os.PathLike[str], x: str = "recall@10", y: str = "qps") -> Path:
    """Write a PNG: log-scale ``y`` (one-at-a-time QPS) against ``x`` (recall@10), one line per
    index kind and build configuration, Pareto-optimal points ringed in black."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(result.get("rows", []))
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        search = _search_names(r)
        build = {k: v for k, v in r.get("params", {}).items() if k not in search}
        label = r["index"] + (" " + ",".join(f"{k}={v}" for k, v in build.items()) if build else "")
        groups.setdefault(label, []).append(r)
    fig, ax = plt.subplots(figsize=(9, 6))
    try:
        for label, members in groups.items():
            members = sorted(members, key=lambda r: r[x])
            ax.plot([r[x] for r in members], [r[y] for r in members], marker="o", markersize=4, label=label)
        front = pareto(rows, x, y)
        if front:
            ax.scatter([r[x] for r in front], [r[y] for r in front], s=90, facecolors="none", edgecolors="black",
                       linewidths=1.5, label="Pareto-optimal", zorder=3)
        ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel("queries per second (one query per call, log scale)" if y == "qps" else y)
        threads = result.get("threads")
        ax.set_title(f"ANN sweep: {y} vs {x}" + (f" ({threads} thread{'s' if threads != 1 else ''})" if threads else ""))
        ax.grid(True, which="both", alpha=0.3)
        if rows:
            ax.legend(fontsize="small", loc="best")
        target = save_png(fig, path, bbox_inches="tight")
    finally:
        plt.close(fig)
    return target


_SEARCH_PARAMS = {"ef_search", "nprobe", "k_factor"}


def _search_names(row: Mapping[str, Any]) -> set[str]:
    return _SEARCH_PARAMS & set(row.get("params", {}))


def plot_quality(result: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """nDCG@10 against p50 latency (log scale) for a quality sweep, one colour per mode,
    Pareto-optimal configurations ringed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    rows = result["rows"]
    for mode in dict.fromkeys(r["mode"] for r in rows):
        mine = [r for r in rows if r["mode"] == mode]
        ax.scatter([r["p50_ms"] for r in mine], [r["ndcg@10"] for r in mine], label=mode, s=28)
    for r in rows:
        if "routed_bm25" in r:  # mode auto: say how often it stopped at BM25
            ax.annotate(f"auto: {r['routed_bm25']:.0%} BM25 only", (r["p50_ms"], r["ndcg@10"]),
                        textcoords="offset points", xytext=(6, -12), fontsize=8)
    front = sorted((r for r in rows if r.get("pareto")), key=lambda r: r["p50_ms"])
    if front:
        ax.plot([r["p50_ms"] for r in front], [r["ndcg@10"] for r in front], "k--", lw=0.8, label="Pareto frontier")
        ax.scatter([r["p50_ms"] for r in front], [r["ndcg@10"] for r in front], s=110, facecolors="none", edgecolors="k")
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency per query, ms (log scale)")
    ax.set_ylabel("nDCG@10")
    ax.set_title("Retrieval quality vs latency by mode and setting")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        return save_png(fig, path)
    finally:
        plt.close(fig)


def save_png(fig: Any, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write ``fig`` to ``path`` atomically, replacing only a previous PNG (never a user's file)."""
    from ..bundle.overwrite import check_replaceable_png

    target = Path(path)
    check_replaceable_png(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    try:
        fig.savefig(tmp, dpi=120, format="png", **options)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
