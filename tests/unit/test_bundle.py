import json
from pathlib import Path

import pytest

from retrieval import bundle
from retrieval.bundle import integrity
from retrieval.bundle.manifest import CHECKSUM_KEY, Manifest, manifest_checksum, seal
from retrieval.errors import BundleError

# The sections every manifest has (the values are placeholders: read_manifest checks the files'
# presence, size and sha256, not their content).
INFO = {
    "config": {},
    "analyzer": {},
    "bm25": {"k1": 1.5, "b": 0.75, "variant": "lucene", "epsilon": 0.25, "avgdl": 10.0},
    "counts": {"documents": 1, "chunks": 1, "terms": 1, "postings": 1},
}
# What a keyword-only bundle's format requires.
REQUIRED = integrity.required_files(
    Manifest.parse({**INFO, "format_version": 2, "created": "", "environment": {}, "files": {}})
)


def make_bundle(path: Path, content: bytes = b"hello", overwrite: bool = False) -> Manifest:
    with bundle.writing(path, overwrite=overwrite) as tmp:
        for rel in REQUIRED:
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(b"placeholder")
        (tmp / "data.bin").write_bytes(content)
        (tmp / "sub").mkdir()
        (tmp / "sub" / "x.npy").write_bytes(b"\x00" * 100)
        return bundle.write_manifest(tmp, INFO)


def test_round_trip_lists_every_file_with_its_hash(tmp_path: Path):
    written = make_bundle(tmp_path / "b")
    read = bundle.read_manifest(tmp_path / "b")
    assert read.replace(manifest_sha256=None) == written
    assert set(read.files) == {"data.bin", "sub/x.npy"} | REQUIRED
    raw = json.loads((tmp_path / "b" / bundle.MANIFEST).read_text())
    assert raw[CHECKSUM_KEY] == read.manifest_sha256 == manifest_checksum(raw)
    assert read.files["data.bin"].sha256 == bundle.sha256_file(tmp_path / "b" / "data.bin")
    assert read.format == bundle.FORMAT and read.format_version == bundle.FORMAT_VERSION
    assert "library_version" in read.environment


def test_corrupt_file_is_detected(tmp_path: Path):
    make_bundle(tmp_path / "b")
    target = tmp_path / "b" / "data.bin"
    target.write_bytes(b"hellp")  # same size, different bytes
    with pytest.raises(BundleError, match="data.bin fails its sha256 check"):
        bundle.read_manifest(tmp_path / "b")
    target.write_bytes(b"hell")
    with pytest.raises(BundleError, match="data.bin has the wrong size"):
        bundle.read_manifest(tmp_path / "b", verify=False)
    target.unlink()
    with pytest.raises(BundleError, match="data.bin is missing"):
        bundle.read_manifest(tmp_path / "b")


def test_foreign_and_future_bundles_are_refused(tmp_path: Path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(BundleError, match="not an index bundle"):
        bundle.read_manifest(tmp_path / "plain")
    (tmp_path / "plain" / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(BundleError, match="foreign manifest"):
        bundle.read_manifest(tmp_path / "plain")
    make_bundle(tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    manifest["format_version"] = 99
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="format version 99"):
        bundle.read_manifest(tmp_path / "b")
    (tmp_path / "b" / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="unreadable"):
        bundle.read_manifest(tmp_path / "b")
    with pytest.raises(BundleError, match="no index bundle at"):
        bundle.read_manifest(tmp_path / "missing")


def test_failure_mid_build_leaves_no_bundle_and_no_temp_dir(tmp_path: Path):
    with pytest.raises(RuntimeError):
        with bundle.writing(tmp_path / "b") as tmp:
            (tmp / "data.bin").write_bytes(b"partial")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_previous_version(tmp_path: Path):
    make_bundle(tmp_path / "b", b"version one")
    with pytest.raises(RuntimeError):
        with bundle.writing(tmp_path / "b", overwrite=True) as tmp:
            (tmp / "data.bin").write_bytes(b"version two")
            raise RuntimeError("crash")
    bundle.read_manifest(tmp_path / "b")
    assert (tmp_path / "b" / "data.bin").read_bytes() == b"version one"


def test_overwrite_replaces_and_refuses_without_the_flag(tmp_path: Path):
    make_bundle(tmp_path / "b", b"version one")
    with pytest.raises(BundleError, match="already exists"):
        make_bundle(tmp_path / "b", b"version two")
    make_bundle(tmp_path / "b", b"version two", overwrite=True)
    bundle.read_manifest(tmp_path / "b")
    assert (tmp_path / "b" / "data.bin").read_bytes() == b"version two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_directories_of_killed_builds_are_cleaned_up(tmp_path: Path):
    dead = tmp_path / ".b.tmp-999999999-abcd"  # no such pid
    dead.mkdir()
    make_bundle(tmp_path / "b")
    assert not dead.exists()


def test_read_manifest_checks_the_checksum_and_the_required_files_even_without_verify(tmp_path: Path):
    make_bundle(tmp_path / "b")
    path = tmp_path / "b" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["counts"]["documents"] = 2
    path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="fails its checksum"):
        bundle.read_manifest(tmp_path / "b", verify=False)
    del manifest["files"]["bm25/idf.npy"]
    path.write_text(json.dumps(seal(manifest)))
    with pytest.raises(BundleError, match="does not list bm25/idf.npy, which this bundle's format requires"):
        bundle.read_manifest(tmp_path / "b", verify=False)


def test_commit_version_seals_the_new_manifest(tmp_path: Path):
    written = make_bundle(tmp_path / "b")
    bundle.commit_version(tmp_path / "b", written.replace(version=2, manifest_sha256="stale"))
    read = bundle.read_manifest(tmp_path / "b")
    raw = json.loads((tmp_path / "b" / bundle.MANIFEST).read_text())
    assert read.version == 2 and read.manifest_sha256 == manifest_checksum(raw)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m.update(surprise=1), "the manifest has an unknown key 'surprise'"),
        (lambda m: m["counts"].update(shards=2), "the manifest's counts section has an unknown key 'shards'"),
        (lambda m: m["counts"].pop("chunks"), "the manifest's counts section lacks the required key 'chunks'"),
        (lambda m: m["counts"].update(chunks="4"), "the manifest's counts.chunks must be an integer, got '4'"),
        (lambda m: m["counts"].update(chunks=True), "the manifest's counts.chunks must be an integer, got True"),
        (lambda m: m["counts"].update(chunks=-1), "chunks must be a non-negative integer, got -1"),
        (lambda m: m["bm25"].update(k1=None), "the manifest's bm25.k1 must be a number, got None"),
        (lambda m: m.update(store=[]), "the manifest's store section must be an object"),
        (lambda m: m["files"]["data.bin"].update(bytes="5"), "files.data.bin.bytes must be an integer"),
    ],
)
def test_a_manifest_is_parsed_strictly(tmp_path: Path, edit, message):
    make_bundle(tmp_path / "b")
    path = tmp_path / "b" / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(seal(manifest)))  # past the checksum: the parser must catch it
    with pytest.raises(BundleError) as caught:
        bundle.read_manifest(tmp_path / "b", verify=False)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_every_format_written_so_far_has_a_reader():
    from retrieval.bundle import manifest

    assert set(manifest.READERS) == set(range(1, bundle.FORMAT_VERSION + 1))
    assert bundle.READABLE_VERSIONS == tuple(manifest.READERS)


def test_a_manifest_round_trips_through_its_dict(tmp_path: Path):
    written = make_bundle(tmp_path / "b")
    assert Manifest.parse(written.to_dict()) == written
