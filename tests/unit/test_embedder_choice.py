"""Choosing the embedder (``embedding.model`` / ``retrieval index --embedder``): a bundle built
with a local model records it in its manifest, queries get the model's query prompt, and opening
refuses a bundle whose embedder is not the one available, naming both."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval import Engine, IndexConfig
from retrieval.embedding.model_dir import read_model_dir
from retrieval.embedding.onnx_embedder import OnnxEmbedder
from retrieval.errors import BundleError, ConfigError
from retrieval.types import Document
from tests.support_models import make_st_model

PROMPTS = {"query": "query: ", "document": "passage: "}
DOCS = [
    Document(id=f"d{i}", title=title, text=text)
    for i, (title, text) in enumerate([
        ("Owls", "Owls hunt at night. They fly silently on soft feathers."),
        ("Aspirin", "Aspirin thins the blood. It lowers the risk of a second heart attack."),
        ("Rivers", "Rivers carry sediment to the sea. Deltas form where they slow down."),
        ("Compilers", "A compiler turns source code into machine code. Optimizers make it faster."),
    ])
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_st_model(tmp_path_factory.mktemp("m") / "tiny-bert", arch="bert", pooling="mean", prompts=PROMPTS)


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_st_model(tmp_path_factory.mktemp("m") / "tiny-bert", arch="bert", pooling="mean", prompts=PROMPTS, seed=1)


def _config(model: Path | str, **extra) -> IndexConfig:
    return IndexConfig.from_dict({"embedding": {"model": str(model)}, "vector": {"kind": "flat"},
                                  "chunker": {"max_tokens": 64}, **extra})


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Path:
    path = tmp_path_factory.mktemp("b") / "bundle"
    with Engine.build(DOCS, path, _config(model_dir)):
        pass
    return path


def test_the_manifest_records_the_model(built: Path, model_dir: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text())
    described = manifest["dense"]["embedder"]
    assert manifest["config"]["embedding"]["model"] == str(model_dir.resolve())
    assert described["kind"] == "local" and described["model_id"] == "tiny-bert" and described["dim"] == 32
    assert described["prompts"] == PROMPTS and described["pooling"] == "mean" and described["normalized"] is True
    assert described["weights_sha256"] and described["source"] == str(model_dir.resolve())
    assert manifest["sentences"]["vectors"] == "separate"  # the default


def test_queries_get_the_query_prompt(built: Path, model_dir: Path) -> None:
    embedder = OnnxEmbedder(spec=read_model_dir(model_dir))
    with Engine.open(built) as engine:
        hits = engine.search("night birds", k=4, mode="dense").hits
        vectors = np.load(built / engine.manifest.base / "vectors.npy") if engine.manifest.base else np.load(built / "vectors.npy")
        query = embedder.embed_queries(["night birds"])[0]
        want = np.argsort(-(vectors @ query), kind="stable")[:4]
        assert [h.chunk for h in hits] == want.tolist()
        assert np.allclose([h.score for h in hits], np.sort(vectors @ query)[::-1][:4], atol=1e-5)
        # A document-prompted query vector ranks by other scores: the prompt was really applied.
        assert not np.allclose(embedder.embed(["night birds"])[0], query)


def test_opening_with_another_embedder_is_refused_naming_both(built: Path, other_model_dir: Path) -> None:
    other = OnnxEmbedder(spec=read_model_dir(other_model_dir))
    with pytest.raises(BundleError) as caught:
        Engine.open(built, embedder=other)
    message = str(caught.value)
    assert "built with the embedder 'tiny-bert'" in message and "the one here is 'tiny-bert'" in message
    assert "weights_sha256" in message and "\n" not in message
    minilm = OnnxEmbedder()
    with pytest.raises(BundleError, match="all-MiniLM-L6-v2"):
        Engine.open(built, embedder=minilm)


def test_a_model_directory_replaced_under_the_bundle_is_refused(tmp_path: Path, model_dir: Path, other_model_dir: Path) -> None:
    moved = tmp_path / "model"
    shutil.copytree(model_dir, moved)
    with Engine.build(DOCS, tmp_path / "bundle", _config(moved)):
        pass
    shutil.rmtree(moved)
    with pytest.raises(BundleError, match="cannot be loaded here: embedding model .* is not a directory"):
        Engine.open(tmp_path / "bundle")
    shutil.copytree(other_model_dir, moved)  # other weights at the same path
    with pytest.raises(BundleError, match="weights_sha256: bundle"):
        Engine.open(tmp_path / "bundle")


def test_contextual_sentence_vectors_with_a_prompted_model(tmp_path: Path, model_dir: Path) -> None:
    from retrieval.context.chunk_vectors import embed_window

    with Engine.build(DOCS, tmp_path / "b", _config(model_dir, sentence_vectors="contextual")) as engine:
        assert engine.manifest.sentences.vectors == "contextual"
        chunks = engine.store.get(range(engine.counts["chunks"]))
        embedder = engine.planner.dense.embedder.embedder
        want = embed_window(embedder, chunks, True, True, "contextual")
        got = np.asarray(engine.sentences.vectors, dtype=np.float32)
        assert np.abs(got - np.concatenate([v for _, v in want.sentences]).astype(np.float32)).max() == 0
        separate = embed_window(embedder, chunks, True, True, "separate")
        assert not np.allclose(got, np.concatenate([v for _, v in separate.sentences]).astype(np.float32), atol=1e-2)


def test_prompts_from_the_config_override_the_model(tmp_path: Path, model_dir: Path) -> None:
    config = _config(model_dir, embedding={"model": str(model_dir), "query_prompt": "search: "})
    with Engine.build(DOCS, tmp_path / "b", config) as engine:
        described = engine.manifest.dense.embedder
        assert described["prompts"] == {"query": "search: ", "document": "passage: "}


def test_cli_index_embedder(tmp_path: Path, model_dir: Path) -> None:
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"id": d.id, "title": d.title, "text": d.text}) + "\n" for d in DOCS))
    cli = [sys.executable, "-m", "retrieval.cli"]
    ok = subprocess.run([*cli, "index", str(corpus), "--out", str(tmp_path / "b"), "--embedder", str(model_dir),
                         "--set", "chunker.max_tokens=64", "--json"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["dense"]["embedder"]["model_id"] == "tiny-bert"
    for bad, message in [(str(tmp_path / "missing"), "is not a directory"), ("openai:m@ftp://x", "openai:MODEL@URL")]:
        failed = subprocess.run([*cli, "index", str(corpus), "--out", str(tmp_path / "c"), "--embedder", bad],
                                capture_output=True, text=True)
        assert failed.returncode != 0 and message in failed.stderr and not (tmp_path / "c").exists()
        assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
    with pytest.raises(ConfigError, match="embedding.model"):
        IndexConfig.from_dict({"embedding": {"model": " "}})
