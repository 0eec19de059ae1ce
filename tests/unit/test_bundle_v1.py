"""Bundles of format version 1 (written before the manifest checksum) still open and search the same.

``tests/fixtures/bundles_v1`` was written by the code of commit 461a07a: a keyword-only bundle and
a dense one after an update (a delta with an added and a deleted document). ``expected_hits.json``
holds what that code returned for the same searches.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from retrieval import Document, Engine, bundle

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bundles_v1"
EXPECTED = json.loads((FIXTURES / "expected_hits.json").read_text(encoding="utf-8"))


@pytest.fixture()
def copy(tmp_path: Path):
    def make(name: str) -> Path:
        return Path(shutil.copytree(FIXTURES / name, tmp_path / name))

    return make


def test_the_fixtures_are_version_1():
    for name in ("keyword", "dense"):
        manifest = json.loads((FIXTURES / name / bundle.MANIFEST).read_text(encoding="utf-8"))
        assert manifest["format_version"] == 1 and "manifest_sha256" not in manifest


@pytest.mark.parametrize("name", ["keyword", "dense"])
def test_a_version_1_bundle_searches_as_it_did(name: str, copy):
    with Engine.open(copy(name)) as engine:
        for key, hits in EXPECTED.items():
            bundle_name, mode, query = key.split("/", 2)
            if bundle_name != name:
                continue
            got = [[h.id, h.score] for h in engine.search(query, k=5, mode=mode).hits]
            assert [h[0] for h in got] == [h[0] for h in hits], key
            scores, expected = [h[1] for h in got], [h[1] for h in hits]
            if mode == "bm25":
                assert scores == expected, key  # exact
            else:  # the query is embedded again: equal within fp32 rounding
                assert scores == pytest.approx(expected, abs=1e-5), key


def test_an_update_of_a_version_1_bundle_writes_version_2(copy):
    path = copy("dense")
    with Engine.open(path) as engine:
        engine.upsert([Document(id="koala", title="Koala", text="Koalas eat eucalyptus leaves.")])
        assert engine.search("eucalyptus", k=1).hits[0].doc_id == "koala"
    manifest = bundle.read_manifest(path)
    assert manifest["format_version"] == 2 and "manifest_sha256" in manifest
    assert json.loads((path / bundle.PREVIOUS_MANIFEST).read_text())["format_version"] == 1
