"""Metadata filters: every mode with a filter equals filtering the full exact ranking."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from retrieval import Engine
from retrieval.bundle.manifest import seal
from retrieval.cli import main
from retrieval.errors import QueryError
from retrieval.keyword import BM25
from retrieval.search import exact_topk, fuse
from retrieval.search.filters import normalize_filters, parse_filter_arg, value_text
from retrieval.search.modes import mode_names
from retrieval.search.planner import keyword_topk_allowed
from retrieval.search.routing import stays_with_bm25
from retrieval.bundle.manifest import dump
from tests.conftest import write_jsonl

WORDS = ["json", "parsing", "files", "sockets", "threads", "regular", "expressions", "dates", "sorting", "lists",
         "random", "numbers", "http", "requests", "logging", "paths", "python", "module", "reads", "writes"]
LANGS = ["en", "de", "fr"]


def _rows(n: int = 48) -> list[dict]:
    rng = np.random.default_rng(7)
    rows = []
    for i in range(n):
        words = " ".join(rng.choice(WORDS, size=12))
        row = {"_id": f"d{i}", "title": f"Doc {i}", "text": f"Document {i} is about {words}. It also mentions {words}.",
               "lang": LANGS[i % 3], "year": 2018 + i % 4, "draft": i % 2 == 0}
        if i % 5 == 0:
            row["score"] = 1.5  # a float: compared as its JSON text "1.5"
        rows.append(row)
    return rows


ROWS = _rows()
QUERIES = ["parsing json files", "http requests logging", "sorting random numbers", "python module reads paths"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    root = tmp_path_factory.mktemp("filters")
    Engine.build(write_jsonl(root / "corpus.jsonl", ROWS), root / "bundle")
    return Engine.open(root / "bundle")


def _allowed_reference(engine: Engine, filters: dict) -> np.ndarray:
    """Chunks whose document's metadata matches, computed from the corpus rows directly."""
    spec = {k: {value_text(v) for v in (vs if isinstance(vs, list) else [vs])} for k, vs in filters.items()}
    docs = {r["_id"] for r in ROWS if all(k in r and value_text(r[k]) in vs for k, vs in spec.items())}
    doc_ids = engine.store.all_doc_ids().to_pylist()
    return np.array([i for i, d in enumerate(doc_ids) if d in docs], dtype=np.int64)


