"""Embedding throughput with the service's MicroBatcher: batched vs one query per model call.

    .venv/bin/python benchmarks/batcher_throughput.py [--concurrency 32] [--repeats 5] [--threads N]

``--concurrency`` asyncio clients each embed their next question as soon as the previous one is
done (closed loop), through
  - ``batched``: MicroBatcher(max_batch=concurrency, max_wait_ms=2, max_inflight=--max-inflight):
                 one model call per batch;
  - ``batch1``:  MicroBatcher(max_batch=1): one model call per query, one at a time;
  - ``threads``: no batcher, each query embedded alone on the default thread pool (what a
                 server does with batching off: concurrent single-query model calls).
Questions are SQuAD dev questions (``../shared/data``), fresh ones every repetition, so no cache
or deduplication helps; the embedder is the bundle default (fp32 ONNX) without its LRU cache.
The three settings take turns repetition by repetition so background load falls on all alike;
medians are reported. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from retrieval.embedding import Embedder
from retrieval.service.batcher import MicroBatcher

SQUAD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "squad" / "dev-v1.1.even-articles.json"


def questions() -> list[str]:
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    return list(dict.fromkeys(qa["question"] for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]))


async def closed_loop(embed_one, texts: list[str], concurrency: int) -> float:
    pending = iter(texts)

    async def client() -> None:
        for text in pending:
            await embed_one(text)

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return len(texts) / (time.perf_counter() - t0)


async def batched(
    embedder: Embedder, texts: list[str], concurrency: int, max_batch: int, sizes: list[int], max_inflight: int = 1
) -> float:
    batcher = MicroBatcher(embedder.embed, max_batch=max_batch, max_wait_ms=2.0, on_batch=sizes.append,
                           max_inflight=max_inflight)
    try:
        return await closed_loop(batcher.embed, texts, concurrency)
    finally:
        await batcher.close()


async def threads(embedder: Embedder, texts: list[str], concurrency: int) -> float:
    return await closed_loop(lambda t: asyncio.to_thread(embedder.embed, [t]), texts, concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--per-repeat", type=int, default=320, help="questions per setting per repetition")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="onnxruntime intra-op threads (default: all cores)")
    parser.add_argument("--max-inflight", type=int, default=1, help="batches computing at once (batched setting)")
    args = parser.parse_args()
    texts = questions()
    embedder = Embedder(intra_op_threads=args.threads)
    embedder.embed(texts[:64])  # warm-up: first-run allocations out of the timings
    runs: dict[str, list[float]] = {"batched": [], "batch1": [], "threads": []}
    sizes: list[int] = []
    n = args.per_repeat
    for rep in range(args.repeats):
        base = 64 + rep * 3 * n  # fresh questions for every setting and repetition
        if base + 3 * n > len(texts):
            raise SystemExit(f"not enough questions for {args.repeats} repeats of {n}")
        runs["batched"].append(asyncio.run(
            batched(embedder, texts[base : base + n], args.concurrency, args.concurrency, sizes, args.max_inflight)
        ))
        runs["batch1"].append(asyncio.run(batched(embedder, texts[base + n : base + 2 * n], args.concurrency, 1, [])))
        runs["threads"].append(asyncio.run(threads(embedder, texts[base + 2 * n : base + 3 * n], args.concurrency)))
    qps = {name: statistics.median(values) for name, values in runs.items()}
    print(json.dumps({
        "concurrency": args.concurrency,
        "intra_op_threads": args.threads,
        "max_inflight": args.max_inflight,
        "qps": qps,
        "runs": runs,
        "ratio_batched_vs_batch1": qps["batched"] / qps["batch1"],
        "ratio_batched_vs_threads": qps["batched"] / qps["threads"],
        "mean_batch_size": float(np.mean(sizes)),
        "mean_tokens": float(np.mean(embedder.token_counts(texts[:1000])[0])),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0], "platform": platform.platform(),
                    "python": platform.python_version()},
    }))


if __name__ == "__main__":
    main()
