"""A throwaway PostgreSQL 15 cluster for the store tests: initdb + pg_ctl in a temp dir on a free
port, one per test session, stopped and removed afterwards even when tests fail.

The server binaries come from the Debian package ``postgresql-15`` (``make test`` installs it).
As root the server runs as the ``postgres`` user, which PostgreSQL requires.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

PG_BINDIR = Path("/usr/lib/postgresql/15/bin")
INSTALL_HINT = "PostgreSQL 15 server binaries not found: apt-get install -y postgresql-15 (make test does this)"


def _bindir() -> Path:
    if (PG_BINDIR / "initdb").is_file():
        return PG_BINDIR
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out and (Path(out) / "initdb").is_file():
            return Path(out)
    pytest.fail(INSTALL_HINT, pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgCluster:
    """A running test cluster: its DSN, and stop/start for connection-loss tests."""

    bindir: Path
    root: Path
    port: int
    as_postgres: bool
    database: str = "retrieval_test"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str) -> None:
        cmd = [str(a) for a in args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
        if done.returncode != 0:
            log = (self.root / "server.log")
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}\n{tail}")

    def initdb(self) -> None:
        self._run(self.bindir / "initdb", "-D", self.root / "data", "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-locale", "--no-sync")

    def start(self) -> None:
        # Durability off: a test server, started fresh each session.
        options = (f"-p {self.port} -k {self.root / 'socket'} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run(self.bindir / "pg_ctl", "-D", self.root / "data", "-l", self.root / "server.log",
                  "-o", options, "-w", "-t", "30", "start")

    def stop(self) -> None:
        self._run(self.bindir / "pg_ctl", "-D", self.root / "data", "-m", "fast", "-w", "stop")

    def create_database(self) -> None:
        import asyncpg

        async def create() -> None:
            conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", timeout=10)
            try:
                await conn.execute(f"CREATE DATABASE {self.database}")
            finally:
                await conn.close()

        asyncio.run(create())

    def execute(self, *statements: str) -> object:
        """Run SQL statements on the test database on a fresh connection; the last one's value."""
        import asyncpg

        async def run() -> object:
            conn = await asyncpg.connect(self.dsn, timeout=10)
            try:
                value = None
                for sql in statements:
                    value = await conn.fetchval(sql)
                return value
            finally:
                await conn.close()

        return asyncio.run(run())


_SCHEMA_NUMBERS = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    bindir = _bindir()
    as_postgres = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="retrieval-pg-"))
    (root / "socket").mkdir()
    if as_postgres:  # initdb refuses to run as root; the server user must own its directory
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(root / "socket", "postgres", "postgres")
    cluster = PgCluster(bindir, root, _free_port(), as_postgres)
    started = False
    try:
        cluster.initdb()
        cluster.start()
        started = True
        cluster.create_database()
        yield cluster
    finally:
        if started:
            try:
                cluster.stop()
            except Exception:  # already stopped by a failed test: still remove the files
                pass
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_dsn(pg_cluster: PgCluster) -> str:
    return pg_cluster.dsn


@pytest.fixture()
def pg_schema() -> str:
    """A fresh PostgreSQL schema name per test: tests do not see each other's tables."""
    return f"t_{next(_SCHEMA_NUMBERS)}_{os.getpid()}"
