"""Bundles written by earlier code still open and search exactly as they did.

``tests/fixtures/bundles_v1`` was written by the code of commit 461a07a (format 1, before the
manifest checksum); ``tests/fixtures/bundles_v2`` by commit de94d31 (format 2, the main before this
redesign), with ``tests/fixtures/make_bundles.py``. Each holds a keyword-only bundle and
a dense one after updates (a delta with an added and a deleted document), and
``expected_hits.json``: what that code returned for the same searches.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from retrieval import Document, Engine, bundle

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FORMATS = {"bundles_v1": 1, "bundles_v2": 2}
CASES = [(fixture, name) for fixture in FORMATS for name in ("keyword", "dense")]


def expected_hits(fixture: str) -> dict[str, list[list[object]]]:
    return json.loads((FIXTURES / fixture / "expected_hits.json").read_text(encoding="utf-8"))


@pytest.fixture()
def copy(tmp_path: Path):
    def make(fixture: str, name: str) -> Path:
        return Path(shutil.copytree(FIXTURES / fixture / name, tmp_path / fixture / name))

    return make


@pytest.mark.parametrize("fixture,name", CASES)
def test_each_fixture_has_the_format_it_stands_for(fixture: str, name: str):
    manifest = json.loads((FIXTURES / fixture / name / bundle.MANIFEST).read_text(encoding="utf-8"))
    assert manifest["format_version"] == FORMATS[fixture]
    assert ("manifest_sha256" in manifest) == (FORMATS[fixture] >= 2)


@pytest.mark.parametrize("fixture,name", CASES)
def test_an_old_bundle_searches_as_it_did(fixture: str, name: str, copy):
    expected = expected_hits(fixture)
    searched = 0
    with Engine.open(copy(fixture, name)) as engine:
        assert bundle.read_manifest(engine.path).format_version == FORMATS[fixture]
        for key, hits in expected.items():
            bundle_name, mode, query = key.split("/", 2)
            if bundle_name != name:
                continue
            got = [[h.id, h.score] for h in engine.search(query, k=5, mode=mode).hits]
            assert [h[0] for h in got] == [h[0] for h in hits], key
            scores, want = [h[1] for h in got], [h[1] for h in hits]
            if mode == "bm25":
                assert scores == want, key  # exact
            else:  # the query is embedded again: equal within fp32 rounding
                assert scores == pytest.approx(want, abs=1e-5), key
            searched += 1
    assert searched >= 3


@pytest.mark.parametrize("fixture", list(FORMATS))
def test_an_update_of_an_old_bundle_writes_the_current_format(fixture: str, copy):
    path = copy(fixture, "dense")
    with Engine.open(path) as engine:
        engine.upsert([Document(id="koala", title="Koala", text="Koalas eat eucalyptus leaves.")])
        assert engine.search("eucalyptus", k=1).hits[0].doc_id == "koala"
    manifest = bundle.read_manifest(path)
    assert manifest.format_version == bundle.FORMAT_VERSION and manifest.manifest_sha256
    assert json.loads((path / bundle.PREVIOUS_MANIFEST).read_text())["format_version"] == FORMATS[fixture]


@pytest.mark.parametrize("fixture,name", CASES)
def test_an_old_bundle_answers_the_same_with_every_top_k_strategy(fixture: str, name: str, copy):
    """The bound cache is built from the postings as they are on disk: old indexes use it unchanged."""
    with Engine.open(copy(fixture, name)) as engine:
        keyword = engine.bm25
        compared = 0
        for key in expected_hits(fixture):
            bundle_name, mode, query = key.split("/", 2)
            if bundle_name != name or mode != "bm25":
                continue
            terms = keyword.query_ids(query)
            want_ids, want_scores = keyword.index.topk(terms, 5, "exhaustive")
            for strategy in ("maxscore", "bounded", "auto"):
                ids, scores = keyword.index.topk(terms, 5, strategy)
                assert ids.tolist() == want_ids.tolist() and scores.tolist() == want_scores.tolist(), (key, strategy)
            compared += 1
        assert compared > 0