def _keep(ids: np.ndarray, scores: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mask = np.isin(ids, allowed)
    return ids[mask], scores[mask]


def _reference(engine: Engine, query: str, k: int, mode: str, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The slow way: rank everything exactly, then drop the chunks the filter excludes."""
    n = len(engine.store)
    terms = engine.bm25.query_ids(query)
    keyword = _keep(*engine.bm25.index.topk(terms, n), allowed)
    if mode == "auto":  # the rule on the filtered ranking, then the mode it chooses
        mode = "bm25" if stays_with_bm25(keyword[1], engine.planner.config.routing) else "hybrid"
    if mode == "bm25":
        return keyword[0][:k], keyword[1][:k]
    side = engine.planner.dense
    vector = side.embedder.embed_query(query)
    dense = _keep(*exact_topk(side.vectors, np.arange(n), vector, n), allowed)
    if mode == "dense":
        return dense[0][:k], dense[1][:k]
    if mode == "hybrid":
        fusion = engine.planner.config.fusion
        m = max(k, fusion.candidates)
        return fuse((keyword[0][:m], keyword[1][:m]), (dense[0][:m], dense[1][:m]), k, fusion)
    candidates = keyword[0][: max(k, engine.planner.config.prefilter.candidates)]
    return exact_topk(side.vectors, candidates, vector, k)


FILTERS = [
    {"lang": "en"},
    {"lang": ["en", "fr"]},
    {"lang": ["de"], "year": [2019, 2021]},
    {"draft": True, "year": "2020"},
    {"score": 1.5},
]


@pytest.mark.parametrize("mode", mode_names())
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: json.dumps(f))
def test_every_mode_with_a_filter_equals_the_filtered_full_ranking(engine: Engine, mode: str, filters: dict) -> None:
    allowed = _allowed_reference(engine, filters)
    assert 0 < allowed.size < len(engine.store)
    assert engine.allowed_chunks(filters).tolist() == allowed.tolist()
    for query in QUERIES:
        for k in (1, 5, 40):
            ids, scores, stages = engine.retrieve(query, k, mode, filters=filters)
            want_ids, want_scores = _reference(engine, query, k, mode, allowed)
            assert ids.tolist() == want_ids.tolist(), (query, k)
            np.testing.assert_allclose(scores, want_scores, rtol=1e-6, atol=1e-6)
            assert "filter" in stages
    hits = engine.search(QUERIES[0], 5, mode, filters=filters).hits
    docs = {r["_id"]: r for r in ROWS}
    assert hits and all(
        value_text(docs[h.doc_id][key]) in {value_text(v) for v in (vs if isinstance(vs, list) else [vs])}
        for h in hits
        for key, vs in filters.items()
    )


def test_dense_through_the_index_selector_equals_exact(engine: Engine) -> None:
    # exact_max=0 sends the restricted search through FAISS with an id selector.
    filters = {"lang": ["en", "de"]}
    allowed = _allowed_reference(engine, filters)
    for query in QUERIES:
        ids, scores, _ = engine.retrieve(query, 10, "dense", {"exact_max": 0}, filters=filters)
        want_ids, want_scores = _reference(engine, query, 10, "dense", allowed)
        assert ids.tolist() == want_ids.tolist()
        np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-5)


def test_and_over_keys_in_over_values(engine: Engine) -> None:
    en = set(engine.allowed_chunks({"lang": "en"}).tolist())
    de = set(engine.allowed_chunks({"lang": "de"}).tolist())
    y19 = set(engine.allowed_chunks({"year": 2019}).tolist())
    assert set(engine.allowed_chunks({"lang": ["en", "de"]}).tolist()) == en | de
    assert set(engine.allowed_chunks({"lang": "en", "year": "2019"}).tolist()) == en & y19
    # Pairs, repeated keys AND together; value order and duplicates do not matter.
    assert set(engine.allowed_chunks([("lang", ["en", "de"]), ("lang", ["de"])]).tolist()) == de
    assert normalize_filters({"b": ["2", "1", "1"], "a": "x"}) == (("a", ("x",)), ("b", ("1", "2")))


def test_values_compare_as_json_text() -> None:
    assert [value_text(v) for v in ("x", 3, 2.5, True, False)] == ["x", "3", "2.5", "true", "false"]
    assert normalize_filters({"draft": True, "year": 2020}) == (("draft", ("true",)), ("year", ("2020",)))


@pytest.mark.parametrize("mode", mode_names())
@pytest.mark.parametrize("filters", [{"nokey": "x"}, {"lang": "xx"}, {"lang": "en", "year": "1999"}, {"draft": 1}])
def test_unknown_key_or_no_match_gives_no_hits_not_an_error(engine: Engine, mode: str, filters: dict) -> None:
    result = engine.search("parsing json", 5, mode, filters=filters)
    assert result.hits == ()
    assert engine.search_documents("parsing json", 5, mode, filters=filters)[0] == []


@pytest.mark.parametrize("filters", [{"": "x"}, {"lang": []}, {"lang": [None]}, [("lang",)]])
def test_malformed_filters_are_query_errors(engine: Engine, filters) -> None:
    with pytest.raises(QueryError):
        engine.search("json", 3, filters=filters)


def test_search_documents_and_batch_honour_filters(engine: Engine) -> None:
    docs = {r["_id"]: r for r in ROWS}
    ranked, _ = engine.search_documents("parsing json files", 10, "hybrid", filters={"year": 2020})
    assert ranked and all(docs[d]["year"] == 2020 for d, _ in ranked)
    batch = engine.search_batch(QUERIES, 5, "bm25", filters={"lang": "fr"})
    for query, result in zip(QUERIES, batch):
        assert result.hits == engine.search(query, 5, "bm25", filters={"lang": "fr"}).hits


def test_manifest_records_metadata_and_old_bundles_say_rebuild(engine: Engine, tmp_path: Path) -> None:
    section = dump(engine.manifest.metadata)
    assert section["file"] == "metadata.parquet" and section["keys"]["lang"] == len(ROWS)
    assert section["keys"]["score"] == len([r for r in ROWS if "score" in r])
    old = tmp_path / "old"
    shutil.copytree(engine.path, old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["metadata"]
    del manifest["files"]["metadata.parquet"]
    (old / "metadata.parquet").unlink()
    (old / "manifest.json").write_text(json.dumps(seal(manifest)))
    before = Engine.open(old)
    assert before.search("json", 3).hits  # opens and searches as before
    with pytest.raises(QueryError, match="built without document metadata .*rebuild"):
        before.search("json", 3, filters={"lang": "en"})


def test_keyword_topk_allowed_is_exact_on_every_path() -> None:
    rng = np.random.default_rng(3)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 15)))) for _ in range(1200)]
    bm25 = BM25.from_texts(texts)
    n = bm25.n_docs
    for query in ["json parsing", "http", "random numbers logging", "unknownword"]:
        terms = bm25.query_ids(query)
        full_ids, full_scores = bm25.index.topk(terms, n)
        # Selectivities from 0.1% to all: the growing top-k loop, its exhaustion, and direct scoring.
        for size in (1, 12, 60, 300, 700, n):
            allowed = np.sort(rng.choice(n, size=size, replace=False)).astype(np.int64)
            for k in (1, 10, 100):
                ids, scores = keyword_topk_allowed(bm25.index, terms, k, allowed)
                want_ids, want_scores = _keep(full_ids, full_scores, allowed)
                assert ids.tolist() == want_ids[:k].tolist(), (query, size, k)
                assert scores.tolist() == want_scores[:k].tolist()


def test_filter_lru_returns_the_same_array(engine: Engine) -> None:
    first = engine.allowed_chunks({"lang": ["fr", "en"]})
    assert engine.allowed_chunks({"lang": ["en", "fr"]}) is first
    assert not first.flags.writeable


# -- CLI ------------------------------------------------------------------------------------------


def test_parse_filter_arg() -> None:
    assert parse_filter_arg("lang=en") == ("lang", ("en",))
    assert parse_filter_arg("lang=en,de") == ("lang", ("en", "de"))
    assert parse_filter_arg("k=a=b") == ("k", ("a=b",))
    for bad in ("lang", "=en", "lang=", "lang=en,", "lang=,de"):
        with pytest.raises(QueryError):
            parse_filter_arg(bad)


def test_cli_search_and_eval_filter(engine: Engine, tmp_path: Path, capsys) -> None:
    assert main(["search", str(engine.path), "parsing json", "-k", "5", "--mode", "hybrid",
                 "--filter", "lang=en,de", "--filter", "year=2019", "--json"]) == 0  # fmt: skip
    hits = json.loads(capsys.readouterr().out)["hits"]
    docs = {r["_id"]: r for r in ROWS}
    assert hits and all(docs[h["doc_id"]]["lang"] in ("en", "de") and docs[h["doc_id"]]["year"] == 2019 for h in hits)
    queries = write_jsonl(tmp_path / "q.jsonl", [{"_id": "q1", "text": "parsing json files"}])
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td0\t1\n")
    assert main(["eval", str(engine.path), "--queries", str(queries), "--qrels", str(qrels), "--json",
                 "--filter", "lang=xx"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["ndcg@10"] == 0.0


@pytest.mark.parametrize("arg", ["lang", "lang=", "=en", "lang=en,"])
def test_cli_bad_filter_is_one_line(engine: Engine, arg: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["search", str(engine.path), "json", "--filter", arg])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--filter" in err and "KEY=V" in err
