"""``retrieval sync``: bring a bundle up to date with the PostgreSQL query it mirrors.

    report = sync("indexes/papers", "postgresql://me@db/papers",
                  "SELECT id, title, text, year, updated_at FROM papers")

Changes are found two ways, in one update (one new bundle version):
  - changed and new rows: those with ``updated_at >= watermark``, where the watermark is the
    largest ``updated_at`` the previous sync (or the build) read. The bound is inclusive, so a row
    committed later with the same timestamp is not missed; rows read again are skipped by their
    content hash (title, text, metadata). Without an ``updated_at`` column, or on the first sync
    of a query, every row is read and compared by hash (still nothing re-embedded needlessly).
  - deleted rows: the ids the query no longer returns (one id-only pass over the query).
A row whose ``updated_at`` is older than the watermark when it commits (a long transaction that
stamped it early) is only seen by its hash at the next full comparison: ``--full`` forces one.
The watermark is stored in the manifest's ``sync`` section with the query it belongs to, and
moves only when the version carrying it commits, so a sync killed midway is simply run again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import bundle
from ..errors import CorpusError
from ..ingest.postgres_reader import PostgresCorpus
from ..ingest.watermark import (
    WATERMARK_COLUMN,
    sync_section,
    watermark_from_text,
    watermark_from_text_or_none,
    watermark_to_text,
)
from ..stores.loop_thread import LoopThread
from ..stores.pg_connect import Timeouts, asyncpg_module, connect_failure, connection_lost
from .dispatch import apply_update
from .updater import UpdateReport


@dataclass
class SyncReport:
    update: UpdateReport
    rows_read: int  # changed-candidate rows fetched
    source_ids: int  # ids the query returns now
    watermark_before: str | None
    watermark_after: str | None
    full: bool  # every row compared (no usable watermark, or --full)
    seconds: float = 0.0
    stages_s: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.update.as_dict(),
            "rows_read": self.rows_read,
            "source_ids": self.source_ids,
            "watermark_before": self.watermark_before,
            "watermark_after": self.watermark_after,
            "full": self.full,
            "seconds": self.seconds,
            "sync_stages_s": self.stages_s,
        }


def sync(
    root: str | Path,
    dsn: str,
    sql: str,
    *,
    full: bool = False,
    engine: Any = None,
    embedder: Any = None,
    timeouts: Timeouts = Timeouts(),
    store_dsn: str | None = None,
) -> SyncReport:
    """Apply the changes in ``sql``'s rows since the last sync to the bundle at ``root``."""
    started = time.perf_counter()
    root = Path(root)
    if not sql or not sql.strip():
        raise CorpusError('sync needs the query the bundle mirrors: --sql "SELECT id, title, text, updated_at FROM ..."')
    previous = recorded_sync(root)
    watermark_text = previous.watermark if previous is not None and previous.sql == sql and not full else None
    stages: dict[str, float] = {}

    t0 = time.perf_counter()
    ids, id_column, has_stamp = source_ids(dsn, sql, timeouts)
    stages["read_ids"] = time.perf_counter() - t0
    if watermark_text is not None and has_stamp:
        wrapped = f"SELECT * FROM ({sql}) AS src WHERE src.{WATERMARK_COLUMN} >= $1"
        corpus = PostgresCorpus(dsn, wrapped, timeouts=timeouts, params=(watermark_from_text(watermark_text),))
        is_full = False
    else:
        corpus = PostgresCorpus(dsn, sql, timeouts=timeouts)
        is_full = True
    t0 = time.perf_counter()
    rows = list(corpus)
    stages["read_rows"] = time.perf_counter() - t0
    stamp = corpus.max_updated_at if corpus.max_updated_at is not None else watermark_from_text_or_none(watermark_text)
    report = apply_update(
        root,
        upserts=rows,
        keep_only=ids,
        engine=engine,
        embedder=embedder,
        manifest_extra={"sync": sync_section(dsn, sql, stamp if has_stamp else None)},
        store_dsn=store_dsn,
    )
    return SyncReport(
        update=report,
        rows_read=len(rows),
        source_ids=len(ids),
        watermark_before=watermark_text,
        watermark_after=watermark_to_text(stamp) if has_stamp else None,
        full=is_full,
        seconds=time.perf_counter() - started,
        stages_s={k: round(v, 4) for k, v in stages.items()},
    )


def recorded_sync(root: str | Path) -> Any:
    """The ``sync`` section (query and watermark) of a bundle's or a collection's current version."""
    from ..collection import is_collection

    if is_collection(root):
        from ..bundle.manifest import SyncSection
        from ..collection.opening import read_collection_manifest

        raw = read_collection_manifest(Path(root), verify=False).sync
        return SyncSection(**raw) if raw else None
    return bundle.read_manifest(root, verify=False).sync


def source_ids(dsn: str, sql: str, timeouts: Timeouts = Timeouts()) -> tuple[set[str], str, bool]:
    """Every id ``sql`` returns now (as text), its id column, and whether it has ``updated_at``."""
    asyncpg = asyncpg_module()

    async def read() -> tuple[set[str], str, bool]:
        what = "reading the source's ids"
        try:
            conn = await asyncpg.connect(dsn, timeout=timeouts.connect, command_timeout=timeouts.command)
        except Exception as exc:
            raise connect_failure(exc, dsn, what) from None
        try:
            async with conn.transaction(readonly=True):
                try:
                    probe = await conn.prepare(f"SELECT * FROM ({sql}) AS src")
                except asyncpg.PostgresError as exc:
                    raise CorpusError(f"SQL error in --sql query: {' '.join(str(exc).split())}") from None
                names = [a.name for a in probe.get_attributes()]
                column = next((c for c in ("_id", "id") if c in names), None)
                if column is None:
                    raise CorpusError(f"--sql query returns no 'id' (or '_id') column; columns: {', '.join(names)}")
                ids: set[str] = set()
                statement = await conn.prepare(f'SELECT src."{column}" FROM ({sql}) AS src')
                async for record in statement.cursor(prefetch=10_000):
                    if record[0] is not None:
                        ids.add(str(record[0]))
                return ids, column, WATERMARK_COLUMN in names
        except Exception as exc:
            if connection_lost(exc):
                raise connect_failure(exc, dsn, what) from None
            raise
        finally:
            await conn.close(timeout=timeouts.connect)

    loop = LoopThread("retrieval-sync")
    try:
        return loop.run(read())
    finally:
        loop.close()
