"""``retrieval sync DIR DSN [--sql ...]``: apply a PostgreSQL query's changes since the last sync."""

from __future__ import annotations

import argparse
from typing import Any

from .update_reports import add_store_dsn_option, print_report, summary


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("sync", help="apply a PostgreSQL query's changes since the last sync (a new version)")
    p.add_argument("bundle")
    p.add_argument("dsn", help="postgresql://user@host:port/db (password from $PGPASSWORD or ~/.pgpass)")
    p.add_argument("--sql", help="the query the bundle mirrors (default: the one recorded by the last sync or the build)")
    p.add_argument("--full", action="store_true", help="compare every row by content hash, ignoring the watermark")
    p.add_argument("--json", action="store_true")
    add_store_dsn_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..stores.pg_connect import is_dsn
    from ..updates.sync import recorded_sync, sync

    if not is_dsn(args.dsn):
        raise ConfigError(f"sync reads from PostgreSQL: the source must be a postgresql:// DSN, got {args.dsn!r}")
    sql = args.sql
    if not sql:
        recorded = recorded_sync(args.bundle)
        sql = recorded.sql if recorded is not None else None
        if not sql:
            raise ConfigError("this bundle records no query to sync from: give --sql \"SELECT id, title, text, updated_at FROM ...\"")
    report = sync(args.bundle, args.dsn, sql, full=args.full, store_dsn=args.store_dsn).as_dict()
    line = summary(report) + f"; read {report['rows_read']} changed-candidate rows, watermark {report['watermark_after']}"
    return print_report(args, report, line)
