"""`retrieval update` and `retrieval compact`: JSON reports, new versions, one-line errors."""

from __future__ import annotations

import json

from retrieval import Engine
from retrieval.cli import main
from tests.conftest import write_jsonl


def test_update_then_compact_from_the_command_line(tmp_path, small_corpus, capsys):
    assert main(["index", str(small_corpus), "--out", str(tmp_path / "b"), "--no-dense", "--json"]) == 0
    changes = write_jsonl(tmp_path / "changes.jsonl", [
        {"_id": "json", "title": "json module", "text": "The json module now mentions quokkas."},
        {"_id": "new", "title": "New", "text": "A brand new document about wombats."},
    ])
    capsys.readouterr()
    assert main(["update", str(tmp_path / "b"), "--upsert", str(changes), "--delete", "re", "--delete", "nope", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["replaced"], report["added"], report["deleted"], report["missing"]) == (1, 1, 1, ["nope"])
    assert report["committed"] and report["version"] == 2
    engine = Engine.open(tmp_path / "b")
    assert [h.doc_id for h in engine.search("quokkas", k=3).hits] == ["json"]
    assert all(h.doc_id != "re" for h in engine.search("regular expression matching", k=10).hits)

    assert main(["update", str(tmp_path / "b"), "--upsert", str(changes)]) == 0  # unchanged: no new version
    assert "no changes" in capsys.readouterr().out
    assert main(["compact", str(tmp_path / "b"), "--json"]) == 0
    compacted = json.loads(capsys.readouterr().out)
    assert compacted["committed"] and compacted["version"] == 3 and compacted["chunks_removed"] == 2
    assert main(["compact", str(tmp_path / "b")]) == 0
    assert "nothing to compact" in capsys.readouterr().out


def test_update_errors_are_one_line(tmp_path, small_corpus, capsys):
    assert main(["index", str(small_corpus), "--out", str(tmp_path / "b"), "--no-dense"]) == 0
    capsys.readouterr()
    assert main(["update", str(tmp_path / "b")]) == 2
    assert "nothing to do" in capsys.readouterr().err
    assert main(["update", str(tmp_path / "missing"), "--delete", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("retrieval: error:") and err.count("\n") == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_id": "x", "text": "ok"}\nnot json\n')
    assert main(["update", str(tmp_path / "b"), "--upsert", str(bad)]) == 2
    assert "bad.jsonl" in capsys.readouterr().err
    assert Engine.open(tmp_path / "b").manifest.version == 1
