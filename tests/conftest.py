"""Shared fixtures: the evaluation data beside the repo and small generated corpora."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# The Ray tests (tests/cluster) run in a child pytest of their own (tests/test_cluster_suite.py):
# a Ray driver leaves threads running after ray.shutdown, and this process's later tests must
# not share it with them (CPython 3.11's ast.parse is not safe against them, thread counts shift).
RAY_CHILD = "RETRIEVAL_RAY_TESTS_CHILD"
collect_ignore = [] if os.environ.get(RAY_CHILD) else ["cluster"]


def shared_data(relative: str) -> Path:
    """A path under ../shared/data; skips when absent locally, fails in CI where it must exist."""
    path = SHARED_DATA / relative
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"evaluation data missing in CI: {path}")
        pytest.skip(f"evaluation data not present: {path}")
    return path


@pytest.fixture(scope="session")
def scifact_dir() -> Path:
    return shared_data("scifact")


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


SMALL_CORPUS = [
    {"_id": "py", "title": "Python", "text": "Python is a programming language. It has a large standard library."},
    {"_id": "json", "title": "json module", "text": "The json module encodes and decodes JSON documents. Use json.loads to parse a string."},
    {"_id": "files", "title": "Reading files", "text": "Open a file with open(). Iterate over the file object to read it line by line."},
    {"_id": "re", "title": "Regular expressions", "text": "The re module provides regular expression matching operations."},
    {"_id": "empty", "title": "", "text": ""},
]


@pytest.fixture()
def small_corpus(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "corpus.jsonl", SMALL_CORPUS)
