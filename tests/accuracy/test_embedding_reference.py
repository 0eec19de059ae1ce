"""The ONNX embedder against the slow reference (sentence-transformers, same packaged weights).

Texts: 225 varied, seeded, built from what every Python install has (the standard library's
documentation topics and source) plus hand-written unicode, code and whitespace-only strings;
34 of them are longer than the model's 256 tokens and get truncated.
"""

from __future__ import annotations

import inspect
import json
import random

import numpy as np
import pytest

from retrieval.embedding import Embedder, SentenceTransformerEmbedder

UNICODE = [
    "Ünïcödé façade naïve coöperate",
    "Ελληνικά: η γρήγορη καφέ αλεπού",
    "Русский текст о поиске документов",
    "日本語のテキスト検索エンジン",
    "中文信息检索系统",
    "한국어 문서 검색",
    "العربية نص البحث",
    "עברית חיפוש מסמכים",
    "हिन्दी दस्तावेज़ खोज",
    "emoji 😀🔥🚀 retrieval 🤖",
    "combining a\u0301e\u0301 and ligature ﬁ ﬂ",
    "zero\u200bwidth\u200djoiner",
    "math ∑ᵢ xᵢ² ≤ ∞, ∂f/∂x, √2",
    "mixed English и русский and 日本語",
    "ℌ𝔢𝔩𝔩𝔬 𝕎𝕠𝕣𝕝𝕕 (mathematical letters)",
]
EMPTYISH = ["", " ", "  \n\t ", ".", "!!!", "a", "?", "[PAD]", "[CLS] [SEP]", "[UNK]", "\u00a0", "-- --"]
CODE = [
    "def add(a, b):\n    return a + b",
    "SELECT id, title FROM docs WHERE score > 0.5 ORDER BY score DESC;",
    "for (int i = 0; i < n; ++i) { sum += x[i] * y[i]; }",
    "{\"_id\": \"42\", \"title\": \"x\", \"text\": \"y\"}",
    "$ pip install 'retrieval[models]' && retrieval index corpus.jsonl --out idx",
    "<html><body><p class=\"a\">Hello</p></body></html>",
    "x = np.linalg.norm(v, axis=1, keepdims=True)  # L2",
    "#include <vector>\nstd::vector<float> v(384);",
]


def varied_texts(n_prose: int = 160, seed: int = 20240601) -> list[str]:
    from pydoc_data.topics import topics

    rng = random.Random(seed)
    docs = [topics[k] for k in sorted(topics)]
    texts: list[str] = []
    for _ in range(n_prose):
        doc = rng.choice(docs)
        kind = rng.random()
        if kind < 0.3:  # a short query-like fragment
            words = doc.split()
            start = rng.randrange(max(1, len(words) - 12))
            texts.append(" ".join(words[start : start + rng.randint(1, 12)]))
        elif kind < 0.75:  # a passage of a few hundred characters
            start = rng.randrange(max(1, len(doc) - 900))
            texts.append(doc[start : start + rng.randint(100, 900)])
        else:  # long: truncated at 256 tokens
            texts.append(doc[: rng.randint(2000, 6000)])
    sources = [json.JSONDecoder.decode, random.Random.shuffle, inspect.getsource]
    texts += [inspect.getsource(fn)[:1500] for fn in sources]
    return texts + UNICODE + EMPTYISH + CODE + [f"{u} {c}" for u, c in zip(UNICODE, CODE * 2)] + [e + u for e, u in zip(EMPTYISH, UNICODE)]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    items = varied_texts()
    assert len(items) >= 200
    return items


@pytest.fixture(scope="module")
def reference(texts: list[str]) -> np.ndarray:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        st = SentenceTransformerEmbedder(batch_size=32)
        return st.embed(texts)


@pytest.mark.slow
def test_fp32_matches_sentence_transformers_on_every_text(texts: list[str], reference: np.ndarray) -> None:
    ours = Embedder("fp32")
    info = ours.embed_with_info(texts)
    assert 30 <= int(info.truncated.sum()) <= 80  # long texts really are in the set
    cos = (info.vectors.astype(np.float64) * reference).sum(axis=1)
    worst = int(np.argmin(cos))
    assert cos.min() >= 0.9999, (worst, texts[worst][:80], cos.min())  # measured: min 0.99999966
    assert np.abs(info.vectors - reference).max() < 1e-5  # measured: 2.2e-7


@pytest.mark.slow
def test_int8_stays_close_to_sentence_transformers(texts: list[str], reference: np.ndarray) -> None:
    cos = (Embedder("int8").embed(texts).astype(np.float64) * reference).sum(axis=1)
    assert cos.mean() >= 0.99  # measured: mean 0.9913
    assert cos.min() >= 0.95  # measured: min 0.966
