"""Updates through a collection: routed per shard, committed as one collection version.

The result equals a fresh sharded build of the same live documents; a SIGKILL at each step of a
collection update leaves the previous version opening and verified, and the rerun completes it.
Bad collections are refused on open with a message naming the shard.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from retrieval import Engine, IndexConfig
from retrieval.errors import BundleError
from retrieval.types import Document

from ..kill_points import run_until

QUERIES = ["topic 1 words", "quokkas", "document topic 3", "more words", "island marsupial", "topic 0"]


def docs() -> list[Document]:
    return [Document(f"d{i}", f"Document {i} about topic {i % 4} and more words {'x' * (i % 3)}.", f"T{i}")
            for i in range(40)]


def ranking(engine: Engine, query: str, mode: str = "bm25") -> list[tuple[str, float]]:
    return [(h.id, h.score) for h in engine.search(query, k=15, mode=mode).hits]


def ids(engine: Engine, query: str, mode: str) -> list[str]:
    return [h.id for h in engine.search(query, k=15, mode=mode).hits]


def live_documents(engine: Engine) -> list[Document]:
    """The collection's live documents in collection chunk order (what a fresh build is fed)."""
    store, live = engine.store, engine.live
    ids = np.arange(len(store)) if live is None else live
    seen: dict[str, Document] = {}
    for chunk in store.get(ids):
        if chunk.doc_id not in seen:
            seen[chunk.doc_id] = Document(chunk.doc_id, chunk.text, chunk.title)
    return list(seen.values())


@pytest.mark.parametrize("dense", [False, True], ids=["keyword", "dense"])
@pytest.mark.parametrize("exclude_max", [1024, 0], ids=["few-deleted", "live-set"])
def test_updates_equal_a_fresh_sharded_build_of_the_live_documents(tmp_path, monkeypatch, dense, exclude_max) -> None:
    import retrieval.bundle.view

    # Deleted chunks are dropped by over-asking (few) or by restricting to the live set (many).
    monkeypatch.setattr(retrieval.bundle.view, "EXCLUDE_MAX", exclude_max)
    config = IndexConfig.from_dict({"dense": dense, "sentences": False, "vector": {"kind": "flat"}})
    engine = Engine.build(docs(), tmp_path / "col", config, shards=3)
    engine.upsert([Document("d1", "The changed text mentions quokkas.", "Changed"),
                   Document("new", "An island marsupial, the quokka.", "Quokka")])
    report = engine.delete(["d2", "d7", "absent"])
    assert report.deleted == 2 and report.missing == ["absent"] and engine.manifest.version == 3
    fresh = Engine.build(live_documents(engine), tmp_path / "fresh", config, shards=3)
    assert engine.counts == fresh.counts
    modes = engine.modes
    for query in QUERIES:
        for mode in modes:
            assert ids(engine, query, mode) == ids(fresh, query, mode), (mode, query)
        assert ranking(engine, query) == ranking(fresh, query)  # BM25 scores exactly
    engine.compact()
    assert engine.live is None and engine.manifest.version == 4
    for query in QUERIES:
        for mode in modes:
            assert ids(engine, query, mode) == ids(fresh, query, mode), (mode, query)
        assert ranking(engine, query) == ranking(fresh, query)
    reopened = Engine.open(tmp_path / "col")  # verifies every file of the committed version
    assert ranking(reopened, "quokkas") == ranking(fresh, "quokkas")


def test_an_empty_shard_gets_its_first_documents(tmp_path) -> None:
    config = IndexConfig(dense=False)
    engine = Engine.build([Document("only", "a single document about quokkas")], tmp_path / "col", config, shards=4)
    manifest = json.loads((tmp_path / "col" / "collection.json").read_text())
    assert sum(s["digest"] is None for s in manifest["shards"]) == 3
    more = [Document(f"m{i}", f"quokka number {i} on an island") for i in range(12)]
    engine.upsert(more)
    fresh = Engine.build(live_documents(engine), tmp_path / "fresh", config, shards=4)
    assert ranking(engine, "quokka island") == ranking(fresh, "quokka island")


def test_a_shard_emptied_by_deletes_compacts_and_takes_new_documents(tmp_path) -> None:
    from retrieval.collection.routing import shard_of

    config = IndexConfig(dense=False)
    engine = Engine.build(docs(), tmp_path / "col", config, shards=2)
    engine.delete([d.id for d in docs() if shard_of(d.id, 2) == 0])
    engine.compact()
    engine.upsert([Document("back", "Document about topic 1 returns with quokkas.")])
    fresh = Engine.build(live_documents(engine), tmp_path / "fresh", config, shards=2)
    for query in QUERIES:
        assert ranking(engine, query) == ranking(fresh, query)


