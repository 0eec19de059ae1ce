"""``retrieval bench compress SQUAD.json``: context compression ratio, answer retention and latency."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..args import non_negative_int, positive_int, ratio, search_k
from ..output import print_json


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("compress", help="context compression on SQuAD: ratio, answer retention, latency vs two baselines")
    p.add_argument("squad", help="a SQuAD v1.1 .json file")
    p.add_argument("--budget-tokens", type=positive_int, help="a fixed budget (default: each context's tokens / --ratio)")
    p.add_argument("--ratio", type=ratio, default=4.0, help="compression target when no fixed budget is given (default 4)")
    p.add_argument("--questions", type=positive_int, default=300, help="number of questions (default 300)")
    p.add_argument("--first-question", type=non_negative_int, default=0, help="index of the first question used")
    p.add_argument("-k", type=search_k, default=5, help="paragraphs retrieved per question (default 5)")
    p.add_argument("--sentence-vectors", choices=("contextual", "separate"), default="separate",
                   help="how the paragraphs' sentence vectors are made (IndexConfig.sentence_vectors; default separate)")
    p.add_argument("--json", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    from ...bench.compress import run as run_compress

    say = None if args.json else (lambda msg: print(msg, file=sys.stderr))
    result = run_compress(args.squad, budget_tokens=args.budget_tokens, ratio=args.ratio, questions=args.questions,
                          first_question=args.first_question, k=args.k, progress=say,
                          sentence_vectors=args.sentence_vectors)
    if args.json:
        print_json(result)
        return 0
    budget = f"{args.budget_tokens} tokens" if args.budget_tokens else f"each context's tokens / {args.ratio:g}"
    print(f"{result['questions']} questions ({result['answerable']} with the answer in the retrieved context), budget {budget}")
    print(f"{'method':<14}{'compression':>12}{'retention':>11}{'p50 ms':>9}")
    for name, row in (("ours", result), *result["baselines"].items()):
        print(f"{name:<14}{row['compression_ratio']:>11.2f}x{row['answer_retention']:>11.3f}{row['p50_ms']:>9.3f}")
    return 0
