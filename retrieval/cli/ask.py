"""``retrieval ask DIR QUESTION``: stream an answer from retrieved, compressed sources."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .args import add_filter_option, add_generator_options, generator_options, positive_int, search_k
from .choices import ASK_GENERATOR_CHOICES, MODE_CHOICES
from .output import print_json


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("ask", help="answer a question from a bundle, streaming the generated answer")
    p.add_argument("bundle")
    p.add_argument("question")
    p.add_argument("--budget-tokens", type=positive_int, default=512,
                   help="tokens the sources may take in the prompt (default 512, the generator's tokens)")
    add_generator_options(p, ASK_GENERATOR_CHOICES)
    p.add_argument("--mode", choices=MODE_CHOICES,
                   help="search mode (default hybrid for dense bundles, else bm25)")
    p.add_argument("-k", type=search_k, default=8, help="chunks retrieved before limiting (default 8)")
    p.add_argument("--max-tokens", type=positive_int, default=256, help="answer tokens at most (default 256)")
    p.add_argument("--no-compress", action="store_true", help="whole chunks in rank order instead of compressed sources")
    p.add_argument("--show-sources", action="store_true", help="print the cited sources after the answer")
    add_filter_option(p)
    p.add_argument("--json", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    import asyncio

    from ..answer import Answerer
    from ..engine import Engine
    from ..generation import make_generator

    with Engine.open(args.bundle) as engine:
        generator = make_generator(args.generator, **generator_options(args), max_tokens=args.max_tokens)
        try:
            answerer = Answerer(engine, generator, mode=args.mode, k=args.k, budget_tokens=args.budget_tokens,
                                compress=not args.no_compress, filters=args.filters or None)
            stream = answerer.stream(args.question)
            answer = asyncio.run(_print_stream(stream, echo=not args.json))
        finally:
            generator.close()
    metrics = stream.metrics.as_dict()
    if args.json:
        print_json({"answer": answer, **metrics, "sources": [_source_json(s) for s in stream.sources]})
        return 0
    if args.show_sources:
        from ..text.terminal import printable

        for source in stream.sources:
            title = f"  {printable(source.title)}" if source.title and source.title != source.doc_id else ""
            print(f"[{source.number}] {printable(source.doc_id)}{title}")
    ttft = "n/a" if metrics["ttft_ms"] is None else f"{metrics['ttft_ms']:.0f} ms"
    print(f"(first token {ttft}, {metrics['tokens_per_s']:.1f} tokens/s, prompt {metrics['prompt_tokens']} tokens, "
          f"context {metrics['context_tokens_before']} -> {metrics['context_tokens_after']} tokens)", file=sys.stderr)
    return 0


async def _print_stream(stream: Any, echo: bool) -> str:
    pieces = []
    async with stream:
        async for piece in stream:
            pieces.append(piece)
            if echo:
                sys.stdout.write(piece)
                sys.stdout.flush()
    if echo:
        sys.stdout.write("\n")
    return "".join(pieces)


def _source_json(source: Any) -> dict[str, Any]:
    return {"number": source.number, "chunk_id": source.chunk_id, "doc_id": source.doc_id, "title": source.title}