STEPS = ("shard-committed", "state-written", "previous-manifest-written", "committed-before-gc")
CHILD = """
import retrieval.bundle.directory as directory
import retrieval.collection.state as state
import retrieval.collection.updates as updates
import retrieval.updates.updater as updater
from retrieval import Engine
from retrieval.types import Document

if step == "shard-committed":      # one shard has a new version the collection does not name
    wrap(updater, "update_bundle", after=lambda *a: True)
elif step == "state-written":      # every shard updated, the new state on disk, no manifest
    wrap(updates, "write_state", after=lambda *a: True)
elif step == "previous-manifest-written":
    wrap(directory, "_atomic_write", after=lambda path, data: path.name == "collection.prev.json")
elif step == "committed-before-gc":
    wrap(state, "collect_garbage", before=lambda root: True)
engine = Engine.open(root, verify=False)
engine.upsert([Document(id=f"d{i}", title="Changed", text=f"Changed text {i} mentions quokkas.") for i in range(6)])
"""


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_mid_collection_update_leaves_the_previous_version(tmp_path, step) -> None:
    root = tmp_path / "col"
    Engine.build(docs(), root, IndexConfig(dense=False), shards=3)
    before = {q: ranking(Engine.open(root), q) for q in QUERIES}

    run_until(CHILD, root, step, tmp_path)

    after = Engine.open(root)  # verifies every file of the version it opens
    if step == "committed-before-gc":
        assert after.manifest.version == 2 and after.search("quokkas", k=1).hits[0].doc_id.startswith("d")
    else:
        assert after.manifest.version == 1
        assert {q: ranking(after, q) for q in QUERIES} == before
    # Running the update again completes it, from whatever the kill left.
    after.upsert([Document(id=f"d{i}", title="Changed", text=f"Changed text {i} mentions quokkas.") for i in range(6)])
    fresh = Engine.build(live_documents(after), tmp_path / "fresh", IndexConfig(dense=False), shards=3)
    for query in QUERIES:
        assert ranking(Engine.open(root), query) == ranking(fresh, query)


# -- refused on open, naming the shard -----------------------------------------------------------


@pytest.fixture()
def collection(tmp_path) -> Path:
    root = tmp_path / "col"
    Engine.build(docs(), root, IndexConfig(dense=False), shards=3)
    return root


def _refused(root: Path) -> str:
    with pytest.raises(BundleError) as info:
        Engine.open(root)
    return str(info.value)


def test_a_missing_shard_is_refused_by_name(collection) -> None:
    shutil.rmtree(collection / "shard-001")
    assert "shard shard-001 is missing" in _refused(collection)


def test_a_corrupt_shard_is_refused_by_name(collection) -> None:
    postings = collection / "shard-002" / "bm25" / "postings.npy"
    data = bytearray(postings.read_bytes())
    data[-1] ^= 0xFF
    postings.write_bytes(bytes(data))
    message = _refused(collection)
    assert "shard-002" in message and "sha256" in message


def test_a_manifest_naming_a_missing_version_is_refused(collection) -> None:
    path = collection / "collection.json"
    raw = json.loads(path.read_text())
    raw["shards"][0]["digest"] = "0" * 64
    raw["shards"][0]["version"] = 9
    from retrieval.collection.manifest import checksum

    raw["checksum"] = checksum(raw)
    path.write_text(json.dumps(raw))
    message = _refused(collection)
    assert "shard shard-000 has no version 9" in message


def test_shards_built_with_another_analyzer_are_refused(collection, tmp_path) -> None:
    other = tmp_path / "other"
    Engine.build(docs(), other, IndexConfig.from_dict({"dense": False, "analyzer": {"stemmer": "porter"}}), shards=3)
    shutil.rmtree(collection / "shard-001")
    shutil.copytree(other / "shard-001", collection / "shard-001")
    raw = json.loads((collection / "collection.json").read_text())
    from retrieval.collection.manifest import checksum

    theirs = json.loads((other / "shard-001" / "manifest.json").read_text())
    from retrieval.bundle.manifest import Manifest

    raw["shards"][1]["digest"] = Manifest.parse({k: v for k, v in theirs.items() if k != "checksum"}).digest
    raw["checksum"] = checksum(raw)
    (collection / "collection.json").write_text(json.dumps(raw))
    message = _refused(collection)
    assert "shard shard-001 was built with another analyzer" in message


def test_a_corrupt_collection_manifest_is_refused(collection) -> None:
    path = collection / "collection.json"
    path.write_text(path.read_text().replace('"version": 1', '"version": 2', 1))
    assert "checksum" in _refused(collection)


def test_a_shard_is_updated_only_through_its_collection(collection) -> None:
    from retrieval.errors import ConfigError
    from retrieval.updates import apply_update
    from retrieval.updates.dispatch import compact

    for change in (lambda: apply_update(collection / "shard-000", deletes=["d1"]),
                   lambda: compact(collection / "shard-000")):
        with pytest.raises(ConfigError, match="is a shard of the collection"):
            change()
    assert Engine.open(collection).manifest.version == 1
