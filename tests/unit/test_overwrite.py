"""--overwrite replaces only what the library wrote: a bundle or an empty directory (issue 12, item 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval import Document, Engine, IndexConfig
from retrieval.errors import BundleError, ConfigError
from retrieval.bundle.overwrite import check_replaceable_dir, check_replaceable_png
from tests.cli.test_cli import assert_one_line_error, run
from tests.conftest import SMALL_CORPUS, write_jsonl

KEYWORD_ONLY = IndexConfig.from_dict({"dense": False})
SMALL_CORPUS_DOCS = [Document(id=r["_id"], title=r["title"], text=r["text"]) for r in SMALL_CORPUS]


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_directory_holding_the_corpus_is_refused_and_untouched(tmp_path: Path):
    # The reported data loss: the corpus lives inside --out.
    out = tmp_path / "X"
    out.mkdir()
    write_jsonl(out / "c.jsonl", SMALL_CORPUS)
    (out / "important.txt").write_text("keep\n")
    before = _tree(out)
    proc = run("index", str(out / "c.jsonl"), "--out", str(out), "--no-dense", "--overwrite")
    assert_one_line_error(proc, "not an index bundle")
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X"]  # nothing moved aside, no temp left


def test_plain_file_is_refused_and_untouched(tmp_path: Path, small_corpus: Path):
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    proc = run("index", str(small_corpus), "--out", str(target), "--no-dense", "--overwrite")
    assert_one_line_error(proc, "it is a file")
    assert target.read_text() == "mine\n"
    assert not list(tmp_path.glob(".notes.txt.*"))  # no .old-* or temp leftovers


def test_bundle_is_replaced(tmp_path: Path, small_corpus: Path):
    out = tmp_path / "bundle"
    Engine.build(SMALL_CORPUS_DOCS[:2], out, KEYWORD_ONLY).close()
    proc = run("index", str(small_corpus), "--out", str(out), "--no-dense", "--overwrite", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["documents"] == 5
    assert Engine.open(out).counts["documents"] == 5  # the old 2-document bundle is gone
    assert not list(tmp_path.glob(".bundle.*"))


def test_updated_bundle_is_replaced(tmp_path: Path, small_corpus: Path):
    out = tmp_path / "bundle"
    engine = Engine.build(small_corpus, out, KEYWORD_ONLY)
    engine.delete(["re"])  # a delta directory and manifest.prev.json: still all the bundle's own
    engine.close()
    Engine.build(small_corpus, out, KEYWORD_ONLY, overwrite=True).close()
    assert Engine.open(out).counts["documents"] == 5


def test_empty_directory_is_replaced(tmp_path: Path, small_corpus: Path):
    out = tmp_path / "empty"
    out.mkdir()
    proc = run("index", str(small_corpus), "--out", str(out), "--no-dense", "--overwrite", "--json")
    assert proc.returncode == 0, proc.stderr
    assert (out / "manifest.json").is_file()


def test_bundle_with_a_foreign_file_is_refused(tmp_path: Path, small_corpus: Path):
    out = tmp_path / "bundle"
    Engine.build(small_corpus, out, KEYWORD_ONLY).close()
    (out / "my-notes.md").write_text("notes\n")
    before = _tree(out)
    with pytest.raises(BundleError, match=r"not part of the bundle \(my-notes.md\)"):
        Engine.build(small_corpus, out, KEYWORD_ONLY, overwrite=True)
    assert _tree(out) == before


def test_foreign_manifest_and_symlink_are_refused(tmp_path: Path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "manifest.json").write_text(json.dumps({"format": "something-else", "files": {}}))
    with pytest.raises(BundleError, match="not an index bundle"):
        check_replaceable_dir(foreign)
    link = tmp_path / "link"
    link.symlink_to(foreign)
    with pytest.raises(BundleError, match="symbolic link"):
        check_replaceable_dir(link)
    check_replaceable_dir(tmp_path / "absent")  # nothing there: fine


def test_without_overwrite_an_existing_path_is_refused(tmp_path: Path, small_corpus: Path):
    out = tmp_path / "bundle"
    Engine.build(small_corpus, out, KEYWORD_ONLY).close()
    proc = run("index", str(small_corpus), "--out", str(out), "--no-dense")
    assert_one_line_error(proc, "already exists")


def test_plot_targets(tmp_path: Path):
    check_replaceable_png(tmp_path / "new.png")
    previous = tmp_path / "old.png"
    previous.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    check_replaceable_png(previous)
    text = tmp_path / "report.txt"
    text.write_text("mine\n")
    with pytest.raises(ConfigError, match="not a PNG file"):
        check_replaceable_png(text)
    with pytest.raises(ConfigError, match="not a regular file"):
        check_replaceable_png(tmp_path)


def test_bench_plot_over_a_user_file_is_refused_before_the_run(tmp_path: Path):
    base = tmp_path / "missing.fvecs"  # never read: the plot target is checked first
    text = tmp_path / "report.txt"
    text.write_text("mine\n")
    proc = run("bench", "sweep", "--fvecs", str(base), "--queries", str(base), "--plot", str(text))
    assert_one_line_error(proc, "not a PNG file")
    assert text.read_text() == "mine\n"
    proc = run("bench", "sweep", "--fvecs", str(base), "--queries", str(base), "--results-dir", str(text))
    assert_one_line_error(proc, "is a file, not a directory")
    assert text.read_text() == "mine\n"


def test_save_png_replaces_a_previous_plot_atomically(tmp_path: Path):
    from retrieval.bench.plot import plot

    target = tmp_path / "sweep.png"
    rows = [{"index": "flat", "params": {}, "recall@10": 1.0, "qps": 100.0}]
    plot({"rows": rows}, target)
    plot({"rows": rows}, target)  # a previous plot is ours to replace
    assert target.read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.png"]
