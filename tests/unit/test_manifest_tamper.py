"""A tampered manifest is refused (issue 12, item 3): its own checksum, the files its format
requires, paths that leave the bundle, and values that contradict the files.

Each edit is tried twice: with the checksum left stale (the checksum catches it) and recomputed
(``manifest.seal``, as a careful editor would: then the check of the files catches it). Each
refusal is seen through ``Engine.open`` and through ``retrieval search`` (one line, exit 2).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from retrieval import Engine, IndexConfig, bundle
from retrieval.bundle import integrity
from retrieval.bundle.manifest import CHECKSUM_KEY, manifest_checksum, seal
from retrieval.cli import main
from retrieval.errors import BundleError
from retrieval.types import Document
from tests.conftest import SMALL_CORPUS, write_jsonl

CHECKSUM = "fails its checksum"


def _small_bundle(root: Path, dense: bool) -> Path:
    corpus = write_jsonl(root / "corpus.jsonl", SMALL_CORPUS)
    Engine.build(corpus, root / "bundle", IndexConfig.from_dict({"dense": dense})).close()
    return root / "bundle"


@pytest.fixture(scope="module")
def keyword_bundle(tmp_path_factory) -> Path:
    return _small_bundle(tmp_path_factory.mktemp("kw"), dense=False)


@pytest.fixture(scope="module")
def dense_bundle(tmp_path_factory) -> Path:
    return _small_bundle(tmp_path_factory.mktemp("dense"), dense=True)


@pytest.fixture(scope="module")
def updated_bundle(keyword_bundle: Path, tmp_path_factory) -> Path:
    """The keyword bundle after one update (a delta that adds, replaces and deletes)."""
    path = tmp_path_factory.mktemp("updated") / "bundle"
    shutil.copytree(keyword_bundle, path)
    engine = Engine.open(path)
    engine.upsert([Document(id="new", title="New", text="A brand new document about wombats."),
                   Document(id="json", title="json", text="The json module now mentions quokkas.")])
    engine.delete(["re"])
    return path


def load(path: Path) -> dict[str, Any]:
    return json.loads((path / bundle.MANIFEST).read_text(encoding="utf-8"))


def tampered(src: Path, dst: Path, edit: Callable[[dict[str, Any]], Any], *, reseal: bool) -> Path:
    shutil.copytree(src, dst)
    manifest = load(dst)
    edit(manifest)
    if reseal:
        seal(manifest)
    (dst / bundle.MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return dst


def assert_refused(path: Path, pattern: str, capsys) -> None:
    with pytest.raises(BundleError, match=pattern):
        Engine.open(path)
    capsys.readouterr()
    assert main(["search", str(path), "json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("retrieval: error: ") and captured.err.count("\n") == 1, captured.err
    assert re.search(pattern, captured.err), captured.err


def setter(dotted: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, last = dotted.split(".")

    def edit(manifest: dict[str, Any]) -> None:
        node = manifest
        for key in parents:
            node = node[key]
        node[last] = value(node[last]) if callable(value) else value

    return edit


def other_hex(value: str) -> str:
    return ("0" if value[0] != "0" else "1") + value[1:]


# (bundle fixture, field, new value or function of the old, what the check of the files says)
EDITS = [
    ("dense_bundle", "dense.embedder.fingerprint", other_hex, r"built with the embedder .*\(prompts, pooling or normalisation differ\)"),
    ("dense_bundle", "dense.embedder.tokenizer_sha256", other_hex, r"built with the embedder .*\(tokenizer_sha256: bundle"),
    ("dense_bundle", "dense.dim", 383, r"does not match the manifest \(shape"),
    ("dense_bundle", "dense.count", lambda n: n + 1, r"does not match the manifest \(shape"),
    ("dense_bundle", "sentences.embedder_fingerprint", other_hex, r"sentences.embedder_fingerprint"),
    ("keyword_bundle", "tokenizer.sha256", other_hex, r"tokenizer.sha256 is '.*' but .*tokenizer.json's is"),
    ("keyword_bundle", "counts.chunks", lambda n: n + 1, r"holds 4 chunks, the manifest says 5"),
    ("keyword_bundle", "counts.documents", lambda n: n + 1, r"counts.documents is 6 but rows of documents.parquet is 5"),
    ("keyword_bundle", "counts.terms", lambda n: n + 1, r"counts.terms is \d+ but BM25 vocabulary is \d+"),
    ("keyword_bundle", "counts.postings", lambda n: n - 1, r"counts.postings is \d+ but BM25 postings is \d+"),
    ("keyword_bundle", "counts.chunks", "4", r"counts.chunks must be an integer, got '4'"),
    ("keyword_bundle", "bm25.k1", 0.9, r"bm25.k1 is 0.9 but the BM25 index's is 1.5"),
    ("keyword_bundle", "bm25.b", 0.3, r"bm25.b is 0.3 but the BM25 index's is 0.75"),
    ("keyword_bundle", "bm25.variant", "okapi", r"bm25.variant is 'okapi' but the BM25 index's is 'lucene'"),
    ("keyword_bundle", "bm25.avgdl", lambda x: x * 2, r"bm25.avgdl is"),
    ("keyword_bundle", "config.bm25.k1", 0.9, r"config.bm25.k1 is 0.9 but the BM25 index's is 1.5"),
    ("keyword_bundle", "config.analyzer.stemmer", None, r"config.analyzer.stemmer is None but bm25/params.json's is 'english'"),
    ("keyword_bundle", "metadata.rows", 7, r"metadata.rows is 7 but rows of metadata.parquet is 0"),
    ("keyword_bundle", "store.file", "other.parquet", r"store section names file 'other.parquet'"),
    ("keyword_bundle", "base", "../outside", r"invalid base directory '../outside'"),
    ("dense_bundle", "sentences.dir", "../../etc", r"sentences section names dir '../../etc'"),
    ("updated_bundle", "counts.documents", lambda n: n + 1, r"counts.documents is 6 but live documents is 5"),
    ("updated_bundle", "counts.chunks", lambda n: n - 1, r"counts.chunks is 3 but live chunks .* is 4"),
    ("updated_bundle", "delta.dir", "../outside", r"invalid delta directory '../outside'"),
    ("updated_bundle", "delta.tombstones", lambda n: n + 1, r"tombstones.npy does not match the manifest"),
]
IDS = [f"{fixture.split('_')[0]}-{field}-{i}" for i, (fixture, field, _, _) in enumerate(EDITS)]


@pytest.mark.parametrize(("fixture", "field", "value", "pattern"), EDITS, ids=IDS)
def test_an_edited_value_is_refused_by_the_files_with_the_checksum_recomputed(
    fixture, field, value, pattern, request, tmp_path, capsys
):
    path = tampered(request.getfixturevalue(fixture), tmp_path / "b", setter(field, value), reseal=True)
    assert_refused(path, pattern, capsys)


@pytest.mark.parametrize(("fixture", "field", "value", "pattern"), EDITS, ids=IDS)
def test_an_edited_value_is_refused_by_the_checksum(fixture, field, value, pattern, request, tmp_path, capsys):
    path = tampered(request.getfixturevalue(fixture), tmp_path / "b", setter(field, value), reseal=False)
    assert_refused(path, CHECKSUM, capsys)


def test_bm25_parameters_must_be_those_the_native_index_was_built_with(keyword_bundle, tmp_path, capsys):
    """A consistent lie: params.json, the manifest's bm25 and config all say k1 = 0.9, every hash
    recomputed; bm25/params.npy still records the 1.5 the index was built with."""
    path = tampered(keyword_bundle, tmp_path / "b", lambda m: None, reseal=False)
    params_file = path / "bm25" / "params.json"
    params = json.loads(params_file.read_text())
    params["config"]["k1"] = 0.9
    params_file.write_text(json.dumps(params))
    manifest = load(path)
    manifest["files"]["bm25/params.json"] = {"sha256": bundle.sha256_file(params_file), "bytes": params_file.stat().st_size}
    manifest["bm25"]["k1"] = manifest["config"]["bm25"]["k1"] = 0.9
    (path / bundle.MANIFEST).write_text(json.dumps(seal(manifest)))
    assert_refused(path, r"bm25/params.json's k1 is 0.9 but the BM25 index was built with 1.5", capsys)


def test_a_harmless_edit_still_fails_the_checksum_and_passes_once_resealed(keyword_bundle, tmp_path, capsys):
    stale = tampered(keyword_bundle, tmp_path / "stale", setter("source", "elsewhere"), reseal=False)
    assert_refused(stale, CHECKSUM, capsys)
    sealed = tampered(keyword_bundle, tmp_path / "sealed", setter("source", "elsewhere"), reseal=True)
    assert Engine.open(sealed).search("json", 1).hits  # the checksum is the only thing it contradicts


def test_a_manifest_without_a_checksum_is_refused(keyword_bundle, tmp_path, capsys):
    path = tampered(keyword_bundle, tmp_path / "b", lambda m: m.pop(CHECKSUM_KEY), reseal=False)
    assert_refused(path, r"has no manifest_sha256.*rebuild", capsys)


def test_a_version_1_manifest_has_no_checksum_but_every_other_check(keyword_bundle, tmp_path, capsys):
    """Version 1 predates the checksum, so it is not asked for; the files and values still are."""
    def as_version_1(manifest: dict[str, Any]) -> None:
        manifest["format_version"] = 1
        manifest.pop(CHECKSUM_KEY)

    path = tampered(keyword_bundle, tmp_path / "v1", as_version_1, reseal=False)
    assert Engine.open(path).search("json", 1).hits
    emptied = tampered(path, tmp_path / "v1-emptied", setter("files", {}), reseal=False)
    assert_refused(emptied, r"does not list .* which this bundle's format requires", capsys)
    edited = tampered(path, tmp_path / "v1-edited", setter("bm25.k1", 0.9), reseal=False)
    assert_refused(edited, r"bm25.k1 is 0.9 but the BM25 index's is 1.5", capsys)
    future = tampered(path, tmp_path / "v99", setter("format_version", 99), reseal=False)
    assert_refused(future, r"format version 99; this library reads versions 1, 2: rebuild it", capsys)


def test_the_onnx_file_hash_may_differ_but_not_be_edited(dense_bundle, tmp_path, capsys):
    """Another torch version exports the same weights as other ONNX bytes with the same vectors,
    so a bundle from such a machine opens (the weights' fingerprint must match); an edit that
    leaves the checksum stale is still refused."""
    moved = tampered(dense_bundle, tmp_path / "moved", setter("dense.embedder.onnx_sha256", other_hex), reseal=True)
    assert Engine.open(moved).search("json", 1, mode="dense").hits
    edited = tampered(dense_bundle, tmp_path / "edited", setter("dense.embedder.onnx_sha256", other_hex), reseal=False)
    assert_refused(edited, CHECKSUM, capsys)


@pytest.mark.parametrize("reseal", [True, False], ids=["resealed", "stale"])
@pytest.mark.parametrize("fixture", ["keyword_bundle", "dense_bundle", "updated_bundle"])
def test_an_empty_file_list_is_refused(fixture, reseal, request, tmp_path, capsys):
    path = tampered(request.getfixturevalue(fixture), tmp_path / "b", setter("files", {}), reseal=reseal)
    assert_refused(path, r"does not list .* which this bundle's format requires" if reseal else CHECKSUM, capsys)


@pytest.mark.parametrize(
    ("fixture", "rel", "offset"),
    [
        ("keyword_bundle", "bm25/idf.npy", -8),        # the last idf, a float64
        ("keyword_bundle", "bm25/block_max.npy", -8),  # the last block maximum
        ("keyword_bundle", "bm25/postings.npy", -1),   # garbage postings
        ("dense_bundle", "vectors.npy", -4),           # the last component of the last vector
        ("dense_bundle", "vectors.faiss", -4),
        ("updated_bundle", "bm25/idf.npy", -8),
    ],
)
@pytest.mark.parametrize("emptied", ["all", "one"])
def test_flipped_bytes_are_caught_even_with_the_file_list_emptied(fixture, rel, offset, emptied, request, tmp_path, capsys):
    def unlist(manifest: dict[str, Any]) -> None:
        if emptied == "all":
            manifest["files"] = {}
        else:
            del manifest["files"][rel]

    path = tampered(request.getfixturevalue(fixture), tmp_path / "b", unlist, reseal=True)
    data = bytearray((path / rel).read_bytes())
    data[offset] ^= 0x40
    (path / rel).write_bytes(bytes(data))
    assert_refused(path, rf"does not list {re.escape(rel) if emptied == 'one' else '.*'}", capsys)


def test_a_flipped_byte_in_a_listed_file_fails_its_sha256(keyword_bundle, tmp_path, capsys):
    path = tampered(keyword_bundle, tmp_path / "b", lambda m: None, reseal=False)
    data = bytearray((path / "bm25/idf.npy").read_bytes())
    data[-8] ^= 0x40
    (path / "bm25/idf.npy").write_bytes(bytes(data))
    assert_refused(path, r"bm25/idf.npy fails its sha256 check", capsys)


OUTSIDE = ["/etc/hostname", "../x", "bm25/../../x", "./chunks.parquet", "bm25//idf.npy", "/nonexistent/file", "a\\..\\..\\x"]


@pytest.mark.parametrize("reseal", [True, False], ids=["resealed", "stale"])
@pytest.mark.parametrize("rel", OUTSIDE)
def test_a_path_that_leaves_the_bundle_is_refused_before_it_is_looked_at(keyword_bundle, rel, reseal, tmp_path, capsys):
    entry = {"sha256": "0" * 64, "bytes": 1}
    path = tampered(keyword_bundle, tmp_path / "b", lambda m: m["files"].__setitem__(rel, entry), reseal=reseal)
    # "/nonexistent/file" would be "missing" if it were looked at: the refusal comes first.
    assert_refused(path, r"must be relative and stay inside the bundle" if reseal else CHECKSUM, capsys)


def test_a_symlink_out_of_the_bundle_is_refused(keyword_bundle, tmp_path, capsys):
    path = tampered(keyword_bundle, tmp_path / "b", lambda m: None, reseal=False)
    outside = tmp_path / "outside.parquet"
    shutil.move(path / "documents.parquet", outside)
    (path / "documents.parquet").symlink_to(outside)  # same bytes, listed sha256 matches
    assert_refused(path, r"lists documents.parquet, which leads outside the bundle", capsys)


@pytest.mark.parametrize("entry", [{"sha256": "zz", "bytes": 1}, {"sha256": "0" * 64, "bytes": "1"}, "x", {"bytes": 1}])
def test_a_malformed_file_entry_is_refused(keyword_bundle, entry, tmp_path, capsys):
    path = tampered(keyword_bundle, tmp_path / "b", lambda m: m["files"].__setitem__("chunks.parquet", entry), reseal=True)
    assert_refused(path, r"malformed entry for chunks.parquet|manifest's files\.chunks\.parquet", capsys)


def test_every_bundle_written_lists_exactly_the_files_its_format_requires(keyword_bundle, dense_bundle, updated_bundle, tmp_path):
    """``required_files`` follows the writers: builds (keyword, dense with sentences), updates
    (adding, and deleting only: no BM25 segment), and compaction."""
    deletes_only = tmp_path / "deletes"
    shutil.copytree(dense_bundle, deletes_only)
    Engine.open(deletes_only).delete(["re"])
    compacted = tmp_path / "compacted"
    shutil.copytree(updated_bundle, compacted)
    Engine.open(compacted).compact()
    for path in (keyword_bundle, dense_bundle, updated_bundle, deletes_only, compacted):
        manifest = bundle.read_manifest(path)
        assert integrity.required_files(manifest) == set(manifest.files), path
    assert load(deletes_only)["delta"]["chunks"] == 0 and load(compacted)["base"].startswith("gen-")


def test_the_checksum_covers_the_canonical_content(keyword_bundle):
    manifest = load(keyword_bundle)
    assert manifest[CHECKSUM_KEY] == manifest_checksum(manifest)
    reordered = dict(reversed(list(manifest.items())))  # key order and layout are not content
    assert manifest_checksum(reordered) == manifest[CHECKSUM_KEY]
    manifest["counts"]["chunks"] += 0.0  # 4 -> 4.0 is an edit
    assert manifest_checksum(manifest) != manifest[CHECKSUM_KEY]


def test_update_and_compaction_write_sealed_manifests(updated_bundle, tmp_path):
    manifest = load(updated_bundle)
    assert manifest["version"] == 3 and manifest[CHECKSUM_KEY] == manifest_checksum(manifest)
    previous = json.loads((updated_bundle / bundle.PREVIOUS_MANIFEST).read_text())
    assert previous[CHECKSUM_KEY] == manifest_checksum(previous)
    assert np.load(updated_bundle / manifest["delta"]["dir"] / "tombstones.npy").size > 0
