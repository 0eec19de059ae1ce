"""The HTTP gateway's JSON: the fast search-response writer against json_format (the reference)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from retrieval.errors import QueryError
from retrieval.service.json_messages import parse_message, reference_dict, to_dict, to_json
from retrieval.service.protos import retrieval_pb2 as pb

SPECIAL = [0.0, -0.0, 1.0, 0.1, 1e-30, 3.4e38, math.inf, -math.inf, math.nan, 0.20047542, 1 / 3]


def _random_response(rng: np.random.Generator, n_hits: int) -> pb.SearchResponse:
    def text() -> str:
        alphabet = "abc xyz\u00e9\u4e2d\U0001f600\"\\\n\t<>&"
        return "".join(rng.choice(list(alphabet), size=int(rng.integers(0, 40))))

    scores = [float(rng.choice(SPECIAL)) if rng.random() < 0.3 else float(rng.normal()) * 10 for _ in range(n_hits)]
    return pb.SearchResponse(
        hits=[pb.Hit(chunk_id=text(), document_id=text(), score=s, text=text(), title=text()) for s in scores],
        timings_ms={text() or "stage": float(rng.choice(SPECIAL)) if rng.random() < 0.3 else float(rng.exponential())
                    for _ in range(int(rng.integers(0, 6)))},  # fmt: skip
        cached=bool(rng.random() < 0.5),
    )


def _same(a, b) -> bool:
    """Equal, NaN equal to NaN (json_format writes it as the string "NaN" anyway)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@pytest.mark.parametrize("seed", range(40))
def test_the_fast_search_response_equals_json_format(seed: int) -> None:
    rng = np.random.default_rng(seed)
    response = _random_response(rng, int(rng.integers(0, 12)))
    assert _same(to_dict(response), reference_dict(response))
    batch = pb.SearchBatchResponse(responses=[response, _random_response(rng, 3), pb.SearchResponse()])
    assert _same(to_dict(batch), reference_dict(batch))


def test_scores_are_written_as_json_format_writes_float32() -> None:
    from google.protobuf.internal.type_checkers import ToShortestFloat

    from retrieval.service.json_messages import _float32

    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    values = np.concatenate([bits[np.isfinite(bits)], rng.normal(size=20_000).astype(np.float32)])
    assert all(_float32(float(v)) == ToShortestFloat(float(v)) for v in values)


def test_other_messages_use_json_format() -> None:
    event = pb.AnswerEvent(done=pb.AnswerDone(ttft_ms=1.5, sources=[pb.Source(number=1, chunk_id="a#0")]))
    assert json.loads(to_json(event)) == reference_dict(event)
    assert json.loads(to_json(event))["done"]["sources"][0]["chunk_id"] == "a#0"


def test_parsing_reads_the_proto_names_and_refuses_the_rest() -> None:
    request = parse_message(b'{"query": "q", "k": 3, "params": {"dense_weight": 0.5}}', pb.SearchRequest)
    assert request.k == 3 and request.params.HasField("dense_weight")
    for body, needle in [(b'{"query": "q", "extra": 1}', "extra"), (b'{"k": -1}', "k"), (b"[]", "JSON object"), (b"{nope", "not JSON"),
                         (b"", "empty"), (b"\xff", "UTF-8")]:  # fmt: skip
        with pytest.raises(QueryError, match=needle):
            parse_message(body, pb.SearchRequest)
