"""The ONNX embedder: shapes, order-independent batching, truncation, errors, threads, no torch.

The ONNX files come from the model cache (``$RETRIEVAL_CACHE`` or ``~/.cache/retrieval/models``):
exported on the first run (~5 s), reused afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from retrieval.embedding import Embedder, EmbeddingInputError, ensure_model
from retrieval.embedding.files import onnx_file_name, sha256_file, weights_dir
from retrieval.errors import ConfigError, QueryError

ROOT = Path(__file__).resolve().parents[2]

TEXTS = [
    "What is the capital of France?",
    "BM25 ranks documents by term frequency and inverse document frequency.",
    " ",
    "",
    "def add(a, b):\n    return a + b  # code",
    "Ünïcödé, Ελληνικά, русский, 日本語のテキスト, العربية 😀",
    "[PAD] [CLS] [SEP]",  # special tokens typed as text
    "word " * 400,  # > 256 tokens: truncated
    "The mitochondria is the powerhouse of the cell. " * 3,
    "a",
]


@pytest.fixture(scope="module")
def fp32() -> Embedder:
    return Embedder("fp32", intra_op_threads=2)


@pytest.fixture(scope="module")
def int8() -> Embedder:
    return Embedder("int8", intra_op_threads=2)


def test_shape_dtype_and_unit_norm(fp32: Embedder) -> None:
    vectors = fp32.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    assert vectors.flags.c_contiguous
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(vectors).all()


def test_batching_and_order_do_not_change_results(fp32: Embedder) -> None:
    together = fp32.embed(TEXTS)
    one_by_one = np.stack([fp32.embed([t])[0] for t in TEXTS])
    assert np.abs(together - one_by_one).max() < 1e-5  # measured: 7e-8
    perm = np.random.default_rng(3).permutation(len(TEXTS))
    shuffled = fp32.embed([TEXTS[i] for i in perm])
    assert np.abs(shuffled - together[perm]).max() < 1e-5
    for max_batch, max_tokens in [(1, 256), (3, 256), (64, 100_000)]:
        other = fp32.with_batching(max_batch, max_tokens).embed(TEXTS)
        assert np.abs(other - together).max() < 1e-5
    # Semantically: a text is nearest to itself, and related texts beat unrelated ones.
    a, b, c = fp32.embed(["a cat sits on the mat", "a kitten is sitting on a rug", "quarterly tax filing deadline"])
    assert a @ b > a @ c + 0.2


def test_truncation_is_reported_and_never_crashes(fp32: Embedder) -> None:
    info = fp32.embed_with_info(TEXTS)
    assert info.truncated.tolist() == [i == 7 for i in range(len(TEXTS))]
    assert info.truncated_indices == [7]
    assert info.tokens[7] == 256 and info.tokens.max() == 256
    assert info.tokens[3] == 2  # "" is [CLS] [SEP]
    assert np.array_equal(info.vectors, fp32.embed(TEXTS))
    tokens, truncated = fp32.token_counts(TEXTS)
    assert np.array_equal(tokens, info.tokens) and np.array_equal(truncated, info.truncated)
    # Everything past the limit is ignored: same vector as the text cut at 254 word tokens.
    assert np.abs(fp32.embed(["word " * 400])[0] - fp32.embed(["word " * 254])[0]).max() < 1e-5
    huge = fp32.embed_with_info(["lorem ipsum " * 20_000])
    assert huge.truncated.tolist() == [True]
    ids = fp32.tokenize(["hello world"])[0]
    assert ids[0] == 101 and ids[-1] == 102 and len(ids) == 4


@pytest.mark.parametrize(
    "bad, message",
    [
        ([], "empty"),
        ("a single string", "single string"),
        (["ok", 3], r"texts\[1\] must be a string"),
        (["ok", None], r"texts\[1\] must be a string"),
        ([b"bytes"], r"texts\[0\] must be a string"),
        (42, "sequence of strings"),
        (["fine", "lone surrogate \ud800"], r"texts\[1\] cannot be tokenized"),
    ],
)
def test_bad_inputs_raise_clear_errors(fp32: Embedder, bad, message: str) -> None:
    with pytest.raises(EmbeddingInputError, match=message) as caught:
        fp32.embed(bad)
    assert isinstance(caught.value, QueryError)  # mapped to INVALID_ARGUMENT by the service


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"variant": "fp16"}, "variant must be one of"),
        ({"max_batch": 0}, "max_batch"),
        ({"max_batch_tokens": 100}, "max_batch_tokens"),
        ({"intra_op_threads": 0}, "intra_op_threads"),
        ({"graph_optimization": "max"}, "graph_optimization"),
    ],
)
def test_bad_settings_raise_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Embedder(**kwargs)


def test_corrupt_cached_file_is_a_clear_error(tmp_path: Path) -> None:
    name = onnx_file_name(sha256_file(weights_dir() / "model.safetensors"), "fp32")
    (tmp_path / name).write_bytes(b"not an onnx file")
    with pytest.raises(ConfigError, match="delete it to re-export"):
        Embedder("fp32", cache_dir=tmp_path)


def test_describe_and_fingerprint(fp32: Embedder, int8: Embedder) -> None:
    d = fp32.describe()
    assert d["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert (d["variant"], d["dim"], d["max_tokens"], d["pooling"], d["normalized"]) == ("fp32", 384, 256, "mean", True)
    assert d["onnx_sha256"] == sha256_file(fp32.model.path) and len(d["weights_sha256"]) == 64
    assert d["fingerprint"] == fp32.fingerprint
    assert int8.fingerprint != fp32.fingerprint and int8.describe()["variant"] == "int8"
    again = Embedder("fp32", intra_op_threads=1, max_batch=4)  # settings that do not change vectors
    assert again.fingerprint == fp32.fingerprint
    assert fp32.with_batching(8)._session is fp32._session


def test_int8_is_close_to_fp32_and_deterministic(fp32: Embedder, int8: Embedder) -> None:
    a, b = int8.embed(TEXTS), int8.embed(TEXTS)
    assert np.array_equal(a, b)
    cos = (a * fp32.embed(TEXTS)).sum(axis=1)
    assert cos.min() > 0.95  # measured: 0.971 on these (short, odd) texts
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_concurrent_embed_from_threads(fp32: Embedder) -> None:
    texts = [f"{t} {k}" for k in range(6) for t in TEXTS[:6]]
    expected = fp32.embed(texts)
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            chunk = texts[k::4]
            for _ in range(2):
                results[k] = fp32.with_batching(2 + k).embed(chunk)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(4):
        assert np.abs(results[k] - expected[k::4]).max() < 1e-5


def test_query_path_never_imports_torch(fp32: Embedder) -> None:
    code = (
        "import sys\n"
        "from retrieval.embedding import Embedder, CachedEmbedder\n"
        "e = CachedEmbedder(Embedder('fp32', intra_op_threads=1))\n"
        "v = e.embed_query('does the query path need torch?')\n"
        "assert v.shape == (384,), v.shape\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'onnx') if m in sys.modules)\n"
        "print(','.join(heavy) or 'none')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # The model is already cached (the fixture made sure), so this must not export.
    assert fp32.model.path.is_file()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "none"


def test_ensure_model_reuses_the_cached_file(fp32: Embedder) -> None:
    before = fp32.model.path.stat().st_mtime_ns
    again = ensure_model("fp32")
    assert again.export_seconds is None and again.path == fp32.model.path and again.sha256 == fp32.model.sha256
    assert again.path.stat().st_mtime_ns == before
