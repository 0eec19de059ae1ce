"""The server follows bundle updates committed by another process: new versions are served
without a restart, and cached results of the old version are not."""

from __future__ import annotations

import time

from retrieval import Engine, IndexConfig
from retrieval.service.protos import retrieval_pb2 as pb
from retrieval.types import Document

from .harness import ServerThread

TIMEOUT = 30.0


def test_server_switches_to_a_newer_bundle_version(tmp_path) -> None:
    docs = [Document(id=f"d{i}", title=f"T{i}", text=f"Document {i} about ordinary things.") for i in range(10)]
    Engine.build(docs, tmp_path / "b", IndexConfig(dense=False))
    served = Engine.open(tmp_path / "b")
    writer = Engine.open(tmp_path / "b")  # stands for `retrieval sync` in another process
    with ServerThread(served, reload_interval_s=0.05) as server, server.channel() as channel:
        stub = server.stub(channel)
        request = pb.SearchRequest(query="quokka ordinary", k=3, mode="bm25")
        before = stub.Search(request, timeout=TIMEOUT)
        assert before.hits and all(h.document_id != "q" for h in before.hits)
        assert stub.Search(request, timeout=TIMEOUT).cached

        writer.upsert([Document(id="q", title="Q", text="A quokka, quokka and quokka.")])
        writer.delete(["d1"])
        deadline = time.monotonic() + 20
        while served.manifest.version < 3:
            assert time.monotonic() < deadline, "the server never switched versions"
            time.sleep(0.02)
        after = stub.Search(request, timeout=TIMEOUT)
        assert not after.cached  # the result cache is keyed by version
        assert after.hits[0].document_id == "q"
        everything = stub.Search(pb.SearchRequest(query="Document ordinary things", k=20, mode="bm25"), timeout=TIMEOUT)
        assert "d1" not in {h.document_id for h in everything.hits}
