"""What ``update``, ``sync`` and ``compact`` share: the ``--store-dsn`` option and the report printing."""

from __future__ import annotations

import argparse
from typing import Any

from .output import print_json

STORE_DSN_ENV = "RETRIEVAL_STORE_DSN"  # retrieval.stores.factory's; not imported: parsers load nothing heavy


def add_store_dsn_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store-dsn", help=f"for a bundle whose chunk text is in PostgreSQL: its DSN (default ${STORE_DSN_ENV}, "
                                       "else the manifest's, with the password from $PGPASSWORD or ~/.pgpass)")


def summary(report: dict[str, Any]) -> str:
    """One line for an update or sync report."""
    if not report["committed"]:
        return f"no changes (version {report['version']} stays current; {report['unchanged']} unchanged)"
    missing = f", {len(report['missing'])} ids not found" if report["missing"] else ""
    return (
        f"version {report['version']}: {report['added']} added, {report['replaced']} replaced, "
        f"{report['deleted']} deleted, {report['unchanged']} unchanged{missing} "
        f"({report['chunks_added']} chunks added, {report['chunks_removed']} removed) in {report['seconds']:.2f} s"
    )


def print_report(args: argparse.Namespace, report: dict[str, Any], line: str) -> int:
    """The report as one JSON object with ``--json``, else ``line``."""
    if args.json:
        print_json(report)
    else:
        print(line)
    return 0
