"""The bundle's sentence index: built with a dense bundle, recorded, checksummed, memory-mapped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from retrieval import Engine, IndexConfig
from retrieval.context import SentenceIndex
from retrieval.context.sentence_index import TITLE_WORDS
from retrieval.errors import BundleError
from retrieval.text import split_sentences
from retrieval.bundle.manifest import dump

from .conftest import DOCS


def test_round_trip_spans_and_vectors_match_the_chunks(dense_engine: Engine):
    index = dense_engine.sentences
    assert isinstance(index, SentenceIndex)
    assert dense_engine.manifest.sentences.vectors == "separate"  # the default
    n_chunks = dense_engine.counts["chunks"]
    assert index.offsets.dtype == np.int64 and index.offsets.shape == (n_chunks + 1,)
    assert index.spans.dtype == np.int32 and index.vectors.dtype == np.float16
    assert isinstance(index.vectors, np.memmap) and isinstance(index.spans, np.memmap)
    chunks = dense_engine.store.get(np.arange(n_chunks))
    texts = []
    for c, chunk in enumerate(chunks):
        rows = range(int(index.offsets[c]), int(index.offsets[c + 1]))
        assert [tuple(index.spans[r]) for r in rows] == split_sentences(chunk.text)
        prefix = " ".join(chunk.title.split()[:TITLE_WORDS])
        texts.extend(f"{prefix}\n{chunk.text[s:e]}" for s, e in split_sentences(chunk.text))
    assert len(texts) == len(index) > len(DOCS)
    want = dense_engine.planner.dense.embedder.embed(texts)
    got = np.asarray(index.vectors, dtype=np.float32)
    assert np.abs(got - want).max() < 2e-3  # fp16 rounding only
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=2e-3)


def test_rows_of_chunks_in_the_given_order(dense_engine: Engine):
    index = dense_engine.sentences
    rows, owner = index.rows([3, 0, 3])
    want = [r for c in (3, 0, 3) for r in range(int(index.offsets[c]), int(index.offsets[c + 1]))]
    assert rows.tolist() == want
    assert owner.tolist() == [p for p, c in enumerate((3, 0, 3)) for _ in range(int(index.offsets[c + 1] - index.offsets[c]))]
    with pytest.raises(BundleError, match="out of range"):
        index.rows([index.n_chunks])


def test_manifest_records_the_section_and_checksums_every_file(dense_engine: Engine):
    manifest = json.loads((dense_engine.path / "manifest.json").read_text())
    section = manifest["sentences"]
    assert section["count"] == len(dense_engine.sentences) and section["dim"] == 384
    assert section["chunks"] == dense_engine.counts["chunks"] and section["embedded_with_title"] is True
    assert {"sentences/offsets.npy", "sentences/spans.npy", "sentences/vectors.npy"} <= set(manifest["files"])
    assert manifest["config"]["sentences"] is True
    assert "sentences_s" in manifest["build_stages_s"]


def test_a_corrupt_sentence_file_is_refused(dense_engine: Engine, tmp_path: Path):
    copy = tmp_path / "bundle"
    shutil.copytree(dense_engine.path, copy)
    vectors = copy / "sentences" / "vectors.npy"
    data = bytearray(vectors.read_bytes())
    data[-1] ^= 0xFF
    vectors.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sentences/vectors.npy fails its sha256"):
        Engine.open(copy)


def test_a_sentence_index_of_another_shape_or_format_is_refused(dense_engine: Engine):
    section = dump(dense_engine.manifest.sentences)
    n_chunks = dense_engine.counts["chunks"]
    with pytest.raises(BundleError, match="does not match the manifest"):
        SentenceIndex.open(dense_engine.path, {**section, "count": section["count"] + 1}, n_chunks)
    with pytest.raises(BundleError, match="does not match the manifest"):
        SentenceIndex.open(dense_engine.path, section, n_chunks + 1)
    with pytest.raises(BundleError, match="format"):
        SentenceIndex.open(dense_engine.path, {**section, "format": 1}, n_chunks)


def test_flag_off_and_keyword_only_bundles_have_no_sentence_index(keyword_engine: Engine, tmp_path: Path):
    assert keyword_engine.sentences is None and keyword_engine.manifest.sentences is None
    assert not (keyword_engine.path / "sentences").exists()
    off = Engine.build(DOCS[:2], tmp_path / "off", IndexConfig.from_dict({"sentences": False}))
    assert off.sentences is None and off.manifest.dense and not (tmp_path / "off" / "sentences").exists()
