"""Bring-your-own local models: sentence-transformers directories of other architectures,
poolings and dimensions exported to ONNX must give sentence-transformers' vectors, prompts applied
asymmetrically; an ONNX directory is used as it is; contextual sentence vectors equal a slow
per-sentence pooling of the same forward pass.

The models are small random-weight ones built at test time (``tests.support_models``): there are
no packaged weights for these architectures, and nothing may be downloaded.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from retrieval.embedding.model_dir import read_model_dir
from retrieval.embedding.onnx_embedder import OnnxEmbedder
from retrieval.errors import ConfigError
from tests.support_models import make_st_model

PROMPTS = {"query": "Represent this query: ", "document": "passage: "}
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Aspirin reduces the risk of heart attacks in some adults.",
    "short",
    "Proteins fold into shapes that decide what they do; misfolded ones aggregate. " * 3,
]
CASES = {
    "bert-cls-prompts": dict(arch="bert", pooling="cls", prompts=PROMPTS),
    "roberta-mean": dict(arch="roberta", pooling="mean"),
    # sentence-transformers 6's own config files (``pooling_mode``, no max_seq_length), not the older ones
    "xlmr-mean-48d": dict(arch="xlm-roberta", pooling="mean", hidden=48, legacy_configs=False),
    "bert-lasttoken-unnormalized": dict(arch="bert", pooling="lasttoken", normalize=False),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {name: make_st_model(root / name, **options) for name, options in CASES.items()}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


def _reference(path: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("name", list(CASES))
def test_onnx_export_matches_sentence_transformers(models: dict[str, Path], cache: Path, name: str) -> None:
    spec = read_model_dir(models[name])
    ours = OnnxEmbedder(spec=spec, cache_dir=cache)
    reference = _reference(models[name])
    prompts = reference.prompts or {}
    want_docs = reference.encode(TEXTS, prompt_name="document" if "document" in prompts else None, convert_to_numpy=True)
    want_queries = reference.encode(TEXTS, prompt_name="query" if "query" in prompts else None, convert_to_numpy=True)
    got_docs, got_queries = ours.embed(TEXTS), ours.embed_queries(TEXTS)
    assert got_docs.shape == (len(TEXTS), reference.get_embedding_dimension()) == (len(TEXTS), ours.dim)
    assert _cosines(got_docs, want_docs).min() >= 0.9999
    assert _cosines(got_queries, want_queries).min() >= 0.9999
    norms = np.linalg.norm(got_docs, axis=1)
    if CASES[name].get("normalize", True):
        np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    else:  # as the model's modules say: no Normalize, no normalisation
        np.testing.assert_allclose(norms, np.linalg.norm(want_docs, axis=1), rtol=1e-3)
        assert not np.allclose(norms, 1.0, atol=1e-3)
    if CASES[name].get("prompts"):  # asymmetric: a query is not embedded as a document
        assert _cosines(got_docs, got_queries).max() < 0.9999
        assert ours.describe()["prompts"] == PROMPTS
    else:
        np.testing.assert_array_equal(got_docs, got_queries)


def test_spec_reads_pooling_prompts_and_length(models: dict[str, Path]) -> None:
    spec = read_model_dir(models["bert-cls-prompts"])
    assert (spec.architecture, spec.pooling, spec.normalize) == ("bert", "cls", True)
    assert (spec.query_prompt, spec.document_prompt, spec.max_tokens) == (PROMPTS["query"], PROMPTS["document"], 64)
    assert read_model_dir(models["xlmr-mean-48d"]).dim == 48
    assert read_model_dir(models["bert-lasttoken-unnormalized"]).normalize is False


def test_export_is_cached_by_weights(models: dict[str, Path], cache: Path) -> None:
    from retrieval.embedding import ensure_model

    spec = read_model_dir(models["roberta-mean"])
    first = ensure_model("fp32", cache, spec)
    again = ensure_model("fp32", cache, spec)
    assert again.path == first.path and again.export_seconds is None  # reused, not exported again
    other = ensure_model("fp32", cache, read_model_dir(models["xlmr-mean-48d"]))
    assert other.path != first.path


def test_onnx_directory_is_used_as_it_is(models: dict[str, Path], cache: Path, tmp_path: Path) -> None:
    from retrieval.embedding import ensure_model

    spec = read_model_dir(models["bert-cls-prompts"])
    exported = ensure_model("fp32", cache, spec)
    onnx_dir = tmp_path / "onnx-model"
    onnx_dir.mkdir()
    shutil.copy(exported.path, onnx_dir / "model.onnx")
    shutil.copy(models["bert-cls-prompts"] / "tokenizer.json", onnx_dir / "tokenizer.json")
    (onnx_dir / "retrieval_embedder.json").write_text(json.dumps(
        {"pooling": "cls", "normalize": True, "max_seq_length": 64, "prompts": PROMPTS}))
    direct = OnnxEmbedder(spec=read_model_dir(onnx_dir), cache_dir=cache)
    exported_embedder = OnnxEmbedder(spec=spec, cache_dir=cache)
    assert direct.model.path == onnx_dir / "model.onnx"  # not copied into the cache
    np.testing.assert_allclose(direct.embed_queries(TEXTS), exported_embedder.embed_queries(TEXTS), atol=1e-6)
    assert direct.dim == exported_embedder.dim


@pytest.mark.parametrize("problem, message", [
    ("no-tokenizer", "no tokenizer.json"),
    ("gpt2", "'gpt2' model"),
    ("max-pooling", "pooling ['max'] is not supported"),
    ("bad-onnx-config", "unknown keys ['colour']"),
    ("not-a-dir", "is not a directory"),
])
def test_bad_model_directories_are_refused_in_one_line(models: dict[str, Path], tmp_path: Path, problem: str, message: str) -> None:
    target = tmp_path / problem
    if problem != "not-a-dir":
        shutil.copytree(models["roberta-mean"], target)
    if problem == "no-tokenizer":
        (target / "tokenizer.json").unlink()
    elif problem == "gpt2":
        config = json.loads((target / "config.json").read_text())
        (target / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    elif problem == "max-pooling":
        pooling = target / "1_Pooling" / "config.json"
        config = json.loads(pooling.read_text())
        pooling.write_text(json.dumps({**config, "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": True}))
    elif problem == "bad-onnx-config":
        (target / "retrieval_embedder.json").write_text(json.dumps({"pooling": "mean", "max_seq_length": 64, "colour": "red"}))
        shutil.copy(target / "model.safetensors", target / "model.onnx")
    with pytest.raises(ConfigError) as caught:
        read_model_dir(target)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def _slow_sentence_vectors(reference, text: str, spans: list[tuple[int, int]], prompt: str) -> tuple[np.ndarray, list[bool]]:
    """Each sentence's tokens (and the prompt's, before the text) found one by one from the
    tokenizer's offsets and averaged over sentence-transformers' own token embeddings of the whole
    text (the reference for ``embed_in_context``)."""
    tokens = reference.encode([prompt + text], output_value="token_embeddings", convert_to_numpy=False)[0].numpy()
    encoding = reference.tokenizer(prompt + text, return_offsets_mapping=True, return_special_tokens_mask=True,
                                   truncation=True, max_length=reference.max_seq_length)
    rows, whole = [], []
    real = [i for i, special in enumerate(encoding["special_tokens_mask"]) if not special]
    last_end = max(encoding["offset_mapping"][i][1] for i in real)
    prefix = [i for i in real if encoding["offset_mapping"][i][0] < len(prompt)]
    for start, end in spans:
        mine = [i for i in real if start + len(prompt) <= encoding["offset_mapping"][i][0] < end + len(prompt)]
        whole.append(bool(mine) and end + len(prompt) <= last_end)
        vector = tokens[mine + prefix].mean(axis=0) if mine else np.zeros(tokens.shape[1])
        rows.append(vector / max(np.linalg.norm(vector), 1e-12))
    return np.array(rows, dtype=np.float32), whole


@pytest.mark.parametrize("name", ["bert-cls-prompts", "roberta-mean"])
def test_contextual_sentence_vectors_match_a_slow_reference(models: dict[str, Path], cache: Path, name: str) -> None:
    from retrieval.text import split_sentences

    ours = OnnxEmbedder(spec=read_model_dir(models[name]), cache_dir=cache)
    reference = _reference(models[name])
    texts = [TEXTS[1] + " It was tested twice. Then again!", TEXTS[3] * 2 + " The end is cut off here, far past the window."]
    spans = [split_sentences(t) for t in texts]
    vectors, sentences, whole = ours.embed_in_context(texts, spans)
    np.testing.assert_allclose(vectors, ours.embed(texts), atol=1e-5)  # the same pass gives the chunk vectors
    at = 0
    prompt = ours.model.document_prompt
    for text, text_spans in zip(texts, spans):
        want, want_whole = _slow_sentence_vectors(reference, text, text_spans, prompt)
        got = sentences[at : at + len(text_spans)]
        assert whole[at : at + len(text_spans)].tolist() == want_whole
        ok = np.array(want_whole)
        assert _cosines(got[ok], want[ok]).min() >= 0.9999
        assert not got[~ok].any()  # cut off: left for a separate embedding
        at += len(text_spans)
    assert not whole.all() and whole.any()  # the long text's tail is past the 64-token window
