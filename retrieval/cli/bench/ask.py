"""``retrieval bench ask DIR --queries Q``: time to first token with and without context compression."""

from __future__ import annotations

import argparse
from typing import Any

from ..args import positive_int, search_k
from ..output import print_json


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("ask", help="time to first token with vs without context compression")
    p.add_argument("bundle")
    p.add_argument("--queries", required=True, help="questions (.jsonl)")
    p.add_argument("--qrels", help="only questions judged here (e.g. SciFact's qrels/test.tsv)")
    p.add_argument("--limit", type=positive_int, default=20, help="number of questions (default 20)")
    p.add_argument("--budget-tokens", type=positive_int, default=512)
    p.add_argument("-k", type=search_k, default=8)
    p.add_argument("--model", help="a GGUF file (default SmolLM2-135M-Instruct)")
    p.add_argument("--json", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    from ...bench.ask import judged_questions
    from ...bench.ask import run as run_ask
    from ...engine import Engine
    from ...generation import make_generator

    questions = judged_questions(args.queries, args.qrels, args.limit)
    with Engine.open(args.bundle) as engine:
        generator = make_generator("llama-cpp", **({"model_path": args.model} if args.model else {}))
        try:
            result = run_ask(engine, generator, questions, budget_tokens=args.budget_tokens, k=args.k)
        finally:
            generator.close()
    if args.json:
        print_json(result)
        return 0
    print(f"{result['questions']} questions, k={result['k']}, budget {result['budget_tokens']} tokens")
    print(f"{'setting':<14}{'TTFT p50 ms':>12}{'prefill ms':>12}{'prompt tok':>12}{'context tok':>13}")
    for name in ("compressed", "uncompressed"):
        r = result[name]
        print(f"{name:<14}{r['ttft_ms']:>12.1f}{r['prefill_ms']:>12.1f}{r['prompt_tokens']:>12.0f}{r['context_tokens_after']:>13.0f}")
    print(f"TTFT ratio (compressed / uncompressed): {result['ttft_ratio']:.3f}")
    return 0
