"""The built-in demo corpus (Python standard library documentation)."""

from __future__ import annotations

import sys
import warnings

from retrieval.ingest import demo_corpus
from retrieval.ingest.demo import MODULES


def test_demo_corpus_is_large_deterministic_and_unique() -> None:
    first = list(demo_corpus())
    second = list(demo_corpus())
    assert first == second
    ids = [d.id for d in first]
    assert len(ids) == len(set(ids))
    # Measured on CPython 3.11: 3,546 documents (79 topics).
    assert len(first) > 2000
    assert all(d.text.strip() and d.title == d.id.removeprefix("topic:") for d in first)


def test_demo_corpus_contains_what_people_search_for() -> None:
    docs = {d.id: d for d in demo_corpus()}
    assert "with" in docs["topic:with"].text
    assert docs["json.dumps"].text.startswith("dumps(obj")
    assert "str.split" in docs and "sorted" in docs
    assert "pathlib.Path.glob" in docs
    assert docs["json"].metadata == {"kind": "module"}


def test_demo_corpus_imports_no_side_effect_modules_and_warns_nothing() -> None:
    banned = {"this", "antigravity", "tkinter", "idlelib", "turtle"}
    assert not banned & set(MODULES)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in demo_corpus():
            pass
    assert not banned & set(sys.modules)
