"""Checks of command inputs made before the expensive part of a command runs."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def check_judgements(engine: Any, queries: list, qrels: dict, args: argparse.Namespace) -> None:
    """Refuse qrels that match nothing in the queries and the bundle; warn when only some do."""
    from ..bench.judgements import match_judgements

    warning = match_judgements(engine, queries, qrels, args.qrels, args.queries).warning(args.qrels, args.queries)
    if warning:
        print(f"retrieval: warning: {warning}", file=sys.stderr)


def check_plot_target(path: str | None) -> None:
    """Refuse a --plot path that is not ours to replace before the benchmark runs, not after."""
    if path:
        from ..bundle.overwrite import check_replaceable_png

        check_replaceable_png(path)
