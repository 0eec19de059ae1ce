"""``retrieval compact DIR``: rewrite an updated bundle without its deleted chunks (a new version)."""

from __future__ import annotations

import argparse
from typing import Any

from .update_reports import add_store_dsn_option, print_report


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("compact", help="rewrite an updated bundle without its deleted chunks (a new version)")
    p.add_argument("bundle")
    p.add_argument("--json", action="store_true")
    add_store_dsn_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    from ..updates.dispatch import compact

    report = compact(args.bundle, store_dsn=args.store_dsn).as_dict()
    if report["committed"]:
        line = f"compacted to version {report['version']}: {report['chunks_removed']} deleted chunks dropped in {report['seconds']:.2f} s"
    else:
        line = "nothing to compact (the bundle has no updates since its base)"
    return print_report(args, report, line)
