"""Bad input to `eval`, `search` and every `bench` command but `load`: one line
`retrieval: error: ...`, exit 2, nothing on stdout, and no model loaded or benchmark run first.

The commands run in-process through ``retrieval.cli.main`` (a subprocess each would cost seconds
of imports); an exception escaping ``main`` or exit code 1 ("internal error") fails the test just
as a traceback would on the command line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval import Engine, IndexConfig
from retrieval.cli import main
from tests.conftest import SMALL_CORPUS, write_jsonl


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    monkeypatch.delenv("RETRIEVAL_DEBUG", raising=False)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        rc = main([str(a) for a in args])
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def bad(capsys, fragment: str, *args: str) -> str:
    rc, out, err = cli(capsys, *args)
    assert rc == 2, (rc, err)
    assert out == ""
    assert err.startswith("retrieval") and ": error: " in err and err.endswith("\n"), err
    assert "\n" not in err.rstrip("\n") and "Traceback" not in err, err
    assert fragment in err, err
    return err


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad-input")
    corpus = write_jsonl(root / "corpus.jsonl", SMALL_CORPUS)
    Engine.build(corpus, root / "bundle", IndexConfig.from_dict({"dense": False})).close()
    return root / "bundle"


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    """Good, empty, malformed and wrong-shaped input files."""
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "bad.jsonl").write_text('{"_id": "q1", "text": "json"}\n{"_id": "q2", "text": \n')
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tjson\t1\n")
    (tmp_path / "empty.tsv").write_text("query-id\tcorpus-id\tscore\n")
    (tmp_path / "bad.tsv").write_text("q1\tjson\n")
    (tmp_path / "foreign.tsv").write_text("x1\tdoc-a\t1\nx2\tdoc-b\t1\n")
    return {
        "corpus": write_jsonl(tmp_path / "corpus.jsonl", SMALL_CORPUS),
        "queries": write_jsonl(tmp_path / "q.jsonl", [{"_id": "q1", "text": "json"}, {"_id": "q2", "text": "regex"}]),
        "shapeless": write_jsonl(tmp_path / "shapeless.jsonl", [{"_id": "q1", "body": "json"}]),
        "empty": tmp_path / "empty.jsonl",
        "bad": tmp_path / "bad.jsonl",
        "missing": tmp_path / "missing.jsonl",
        "qrels": tmp_path / "qrels.tsv",
        "empty_qrels": tmp_path / "empty.tsv",
        "bad_qrels": tmp_path / "bad.tsv",
        "foreign_qrels": tmp_path / "foreign.tsv",
        "stopwords": write_jsonl(tmp_path / "stop.jsonl", [{"_id": "a", "text": "the of and"}, {"_id": "b", "text": "a"}]),
    }


# -- eval ------------------------------------------------------------------------------------


def test_eval_refuses_qrels_that_match_nothing(capsys, bundle, files):
    q = files["queries"]
    bad(capsys, "no relevance judgements", "eval", bundle, "--queries", q, "--qrels", files["empty_qrels"])
    err = bad(capsys, "none of the 2 judgements", "eval", bundle, "--queries", q, "--qrels", files["foreign_qrels"])
    assert "0 name a known query, 0 a known document" in err
    bad(capsys, "no queries", "eval", bundle, "--queries", files["empty"], "--qrels", files["qrels"])
    bad(capsys, "bad.tsv:1", "eval", bundle, "--queries", q, "--qrels", files["bad_qrels"])
    bad(capsys, "bad.jsonl:2", "eval", bundle, "--queries", files["bad"], "--qrels", files["qrels"])
    bad(capsys, "'text'", "eval", bundle, "--queries", files["shapeless"], "--qrels", files["qrels"])
    bad(capsys, "missing.jsonl", "eval", bundle, "--queries", files["missing"], "--qrels", files["qrels"])


def test_eval_warns_in_one_line_when_only_some_judgements_match(capsys, bundle, files, tmp_path):
    qrels = tmp_path / "partial.tsv"
    qrels.write_text("q1\tjson\t1\nq1\tgone\t1\nq9\tre\t1\n")
    rc, out, err = cli(capsys, "eval", bundle, "--queries", files["queries"], "--qrels", qrels, "--json")
    assert rc == 0, err
    assert json.loads(out)["queries"] == 1
    assert err.count("\n") == 1 and err.startswith("retrieval: warning: "), err
    assert "only 1 of 3 judgements" in err and "1 name a query not in" in err and "1 a document not in the bundle" in err


def test_eval_k_has_the_bounds_of_search(capsys, bundle, files):
    judged = ("--queries", files["queries"], "--qrels", files["qrels"])
    for command in (("eval", bundle, *judged), ("search", bundle, "json")):
        bad(capsys, "positive integer <= 10000", *command, "-k", "10001")
        bad(capsys, "positive integer", *command, "-k", "0")
    rc, _, err = cli(capsys, "eval", bundle, *judged, "-k", "10000")
    assert rc == 0, err


# -- bench bm25 ------------------------------------------------------------------------------


def test_bench_bm25_bad_inputs(capsys, files):
    corpus, queries = files["corpus"], files["queries"]
    bad(capsys, "no queries", "bench", "bm25", corpus, "--queries", files["empty"])
    bad(capsys, "has no documents", "bench", "bm25", files["empty"], "--queries", queries)
    bad(capsys, "no terms", "bench", "bm25", files["stopwords"], "--queries", queries)
    bad(capsys, "corpus not found", "bench", "bm25", files["missing"], "--queries", queries)
    bad(capsys, "missing.jsonl", "bench", "bm25", corpus, "--queries", files["missing"])
    bad(capsys, "bad.jsonl:2", "bench", "bm25", files["bad"], "--queries", queries)
    bad(capsys, "bad.jsonl:2", "bench", "bm25", corpus, "--queries", files["bad"])
    bad(capsys, "'text'", "bench", "bm25", corpus, "--queries", files["shapeless"])
    bad(capsys, "positive integer", "bench", "bm25", corpus, "--queries", queries, "--repeats", "0")


# -- bench compress --------------------------------------------------------------------------


SQUAD = {"data": [{"title": "T", "paragraphs": [{"context": "Paris is in France.",
                                                  "qas": [{"question": "Where is Paris?", "answers": [{"text": "France"}]}]}]}]}


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("", "not a readable JSON file"),
        ("{\"data\": [", "not a readable JSON file"),
        ("[1, 2]", "the top level must be an object, got an array"),
        ('{"version": "1.1"}', "data is missing"),
        ('{"data": {}}', "data must be an array, got an object"),
        ('{"data": [[1]]}', "data[0] must be an object, got an array"),
        ('{"data": ["x"]}', "data[0] must be an object, got a string"),
        ('{"data": [{"paragraphs": [{"context": 5, "qas": []}]}]}', "data[0].paragraphs[0].context must be a string"),
        ('{"data": [{"paragraphs": [{"context": "c", "qas": [{"question": "q", "answers": [3]}]}]}]}',
         "data[0].paragraphs[0].qas[0].answers[0] must be an object"),
        ('{"data": []}', "no paragraphs or no questions"),
    ],
)
def test_bench_compress_refuses_what_is_not_squad(capsys, tmp_path, content, fragment):
    squad = tmp_path / "squad.json"
    squad.write_text(content)
    bad(capsys, fragment, "bench", "compress", squad)


def test_bench_compress_bad_options(capsys, tmp_path):
    squad = tmp_path / "squad.json"
    squad.write_text(json.dumps(SQUAD))
    bad(capsys, "SQuAD file not found", "bench", "compress", tmp_path / "none.json")
    for value in ("0.5", "nan", "inf", "abc"):
        bad(capsys, "expected a number >= 1", "bench", "compress", squad, "--ratio", value)
    bad(capsys, "positive integer", "bench", "compress", squad, "--budget-tokens", "0")
    bad(capsys, "positive integer", "bench", "compress", squad, "--questions", "-3")
    bad(capsys, "integer >= 0", "bench", "compress", squad, "--first-question", "-1")
    bad(capsys, "positive integer <= 10000", "bench", "compress", squad, "-k", "20000")
    # Past the end of the file: refused before any bundle is built.
    bad(capsys, "past the file's 1 questions", "bench", "compress", squad, "--first-question", "1")


# -- bench embed -----------------------------------------------------------------------------


def test_bench_embed_bad_inputs_fail_before_any_model_loads(capsys, files):
    bad(capsys, "corpus not found", "bench", "embed", "--texts", files["missing"])
    bad(capsys, "no documents to embed", "bench", "embed", "--texts", files["empty"])
    bad(capsys, "bad.jsonl:2", "bench", "embed", "--texts", files["bad"])
    bad(capsys, "'text'", "bench", "embed", "--texts", files["shapeless"])
    for value in ("abc", "0", "8,-1", ",", ""):
        bad(capsys, "comma-separated positive integers", "bench", "embed", "--batch-sizes", value)
    for option in ("--limit", "--threads", "--repeats"):
        bad(capsys, "positive integer", "bench", "embed", option, "0")


# -- bench sweep -----------------------------------------------------------------------------


@pytest.fixture()
def vectors(tmp_path: Path) -> dict[str, Path]:
    import numpy as np

    from retrieval.bench.vecs import write_vecs

    rng = np.random.default_rng(3)
    truncated = tmp_path / "truncated.fvecs"
    truncated.write_bytes(write_vecs(tmp_path / "t.fvecs", rng.standard_normal((3, 4))).read_bytes()[:-2])
    (tmp_path / "empty.fvecs").write_bytes(b"")
    return {
        "base": write_vecs(tmp_path / "base.fvecs", rng.standard_normal((50, 4)).astype(np.float32)),
        "queries": write_vecs(tmp_path / "q.fvecs", rng.standard_normal((5, 4)).astype(np.float32)),
        "queries8": write_vecs(tmp_path / "q8.fvecs", rng.standard_normal((5, 8)).astype(np.float32)),
        "gt": write_vecs(tmp_path / "gt.ivecs", np.zeros((2, 3), dtype=np.int32)),
        "truncated": truncated,
        "empty": tmp_path / "empty.fvecs",
    }


def test_bench_sweep_bad_vectors(capsys, vectors):
    base, queries = vectors["base"], vectors["queries"]
    bad(capsys, "empty or truncated", "bench", "sweep", "--fvecs", vectors["empty"], "--queries", queries)
    bad(capsys, "truncated", "bench", "sweep", "--fvecs", vectors["truncated"], "--queries", queries)
    bad(capsys, "equal d", "bench", "sweep", "--fvecs", base, "--queries", vectors["queries8"])
    bad(capsys, "ground truth has shape", "bench", "sweep", "--fvecs", base, "--queries", queries, "--gt", vectors["gt"])
    bad(capsys, "--fvecs needs --queries", "bench", "sweep", "--fvecs", base)


def test_bench_sweep_bad_config_and_baseline(capsys, tmp_path, vectors):
    sweep = ("bench", "sweep", "--fvecs", vectors["base"], "--queries", vectors["queries"], "--results-dir", tmp_path / "r")
    for text, fragment in [("[hnsw", "invalid TOML"), ("hnsw = 3", "must be a table"), ("", "non-empty table"),
                           ("[annoy]", "annoy"), ('[hnsw]\nM = "many"', "M"), ("[hnsw]\nM = []", "empty list")]:
        config = tmp_path / "grid.toml"
        config.write_text(text)
        bad(capsys, fragment, *sweep, "--config", config)
    bad(capsys, "cannot read sweep config", *sweep, "--config", tmp_path / "none.toml")
    for text, fragment in [("{", "cannot read baseline"), ('{"rows": 5}', "expected a sweep result"),
                           ('{"rows": [{"index": "flat", "qps": "fast"}]}', "rows[0].qps must be a number")]:
        baseline = tmp_path / "baseline.json"
        baseline.write_text(text)
        bad(capsys, fragment, *sweep, "--baseline", baseline)
    bad(capsys, "cannot read baseline", *sweep, "--baseline", tmp_path / "none.json")
    for value in ("150", "-1", "nan", "abc"):
        bad(capsys, "percentage", *sweep, "--max-regression", value)
    bad(capsys, "positive integer", *sweep, "--repeats", "0")
    assert not (tmp_path / "r").exists()  # nothing ran


def test_bench_sweep_bad_bundle(capsys, bundle, tmp_path):
    bad(capsys, "no dense index", "bench", "sweep", bundle)
    bad(capsys, "no index bundle", "bench", "sweep", tmp_path / "none")


# -- bench quality ---------------------------------------------------------------------------


def test_bench_quality_bad_inputs(capsys, bundle, files, tmp_path):
    q, qrels = files["queries"], files["qrels"]
    bad(capsys, "no relevance judgements", "bench", "quality", bundle, "--queries", q, "--qrels", files["empty_qrels"])
    bad(capsys, "none of the 2 judgements", "bench", "quality", bundle, "--queries", q, "--qrels", files["foreign_qrels"])
    bad(capsys, "no queries", "bench", "quality", bundle, "--queries", files["empty"], "--qrels", qrels)
    bad(capsys, "bad.tsv:1", "bench", "quality", bundle, "--queries", q, "--qrels", files["bad_qrels"])
    bad(capsys, "bad.jsonl:2", "bench", "quality", bundle, "--queries", files["bad"], "--qrels", qrels)
    bad(capsys, "missing.jsonl", "bench", "quality", bundle, "--queries", files["missing"], "--qrels", qrels)
    bad(capsys, "no index bundle", "bench", "quality", tmp_path / "none", "--queries", q, "--qrels", qrels)


# -- bench ask -------------------------------------------------------------------------------


def test_bench_ask_bad_inputs_fail_before_the_model_loads(capsys, bundle, files, tmp_path):
    q = files["queries"]
    bad(capsys, "no questions", "bench", "ask", bundle, "--queries", files["empty"])
    bad(capsys, "no questions", "bench", "ask", bundle, "--queries", q, "--qrels", files["foreign_qrels"])
    bad(capsys, "bad.jsonl:2", "bench", "ask", bundle, "--queries", files["bad"])
    bad(capsys, "'text'", "bench", "ask", bundle, "--queries", files["shapeless"])
    bad(capsys, "missing.jsonl", "bench", "ask", bundle, "--queries", files["missing"])
    bad(capsys, "bad.tsv:1", "bench", "ask", bundle, "--queries", q, "--qrels", files["bad_qrels"])
    bad(capsys, "no index bundle", "bench", "ask", tmp_path / "none", "--queries", q)
    bad(capsys, "model file not found", "bench", "ask", bundle, "--queries", q, "--model", tmp_path / "none.gguf")
    for option in ("--limit", "--budget-tokens", "-k"):
        bad(capsys, "positive integer", "bench", "ask", bundle, "--queries", q, option, "0")


# -- index: config values and analyzers ------------------------------------------------------


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("bm25.k1=abc", "config bm25.k1: expected a number, got 'abc'"),
        ("bm25.b=nan", "config bm25.b: expected a number, got 'nan'"),
        ("bm25.b=NaN", "config bm25.b: expected a finite number, got nan"),
        ("bm25.k1=1e999", "config bm25.k1: expected a finite number, got inf"),
        ("bm25.k1=true", "config bm25.k1: expected a number, got True"),
        ("bm25.k1=-1", "bm25.k1 must be >= 0"),
        ("bm25.epsilon=-0.5", "bm25.epsilon must be >= 0"),
        ("chunker.max_tokens=128.5", "config chunker.max_tokens: expected an integer, got 128.5"),
        ("analyzer.stopwords=[1]", "config analyzer.stopwords: expected a string or a list of strings or none"),
        ("analyzer.lowercase=yes", "config analyzer.lowercase: expected true or false, got 'yes'"),
        ("search.fusion.dense_weight=heavy", "config search.fusion.dense_weight: expected a number"),
        ("analyzer.token_pattern=(unclosed", "is not a valid regex"),
        ("analyzer.token_pattern=(a)(b)", "2 capturing groups"),
        ("analyzer.token_pattern=x{0}", "the analyzer found no terms in any of the 4 chunks"),
    ],
)
def test_index_refuses_bad_config_values(capsys, tmp_path, files, override, fragment):
    out = tmp_path / "out"
    bad(capsys, fragment, "index", files["corpus"], "--out", out, "--no-dense", "--set", override)
    assert not out.exists()


# -- human output escapes control and bidi characters ----------------------------------------


NASTY = {"_id": "evil\u202etxt.exe", "title": "bell\x07 \x1b[2Jclear\x00",
         "text": "zebra text\x9b with \u2066isolate\u2069 and \u200fmark"}
ESCAPED = [("\u202e", "\\u202e"), ("\x07", "\\x07"), ("\x1b", "\\x1b"), ("\x00", "\\x00"), ("\x9b", "\\x9b"),
           ("\u2066", "\\u2066"), ("\u2069", "\\u2069"), ("\u200f", "\\u200f")]


@pytest.fixture(scope="module")
def nasty_bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("nasty")
    Engine.build(write_jsonl(root / "c.jsonl", [NASTY]), root / "b", IndexConfig.from_dict({"dense": False})).close()
    return root / "b"


def test_printable_escapes_controls_and_bidi_only():
    from retrieval.text.terminal import printable

    assert printable("a\x00b\tc\nd\x7f\x85\u202a\u202e\u2066\u2069\u200e\u061c") == (
        "a\\x00b\\x09c\\x0ad\\x7f\\x85\\u202a\\u202e\\u2066\\u2069\\u200e\\u061c"
    )
    assert printable("naïve café — 東京 ✓ \\x00") == "naïve café — 東京 ✓ \\x00"


def test_search_escapes_control_and_bidi_characters_but_json_keeps_them(capsys, nasty_bundle):
    rc, out, err = cli(capsys, "search", nasty_bundle, "zebra")
    assert rc == 0, err
    for raw, shown in ESCAPED:
        assert raw not in out and shown in out
    assert "evil\\u202etxt.exe#0" in out
    rc, out, err = cli(capsys, "search", nasty_bundle, "zebra", "--json")
    hit = json.loads(out)["hits"][0]
    assert hit["id"] == "evil\u202etxt.exe#0" and hit["title"] == NASTY["title"]
    assert "\x9b" in hit["text"] and "\u2066" in hit["text"]


def test_ask_show_sources_escapes_ids_and_titles(capsys, nasty_bundle):
    from tests.generation.http_fakes import Reply, serving, token_events

    with serving([Reply(events=token_events(["ok"]))]) as server:
        rc, out, err = cli(capsys, "ask", nasty_bundle, "zebra", "--generator", "openai", "--base-url", server.base_url,
                           "--show-sources", "--max-tokens", "4")
    assert rc == 0, err
    sources = out.split("\n", 1)[1]  # after the streamed answer
    assert "[1] evil\\u202etxt.exe  bell\\x07 \\x1b[2Jclear\\x00" in sources
    assert not any(raw in sources for raw, _ in ESCAPED)
