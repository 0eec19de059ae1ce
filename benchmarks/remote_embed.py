"""Embedding throughput through an OpenAI-compatible endpoint vs the same model in process.

    .venv/bin/python benchmarks/remote_embed.py [--texts 512] [--batch-sizes 1,8,32,128] [--concurrency 1] [--repeats 3] [--threads N]

``RemoteEmbedder`` embeds the first ``--texts`` SciFact abstracts (``title + " " + text``, from
``../shared/data/scifact/corpus.jsonl``) through ``retrieval.bench.embed_server`` started as a
subprocess on a free port (the packaged MiniLM, fp32 ONNX, its default batching), once per
request batch size, with ``--concurrency`` requests in flight; ``local`` is the same model
in this process (``OnnxEmbedder("fp32")``) on the same texts: what HTTP and JSON cost on top.
The server and this process share the machine's cores. Settings take turns repetition by
repetition (background load falls on all alike); texts/s is the median over ``--repeats``,
after an untimed warm-up each. Prints a table and writes JSON to
``benchmarks/results/remote_embed.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from retrieval.embedding import OnnxEmbedder
from retrieval.embedding.remote import RemoteEmbedder

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "data" / "scifact" / "corpus.jsonl"


def abstracts(n: int) -> list[str]:
    texts = []
    with SCIFACT.open(encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            texts.append(f"{doc.get('title', '')} {doc.get('text', '')}".strip())
            if len(texts) == n:
                break
    return texts


def start_server(threads: int | None) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "retrieval.bench.embed_server", "--port", "0"]
    if threads:
        command += ["--threads", str(threads)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"embed_server did not start: {line!r}")
    return proc, line.removeprefix("listening on ")


def seconds(embed, texts: list[str]) -> float:
    t0 = time.perf_counter_ns()
    embed(texts)
    return (time.perf_counter_ns() - t0) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=512, help="SciFact abstracts to embed")
    parser.add_argument("--batch-sizes", default="1,8,32,128", help="texts per request, comma-separated")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="onnxruntime intra-op threads, server and local (default: all cores)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "remote_embed.json")
    args = parser.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    texts = abstracts(args.texts)
    local = OnnxEmbedder("fp32", intra_op_threads=args.threads)
    proc, url = start_server(args.threads)
    try:
        # batch_tokens out of the way: the request batch size is what is measured.
        remotes = {b: RemoteEmbedder("all-MiniLM-L6-v2", url, batch_size=b, batch_tokens=b * 100_000,
                                     concurrency=args.concurrency, timeout_s=600.0) for b in sizes}
        settings = {"local": local.embed, **{f"remote_b{b}": remotes[b].embed for b in sizes}}
        reference = local.embed(texts)  # also the warm-up of the local setting
        agreement = {}
        for b, remote in remotes.items():
            agreement[b] = float(np.min(np.sum(remote.embed(texts[: max(b, 16)]) * reference[: max(b, 16)], axis=1)))
        runs: dict[str, list[float]] = {name: [] for name in settings}
        for _ in range(args.repeats):
            for name, embed in settings.items():
                runs[name].append(seconds(embed, texts))
        for remote in remotes.values():
            remote.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
    median = {name: statistics.median(values) for name, values in runs.items()}
    local_rate = len(texts) / median["local"]
    print(f"{len(texts)} SciFact abstracts, concurrency {args.concurrency}, {os.cpu_count()} cores")
    print(f"{'setting':<14}{'texts/s':>10}{'seconds':>10}{'vs local':>10}{'min cos':>10}")
    rows = {}
    for name, value in median.items():
        rate = len(texts) / value
        batch = int(name.removeprefix("remote_b")) if name.startswith("remote_b") else None
        cosine = agreement.get(batch) if batch is not None else 1.0
        rows[name] = {"batch_size": batch, "texts_per_s": rate, "seconds": value, "runs_s": runs[name],
                      "ratio_to_local": rate / local_rate, "min_cosine_to_local": cosine}
        print(f"{name:<14}{rate:>10.1f}{value:>10.3f}{rate / local_rate:>10.2f}{cosine:>10.6f}")
    result = {
        "texts": len(texts),
        "mean_chars": float(np.mean([len(t) for t in texts])),
        "settings": {"batch_sizes": sizes, "concurrency": args.concurrency, "repeats": args.repeats,
                     "intra_op_threads": args.threads, "server": "retrieval.bench.embed_server (fp32 ONNX, subprocess)"},
        "results": rows,
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0], "platform": platform.platform(),
                    "python": platform.python_version()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
