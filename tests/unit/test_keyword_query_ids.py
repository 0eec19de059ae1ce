"""The fused word→term-id query path against the plain analyzer + vocabulary path."""

from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.config import AnalyzerConfig
from retrieval.keyword import BM25
from retrieval.text import Analyzer

CORPUS = [
    "The quick brown fox jumps over the lazy dog",
    "Running runners run; Café naïve Straße 東京",
    "JSON parsing: json.loads parses strings into objects",
    "a an the of and",
]


def reference(bm25: BM25, query: str) -> list[int]:
    return bm25.vocabulary.lookup(bm25.analyzer(query)).tolist()


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcdefghijklmnoprstu JSONCafé東京.;-_'0123456789")), max_size=80))
def test_fused_query_ids_equal_analyzer_then_vocabulary(query):
    for config in (AnalyzerConfig(), AnalyzerConfig(stopwords=None, stemmer=None), AnalyzerConfig(lowercase=False)):
        bm25 = BM25.from_texts(CORPUS, Analyzer(config))
        for _ in range(2):  # cold, then from the word cache
            assert bm25.query_ids(query).tolist() == reference(bm25, query)


def test_known_cases():
    bm25 = BM25.from_texts(CORPUS)
    assert bm25.query_ids("").tolist() == []
    assert bm25.query_ids("the of and").tolist() == []  # stopwords only
    assert bm25.query_ids("zzz unknown").tolist() == []
    runs = bm25.query_ids("RUNNING runs json JSON")
    assert runs.tolist() == reference(bm25, "RUNNING runs json JSON")
    assert len(runs) == 4 and runs[0] == runs[1] and runs[2] == runs[3]


def test_a_flush_of_documents_without_terms_builds(monkeypatch):
    """Chunks of stopwords only after the last flush (or no chunks at all, as in compacting a
    bundle whose every document was deleted) leave an empty token buffer: it must build."""
    from retrieval.config import BM25Config
    from retrieval.keyword import BM25Builder

    monkeypatch.setattr(BM25Builder, "FLUSH_ENTRIES", 4)
    builder = BM25Builder(Analyzer(AnalyzerConfig()), BM25Config())
    for text in ["quick brown fox", "lazy dog jumps", "the a an", "of and the"]:
        builder.add(text)
    bm25 = builder.build()
    assert bm25.n_docs == 4 and bm25.search("fox", k=4)[0].tolist() == [0]
    empty = BM25Builder(Analyzer(AnalyzerConfig()), BM25Config()).build()
    assert empty.n_docs == 0
