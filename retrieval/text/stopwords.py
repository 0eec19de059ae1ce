"""Built-in stopword lists.

``STOPWORDS_EN`` is copied verbatim (as data) from bm25s 0.3.16, ``bm25s/stopwords.py``
``STOPWORDS_EN`` — itself the classic Lucene/Elasticsearch English list. Using the very same list
keeps our BM25 terms identical to bm25s's ``stopwords="en"``, so the two can be compared
token for token (``retrieval bench bm25``) and the published bm25s SciFact figures apply.
"""

from __future__ import annotations

STOPWORDS_EN: tuple[str, ...] = (
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
    "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
    "these", "they", "this", "to", "was", "will", "with",
)

# Named lists accepted by ``AnalyzerConfig.stopwords``.
BUILTIN: dict[str, tuple[str, ...]] = {"en": STOPWORDS_EN}
