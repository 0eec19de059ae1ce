"""`retrieval bench embed`: our ONNX embedder (fp32, INT8) against sentence-transformers.

All three embed the same texts in one run, with the same thread count, each at every batch size
of a sweep; a method's speed is its best batch size's. Every method sorts by length before
batching (sentence-transformers' ``encode`` does so itself). Each timed call embeds the whole
text list (tokenization included); warm-up calls are excluded; ``repeats`` > 1 keeps the fastest
of the repeats (the machine is shared: the minimum is the least disturbed), and the methods are
interleaved so a disturbance hits all of them alike.

Accuracy: cosine between our vector and sentence-transformers' for every text, fp32 and INT8.

Cost: 3 methods × len(batch_sizes) × repeats passes over the texts. On 2 shared cores at about
15-30 abstracts/s (fp32, 256 tokens), 256 SciFact abstracts take about 2 minutes.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..embedding.base import check_texts
from ..errors import ConfigError
from ..embedding.batching import padding_efficiency, plan_batches

METHODS = ("st", "onnx_fp32", "onnx_int8")


def texts_from(corpus: str | Path, limit: int | None = None) -> list[str]:
    """Up to ``limit`` document texts (``title + " " + text``) of a corpus, in file order."""
    from ..ingest import read_corpus

    texts: list[str] = []
    for doc in read_corpus(corpus):
        if limit is not None and len(texts) >= limit:
            break
        texts.append(f"{doc.title} {doc.text}" if doc.title else doc.text)
    return texts


def run(
    texts: Sequence[str],
    threads: int = 2,
    batch_sizes: Sequence[int] = (8, 16, 32, 64),
    repeats: int = 1,
    cache_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Texts per second of each method at its best batch size, the sweep, and cosine agreement."""
    items = check_texts(texts)
    sizes = sorted(set(int(b) for b in batch_sizes))
    if not sizes or sizes[0] < 1 or threads < 1 or repeats < 1:
        raise ConfigError(f"bench embed: batch sizes, threads and repeats must be positive, got {list(batch_sizes)}, {threads}, {repeats}")
    say = progress or (lambda _msg: None)
    load_before = _loadavg()

    from ..embedding.onnx_embedder import OnnxEmbedder

    longest = max(sizes)
    fp32 = OnnxEmbedder("fp32", intra_op_threads=threads, cache_dir=cache_dir)
    int8 = OnnxEmbedder("int8", intra_op_threads=threads, cache_dir=cache_dir)
    st_model, restore_threads = _sentence_transformer(threads)
    try:
        # Token limits never bind in the sweep: batch size alone varies.
        ours = {
            "onnx_fp32": {b: fp32.with_batching(b, b * fp32.max_tokens) for b in sizes},
            "onnx_int8": {b: int8.with_batching(b, b * int8.max_tokens) for b in sizes},
        }
        calls: dict[str, Callable[[int], np.ndarray]] = {
            "st": lambda b: st_model.encode(items, batch_size=b, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False),
            "onnx_fp32": lambda b: ours["onnx_fp32"][b].embed(items),
            "onnx_int8": lambda b: ours["onnx_int8"][b].embed(items),
        }
        warm = items[: min(len(items), longest)]
        say("warming up")
        st_model.encode(warm, batch_size=longest, show_progress_bar=False)
        fp32.with_batching(longest, longest * fp32.max_tokens).embed(warm)
        int8.with_batching(longest, longest * int8.max_tokens).embed(warm)

        best_ns = {m: {b: float("inf") for b in sizes} for m in METHODS}
        vectors: dict[tuple[str, int], np.ndarray] = {}
        for rep in range(repeats):
            for b in sizes:
                for method in METHODS:
                    say(f"repeat {rep + 1}/{repeats}: {method} batch {b}")
                    t0 = time.perf_counter_ns()
                    out = calls[method](b)
                    elapsed = time.perf_counter_ns() - t0
                    best_ns[method][b] = min(best_ns[method][b], elapsed)
                    vectors[(method, b)] = np.asarray(out, dtype=np.float32)

        n = len(items)
        sweep = {m: {str(b): n / (best_ns[m][b] / 1e9) for b in sizes} for m in METHODS}
        best = {m: min(sizes, key=lambda b: best_ns[m][b]) for m in METHODS}
        per_s = {m: sweep[m][str(best[m])] for m in METHODS}
        reference = vectors[("st", best["st"])]
        cos_fp32 = _rowwise_cosine(vectors[("onnx_fp32", best["onnx_fp32"])], reference)
        cos_int8 = _rowwise_cosine(vectors[("onnx_int8", best["onnx_int8"])], reference)
        int8_all = np.concatenate([_rowwise_cosine(vectors[("onnx_int8", b)], reference) for b in sizes])

        say("timing the tokenizer")
        tok_ns = min(_time_ns(lambda: fp32.tokenize(items)) for _ in range(3))
        lengths, truncated = fp32.token_counts(items)
        fp32_best_ns = best_ns["onnx_fp32"][best["onnx_fp32"]]
    finally:
        restore_threads()

    return {
        "st_per_s": per_s["st"],
        "onnx_fp32_per_s": per_s["onnx_fp32"],
        "onnx_int8_per_s": per_s["onnx_int8"],
        "cos_min_fp32": float(cos_fp32.min()),
        "cos_min_int8": float(cos_int8.min()),
        "cos_mean_fp32": float(cos_fp32.mean()),
        "cos_mean_int8": float(cos_int8.mean()),
        "cos_min_int8_any_batch": float(int8_all.min()),
        "speedup_fp32_vs_st": per_s["onnx_fp32"] / per_s["st"],
        "speedup_int8_vs_st": per_s["onnx_int8"] / per_s["st"],
        "best_batch": best,
        "sweep_per_s": sweep,
        "texts": len(items),
        "tokens_mean": float(lengths.mean()),
        "tokens_per_s_fp32": float(lengths.sum()) / (fp32_best_ns / 1e9),
        "truncated": int(truncated.sum()),
        "padding_efficiency": {str(b): padding_efficiency(lengths, plan_batches(lengths, b, b * fp32.max_tokens)) for b in sizes},
        "tokenizer_share_fp32": tok_ns / fp32_best_ns,
        "threads": threads,
        "repeats": repeats,
        "model": fp32.describe(),
        "machine": _machine(load_before),
    }


def _sentence_transformer(threads: int):
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ConfigError(f"bench embed compares against sentence-transformers ({exc.name} is missing): pip install 'retrieval[test]'") from None

    from ..embedding.files import MAX_TOKENS, weights_dir

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    model = SentenceTransformer(str(weights_dir()), device="cpu", local_files_only=True)
    model.max_seq_length = MAX_TOKENS
    return model, lambda: torch.set_num_threads(previous)


def _rowwise_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _time_ns(fn: Callable[[], object]) -> int:
    t0 = time.perf_counter_ns()
    fn()
    return time.perf_counter_ns() - t0


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on every platform
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _machine(load_before: list[float] | None) -> dict[str, Any]:
    import onnxruntime
    import sentence_transformers
    import tokenizers
    import torch

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on every platform
        usable = os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": usable,
        "load_avg_before": load_before,
        "load_avg_after": _loadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
        "tokenizers": tokenizers.__version__,
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
    }
