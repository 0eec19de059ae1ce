"""Lazy access to FAISS, metric names, and the per-process thread count.

FAISS is imported on first use, never when ``retrieval.vector`` is imported, and a missing
install fails with the exact command that fixes it. Nothing here changes global state at import
time: the OpenMP thread count is set only when :func:`set_num_threads` is called (by the engine or
the CLI, once per process).
"""

from __future__ import annotations

from types import ModuleType

from ..errors import ConfigError

INSTALL_HINT = "FAISS is required for dense vector search: pip install faiss-cpu (or faiss-gpu-cu12 on a CUDA machine)"

METRICS = ("ip", "l2")

_faiss: ModuleType | None = None


def import_faiss() -> ModuleType:
    """The ``faiss`` module, imported once; ImportError with the install hint when missing."""
    global _faiss
    if _faiss is None:
        try:
            import faiss
        except ImportError as exc:  # pragma: no cover - faiss-cpu is a core dependency
            raise ImportError(INSTALL_HINT) from exc
        _faiss = faiss
    return _faiss


def faiss_metric(metric: str) -> int:
    """FAISS metric constant for ``"ip"`` (inner product, normalized embeddings) or ``"l2"``."""
    faiss = import_faiss()
    if metric == "ip":
        return faiss.METRIC_INNER_PRODUCT
    if metric == "l2":
        return faiss.METRIC_L2
    raise ConfigError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")


def metric_name(metric_type: int) -> str | None:
    """Our name for a FAISS metric constant, or None for metrics this package does not use."""
    faiss = import_faiss()
    return {faiss.METRIC_INNER_PRODUCT: "ip", faiss.METRIC_L2: "l2"}.get(int(metric_type))


def set_num_threads(n: int) -> None:
    """Set the OpenMP threads FAISS uses in this process (build, training and batch search).

    Call once per process (engine/CLI start-up), not per request: the setting is process-wide.
    A server that runs many single-query searches on several Python threads usually wants 1 here,
    letting request-level parallelism use the cores instead of nested OpenMP teams.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"FAISS thread count must be an integer >= 1, got {n!r}")
    import_faiss().omp_set_num_threads(n)


def get_num_threads() -> int:
    """The OpenMP thread count FAISS currently uses in this process."""
    return int(import_faiss().omp_get_max_threads())
