"""Every file and directory name of an index bundle, in one place (indexes/README.md describes them).

A version is a base (at the bundle root, or in the ``gen-*`` directory a compaction wrote) plus at
most one delta directory; both hold the same kinds of files under the same names.
"""

from __future__ import annotations

# The bundle directory itself.
MANIFEST = "manifest.json"
PREVIOUS_MANIFEST = "manifest.prev.json"
LOCK_FILE = ".update.lock"

# A base (or a delta: the same names).
CHUNKS_FILE = "chunks.parquet"  # row position == chunk id (Parquet chunk store)
DOCUMENTS_FILE = "documents.parquet"
METADATA_FILE = "metadata.parquet"
BM25_DIR = "bm25"
INDEX_FILE = "vectors.faiss"  # the FAISS index, CPU form
VECTORS_FILE = "vectors.npy"  # float32 chunk embeddings
SENTENCES_DIR = "sentences"
DENSE_FILES = (INDEX_FILE, VECTORS_FILE)

# Inside ``bm25/``: the native index's arrays (``BM25Index.arrays()``), the vocabulary and the
# parameters (``BM25.save``).
BM25_ARRAYS = (
    "meta.npy",
    "params.npy",
    "doc_lengths.npy",
    "idf.npy",
    "df.npy",
    "term_blocks.npy",
    "block_last_doc.npy",
    "block_offsets.npy",
    "block_max.npy",
    "postings.npy",
)
BM25_VOCAB_FILE = "vocab.json"
BM25_PARAMS_FILE = "params.json"
BM25_FILES = (*BM25_ARRAYS, BM25_VOCAB_FILE, BM25_PARAMS_FILE)

# Inside ``sentences/``.
SENTENCE_OFFSETS_FILE = "offsets.npy"
SENTENCE_SPANS_FILE = "spans.npy"
SENTENCE_VECTORS_FILE = "vectors.npy"
SENTENCE_FILES = (SENTENCE_OFFSETS_FILE, SENTENCE_SPANS_FILE, SENTENCE_VECTORS_FILE)

# Only in a delta directory (see ``retrieval.bundle.delta``).
TOMBSTONES_FILE = "tombstones.npy"
TOKENS_FILE = "tokens.npy"
TOKEN_OFFSETS_FILE = "token_offsets.npy"
NEW_TERMS_FILE = "new_terms.json"
DF_FILE = "df.npy"
DELTA_FILES = (DOCUMENTS_FILE, TOMBSTONES_FILE, TOKENS_FILE, TOKEN_OFFSETS_FILE, NEW_TERMS_FILE, DF_FILE)
