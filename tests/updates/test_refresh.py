"""Engine.refresh: a new version that cannot be opened leaves the open one serving, and says why once."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from retrieval import Document, Engine, IndexConfig
from retrieval.bundle import MANIFEST

DOCS = [Document(id=f"d{i}", title=f"T{i}", text=f"Document {i} about ordinary things.") for i in range(6)]


def test_a_broken_new_version_keeps_the_open_one_serving(tmp_path: Path, caplog) -> None:
    Engine.build(DOCS, tmp_path / "b", IndexConfig(dense=False)).close()
    served = Engine.open(tmp_path / "b")
    view = served.view()
    with Engine.open(tmp_path / "b") as writer:
        writer.upsert([Document(id="q", title="Q", text="A quokka.")])
    manifest = json.loads((tmp_path / "b" / MANIFEST).read_text())
    damaged = tmp_path / "b" / manifest["delta"]["dir"] / "chunks.parquet"  # the added chunk's text
    good = damaged.read_bytes()
    damaged.write_bytes(good[:-1])  # the new version's file is short: it cannot be opened

    with caplog.at_level(logging.WARNING, logger="retrieval.engine"):
        assert served.refresh() is False
        assert served.refresh() is False
    warnings = [r.getMessage() for r in caplog.records if r.name == "retrieval.engine"]
    assert len(warnings) == 1 and "still serving the open one" in warnings[0] and "wrong size" in warnings[0]
    assert served.view() is view  # nothing switched
    assert served.search("quokka", k=1).hits == ()  # the open version has no quokka
    assert served.search("ordinary things", k=1).hits

    damaged.write_bytes(good)
    assert served.refresh() is True
    assert served.search("quokka", k=1).hits[0].doc_id == "q"
    assert served.view() is not view and view.search("quokka", k=1).hits == ()  # the old view is still whole
    served.close()
