"""An Answer after the server follows a new bundle version reads that version throughout
(issue 13's stale-Answer bug): the search, the chunk vectors, the sentence index and the idf.

Before the fix the answerer kept the compressor made for the old version, so an Answer whose
hits included a newly added chunk failed with FAILED_PRECONDITION (``SentenceIndex.rows``).
"""

from __future__ import annotations

import time

import numpy as np

from retrieval import Engine
from retrieval.context.compressor import ContextCompressor
from retrieval.service.protos import retrieval_pb2 as pb
from retrieval.types import Document

from .conftest import DOCS
from .harness import ServerThread

TIMEOUT = 60.0
QUOKKA = Document("quokka", "Quokkas are small marsupials. Quokkas live on Rottnest Island near Perth.", "Quokka")


def _answer(stub, question: str) -> pb.AnswerDone:
    request = pb.AnswerRequest(question=question, k=3, budget_tokens=60, max_tokens=2)
    events = list(stub.Answer(request, timeout=TIMEOUT))
    assert events[-1].WhichOneof("event") == "done"
    return events[-1].done


def test_an_answer_after_an_update_cites_the_new_chunk_with_the_new_idf(tmp_path, generator) -> None:
    Engine.build(DOCS, tmp_path / "b").close()
    served = Engine.open(tmp_path / "b")
    writer = Engine.open(tmp_path / "b")  # stands for `retrieval update` in another process
    with ServerThread(served, generator=generator, reload_interval_s=0.05) as server, server.channel() as channel:
        stub = server.stub(channel)
        assert _answer(stub, "How do I parse a JSON string?").sources  # the answerer for these settings exists now
        old_version = served.version
        old_idf = ContextCompressor.for_view(served.view(), generator.tokenizer).idf

        writer.upsert([QUOKKA])
        deadline = time.monotonic() + 20
        while served.version == old_version:
            assert time.monotonic() < deadline, "the server never switched versions"
            time.sleep(0.02)

        done = _answer(stub, "Where do quokkas live?")
        assert done.sources[0].chunk_id == "quokka#0"
        (answerer,) = [a for key, a in server.server.answers._answerers.items() if key[1:] == (3, 60, True)]
        version, compressor = answerer._compressor  # the compressor this answer used
        assert version == served.version
        with Engine.open(tmp_path / "b") as reopened:
            fresh_idf = ContextCompressor.for_engine(reopened, generator.tokenizer).idf
        assert not np.array_equal(old_idf, fresh_idf)  # the update changed the corpus statistics
        assert np.array_equal(compressor.idf, fresh_idf)
    writer.close()
    served.close()
