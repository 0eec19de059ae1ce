"""``retrieval bench embed``: our ONNX embedder (fp32, int8) against sentence-transformers."""

from __future__ import annotations

import argparse
from typing import Any

from ..args import positive_int, positive_int_list
from ..output import print_json, stderr_progress


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("embed", help="our ONNX embedder (fp32, int8) vs sentence-transformers")
    p.add_argument("--texts", help="corpus to take texts from (default: the built-in demo corpus)")
    p.add_argument("--limit", type=positive_int, default=256, help="number of texts (default 256)")
    p.add_argument("--threads", type=positive_int, default=2)
    p.add_argument("--batch-sizes", type=positive_int_list, default=[8, 16, 32, 64], help="comma-separated batch sizes to sweep")
    p.add_argument("--repeats", type=positive_int, default=1)
    p.add_argument("--json", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    from ...bench import embed_peers
    from ...errors import CorpusError

    if args.texts:
        texts = embed_peers.texts_from(args.texts, args.limit)
        if not texts:  # checked before any model loads
            raise CorpusError(f"corpus {args.texts} has no documents to embed")
    else:
        from ...ingest import demo_corpus

        texts = [f"{d.title} {d.text}" for _, d in zip(range(args.limit), demo_corpus())]
    result = embed_peers.run(texts, threads=args.threads, batch_sizes=args.batch_sizes, repeats=args.repeats,
                             progress=stderr_progress())
    if args.json:
        print_json(result)
        return 0
    print(f"embedding {len(texts)} texts, {args.threads} threads, each at its best batch size")
    print(f"{'method':<24}{'texts/s':>10}{'vs ST':>8}")
    st = result["st_per_s"]
    for name, key in [("sentence-transformers", "st_per_s"), ("ONNX fp32 (ours)", "onnx_fp32_per_s"), ("ONNX int8 (ours)", "onnx_int8_per_s")]:
        print(f"{name:<24}{result[key]:>10.1f}{result[key] / st:>7.2f}x")
    print(f"cosine to sentence-transformers: fp32 min {result['cos_min_fp32']:.6f}, int8 min {result['cos_min_int8']:.4f}")
    return 0
