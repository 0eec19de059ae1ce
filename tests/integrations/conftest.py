"""Fixtures for the framework adapters: one small dense bundle, the same corpus as a two-shard
collection, and a server over the bundle with a client of it.

Every adapter test runs over each ``source`` (bundle, collection, server): the adapters must
not care which one they were given. Haystack would send usage telemetry from a pipeline run;
the switch is read when haystack is imported, so it is set here, before any test module is.
"""

from __future__ import annotations

import os

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"

from pathlib import Path  # noqa: E402
from typing import Any, Iterator  # noqa: E402

import pytest  # noqa: E402

from retrieval import Engine  # noqa: E402
from retrieval.client import RetrievalClient  # noqa: E402
from retrieval.config import IndexConfig  # noqa: E402
from retrieval.types import Document  # noqa: E402

from tests.service.harness import ServerThread  # noqa: E402

TEXTS = [
    ("json", "The json module encodes and decodes JSON. Use json.loads to parse a string into objects.", "json"),
    ("files", "Open a file with open(). Iterate over the file object to read it line by line.", "Reading files"),
    ("re", "The re module provides regular expression matching. re.search scans a string for a match.", "re"),
    ("csv", "The csv module reads and writes comma-separated values. csv.reader iterates over rows.", "csv"),
    ("os", "The os module talks to the operating system: environment variables, processes and paths.", "os"),
    ("time", "The time module reads clocks. time.perf_counter measures short durations precisely.", "time"),
    ("sqlite", "The sqlite3 module stores data in a SQLite database file with SQL queries.", "sqlite3"),
    ("http", "The http.client module sends HTTP requests; urllib.request opens URLs.", "http"),
    ("math", "The math module has functions like sqrt, sin and log for floating point numbers.", "math"),
    ("asyncio", "asyncio runs coroutines on an event loop. await suspends a coroutine until a result is ready.",
     "asyncio"),
]
# "group" a (first five) or b (the rest): for the filter tests.
DOCS = [Document(id, text, title, {"group": "a" if i < 5 else "b"}) for i, (id, text, title) in enumerate(TEXTS)]
GROUP_B = {d.id for d in DOCS if d.metadata["group"] == "b"}
QUERY = "how do I parse json"  # json#0 first, in every mode
NO_MATCH = "zyzzyva quokka"  # no term of the corpus: bm25 finds nothing

SOURCES = ["bundle", "collection", "server"]


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine.build(DOCS, tmp_path_factory.mktemp("integrations") / "bundle")


@pytest.fixture(scope="session")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine.build(DOCS, tmp_path_factory.mktemp("integrations") / "collection", shards=2)


@pytest.fixture(scope="session")
def keyword_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("integrations") / "keyword"
    Engine.build(DOCS, root, IndexConfig(dense=False))
    return root


@pytest.fixture(scope="session")
def server(engine: Engine) -> Iterator[ServerThread]:
    with ServerThread(engine) as running:
        yield running


@pytest.fixture(scope="session")
def client(server: ServerThread) -> Iterator[RetrievalClient]:
    remote = RetrievalClient(server.target)
    yield remote
    remote.close()


@pytest.fixture(params=SOURCES)
def source(request: pytest.FixtureRequest) -> Any:
    """What an adapter is given: an opened bundle, an opened collection, or a server's client."""
    return request.getfixturevalue({"bundle": "engine", "collection": "collection", "server": "client"}[request.param])
