"""One contract, every embedder implementation the registry knows."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.embedding import EmbeddingInputError, TextEmbedder, create_embedder
from retrieval.embedding.registry import IMPLEMENTATIONS
from retrieval.errors import ConfigError

CASES = [
    pytest.param(("onnx", {"variant": "fp32", "intra_op_threads": 2}), id="onnx-fp32"),
    pytest.param(("onnx", {"variant": "int8", "intra_op_threads": 2}), id="onnx-int8"),
    pytest.param(("sentence-transformers", {}), id="sentence-transformers", marks=pytest.mark.slow),
]
TEXTS = ["short query", "a somewhat longer sentence about vector search and BM25", "", "word " * 300]


@pytest.fixture(scope="module", params=CASES)
def embedder(request) -> TextEmbedder:
    kind, options = request.param
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        return create_embedder(kind, **options)


def test_registry_lists_every_tested_implementation() -> None:
    assert {c.values[0][0] for c in CASES} == set(IMPLEMENTATIONS)
    with pytest.raises(ConfigError, match="embedder must be one of"):
        create_embedder("word2vec")
    with pytest.raises(ConfigError, match="bad option"):
        create_embedder("onnx", flavour="vanilla")


def test_contract(embedder: TextEmbedder) -> None:
    assert isinstance(embedder, TextEmbedder)
    assert (embedder.model_id, embedder.dim, embedder.max_tokens) == ("sentence-transformers/all-MiniLM-L6-v2", 384, 256)
    info = embedder.embed_with_info(TEXTS)
    assert info.vectors.shape == (4, 384) and info.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(info.vectors, axis=1), 1.0, atol=1e-5)
    assert info.truncated.tolist() == [False, False, False, True]
    assert info.tokens.tolist()[2:] == [2, 256]
    reversed_ = embedder.embed(TEXTS[::-1])[::-1]
    assert np.abs(reversed_ - info.vectors).max() < 0.05  # int8 depends a little on batch-mates
    described = embedder.describe()
    assert described["fingerprint"] == embedder.fingerprint and len(embedder.fingerprint) == 64
    assert {"model_id", "variant", "dim", "max_tokens", "weights_sha256", "implementation"} <= set(described)
    for bad in ([], "text", [1]):
        with pytest.raises(EmbeddingInputError):
            embedder.embed(bad)
