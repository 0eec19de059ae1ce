"""``retrieval search DIR TEXT``: the top hits of one query."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .args import add_filter_option, search_k
from .choices import MODE_CHOICES
from .output import print_json

SNIPPET_CHARS = 200


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("search", help="search a bundle")
    p.add_argument("bundle")
    p.add_argument("text")
    p.add_argument("--mode", choices=MODE_CHOICES, default="bm25")
    p.add_argument("-k", type=search_k, default=10)
    add_filter_option(p)
    p.add_argument("--json", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    from ..engine import Engine

    with Engine.open(args.bundle) as engine:
        result = engine.search(args.text, k=args.k, mode=args.mode, filters=args.filters or None)
    if args.json:
        print_json(
            {
                "hits": [{"id": h.id, "doc_id": h.doc_id, "score": h.score, "text": h.text, "title": h.title} for h in result.hits],
                "timings_ms": result.timings.as_dict(),
            }
        )
        return 0
    from ..text.terminal import printable

    if not result.hits:
        print("no hits")
    for rank, hit in enumerate(result.hits, 1):
        snippet = " ".join(hit.text.split())
        snippet = snippet[:SNIPPET_CHARS] + ("…" if len(snippet) > SNIPPET_CHARS else "")
        print(f"{rank:>3}. {hit.score:8.3f}  {printable(hit.id)}  {printable(hit.title)}")
        print(f"     {printable(snippet)}")
    timings = ", ".join(f"{k} {v:.2f} ms" for k, v in result.timings.as_dict().items())
    print(f"({timings})", file=sys.stderr)
    return 0
