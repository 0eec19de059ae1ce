"""``retrieval update DIR --upsert CORPUS --delete DOC_ID``: upsert and delete documents (a new version)."""

from __future__ import annotations

import argparse
from typing import Any

from .update_reports import add_store_dsn_option, print_report, summary


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("update", help="upsert and delete documents in a bundle (a new version)")
    p.add_argument("bundle")
    p.add_argument("--upsert", metavar="CORPUS", help="documents to add or replace (.jsonl, .parquet or BEIR dir)")
    p.add_argument("--delete", dest="deletes", action="append", default=[], metavar="DOC_ID",
                   help="a document id to delete (repeat for more)")
    p.add_argument("--force", action="store_true", help="rewrite upserted documents even when their content is unchanged")
    p.add_argument("--json", action="store_true")
    add_store_dsn_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..ingest import read_corpus
    from ..updates.dispatch import apply_update

    if not args.upsert and not args.deletes:
        raise ConfigError("nothing to do: give --upsert CORPUS and/or --delete DOC_ID")
    docs = list(read_corpus(args.upsert)) if args.upsert else []
    report = apply_update(args.bundle, upserts=docs, deletes=args.deletes, force=args.force, store_dsn=args.store_dsn)
    return print_report(args, report.as_dict(), summary(report.as_dict()))
