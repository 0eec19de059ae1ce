"""The update subcommands of ``retrieval``: ``update``, ``sync`` and ``compact``.

    retrieval update DIR --upsert changes.jsonl --delete d17 --delete d18
    retrieval sync DIR postgresql://me@db/papers --sql "SELECT id, title, text, updated_at FROM papers"
    retrieval compact DIR

Each commits one new bundle version (or none when nothing changed) and prints what it did;
``--json`` prints the report as one object.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

STORE_DSN_ENV = "RETRIEVAL_STORE_DSN"  # retrieval.stores.factory's; not imported: parsers load nothing heavy


def add_update_parsers(subparsers: Any) -> None:
    p = subparsers.add_parser("update", help="upsert and delete documents in a bundle (a new version)")
    p.add_argument("bundle")
    p.add_argument("--upsert", metavar="CORPUS", help="documents to add or replace (.jsonl, .parquet or BEIR dir)")
    p.add_argument("--delete", dest="deletes", action="append", default=[], metavar="DOC_ID",
                   help="a document id to delete (repeat for more)")
    p.add_argument("--force", action="store_true", help="rewrite upserted documents even when their content is unchanged")
    p.add_argument("--json", action="store_true")

    p = subparsers.add_parser("sync", help="apply a PostgreSQL query's changes since the last sync (a new version)")
    p.add_argument("bundle")
    p.add_argument("dsn", help="postgresql://user@host:port/db (password from $PGPASSWORD or ~/.pgpass)")
    p.add_argument("--sql", help="the query the bundle mirrors (default: the one recorded by the last sync or the build)")
    p.add_argument("--full", action="store_true", help="compare every row by content hash, ignoring the watermark")
    p.add_argument("--json", action="store_true")

    p = subparsers.add_parser("compact", help="rewrite an updated bundle without its deleted chunks (a new version)")
    p.add_argument("bundle")
    p.add_argument("--json", action="store_true")

    for name in ("update", "sync", "compact"):
        subparsers.choices[name].add_argument(
            "--store-dsn", help=f"for a bundle whose chunk text is in PostgreSQL: its DSN (default ${STORE_DSN_ENV}, "
                                "else the manifest's, with the password from $PGPASSWORD or ~/.pgpass)")


def cmd_update(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..ingest import read_corpus
    from .updater import apply_update

    if not args.upsert and not args.deletes:
        raise ConfigError("nothing to do: give --upsert CORPUS and/or --delete DOC_ID")
    docs = list(read_corpus(args.upsert)) if args.upsert else []
    report = apply_update(args.bundle, upserts=docs, deletes=args.deletes, force=args.force, store_dsn=args.store_dsn)
    return _print(args, report.as_dict(), _summary(report.as_dict()))


def cmd_sync(args: argparse.Namespace) -> int:
    from .. import bundle
    from ..errors import ConfigError
    from ..stores.pg_connect import is_dsn
    from .sync import sync

    if not is_dsn(args.dsn):
        raise ConfigError(f"sync reads from PostgreSQL: the source must be a postgresql:// DSN, got {args.dsn!r}")
    sql = args.sql
    if not sql:
        recorded = bundle.read_manifest(args.bundle, verify=False).get("sync") or {}
        sql = recorded.get("sql")
        if not sql:
            raise ConfigError("this bundle records no query to sync from: give --sql \"SELECT id, title, text, updated_at FROM ...\"")
    report = sync(args.bundle, args.dsn, sql, full=args.full, store_dsn=args.store_dsn).as_dict()
    line = _summary(report) + f"; read {report['rows_read']} changed-candidate rows, watermark {report['watermark_after']}"
    return _print(args, report, line)


def cmd_compact(args: argparse.Namespace) -> int:
    from .compact import compact

    report = compact(args.bundle, store_dsn=args.store_dsn).as_dict()
    if report["committed"]:
        line = f"compacted to version {report['version']}: {report['chunks_removed']} deleted chunks dropped in {report['seconds']:.2f} s"
    else:
        line = "nothing to compact (the bundle has no updates since its base)"
    return _print(args, report, line)


def _summary(report: dict[str, Any]) -> str:
    if not report["committed"]:
        return f"no changes (version {report['version']} stays current; {report['unchanged']} unchanged)"
    missing = f", {len(report['missing'])} ids not found" if report["missing"] else ""
    return (
        f"version {report['version']}: {report['added']} added, {report['replaced']} replaced, "
        f"{report['deleted']} deleted, {report['unchanged']} unchanged{missing} "
        f"({report['chunks_added']} chunks added, {report['chunks_removed']} removed) in {report['seconds']:.2f} s"
    )


def _print(args: argparse.Namespace, report: dict[str, Any], line: str) -> int:
    if args.json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        print(line)
    return 0
