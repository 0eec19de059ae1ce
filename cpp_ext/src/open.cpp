// Reopening an index from its exported arrays (often read-only memory maps): cheap consistency
// checks so that a truncated or doctored array set fails with a clear error instead of reading
// out of bounds later. Block contents are checked as they are decoded (decode_block).
#include <cmath>
#include <stdexcept>
#include <string>

#include "retrieval/index.hpp"

namespace retrieval {

namespace {

[[noreturn]] void corrupt(const std::string& why) {
    throw std::invalid_argument("corrupt BM25 array set: " + why + "; rebuild the index");
}

void expect_size(const char* name, std::size_t got, std::uint64_t want, const char* want_text) {
    if (got != want) {
        corrupt(std::string("'") + name + "' must have " + want_text + " = " + std::to_string(want) +
                " entries, got " + std::to_string(got));
    }
}

Params stored_params(ArrayView<double> p) {
    if (p.size != 4) corrupt("'params' must have 4 entries [variant, k1, b, epsilon], got " + std::to_string(p.size));
    if (p[0] != 0.0 && p[0] != 1.0) corrupt("'params'[0] must be 0 (lucene) or 1 (okapi)");
    Params out;
    out.variant = p[0] == 1.0 ? Variant::Okapi : Variant::Lucene;
    out.k1 = p[1];
    out.b = p[2];
    out.epsilon = p[3];
    try {
        validate_params(out);
    } catch (const std::invalid_argument& e) {
        corrupt(std::string("stored parameters are invalid: ") + e.what());
    }
    return out;
}

void validate(const IndexArrays& a) {
    if (a.meta.size != 4) corrupt("'meta' must have 4 entries, got " + std::to_string(a.meta.size));
    if (a.meta[0] != kFormatVersion) {
        throw std::invalid_argument("unsupported BM25 array format version " + std::to_string(a.meta[0]) +
                                    "; this library reads version " + std::to_string(kFormatVersion) +
                                    "; rebuild the index");
    }
    if (a.meta[1] != kBlockSize) {
        corrupt("block size " + std::to_string(a.meta[1]) + " is not " + std::to_string(kBlockSize));
    }
    const PostingsView& p = a.postings;
    const std::uint64_t n_docs = a.doc_lengths.size, vocab = p.df.size, blocks = p.block_last_doc.size;
    if (n_docs >= kEndDoc) corrupt("too many documents");
    expect_size("term_blocks", p.term_blocks.size, vocab + 1, "len(df) + 1");
    expect_size("idf", a.idf.size, vocab, "len(df)");
    expect_size("block_offsets", p.block_offsets.size, blocks + 1, "len(block_last_doc) + 1");
    expect_size("block_max", p.block_max.size, blocks, "len(block_last_doc)");

    std::uint64_t tokens = 0;
    for (std::uint32_t len : a.doc_lengths) tokens += len;
    if (tokens != a.meta[2]) {
        corrupt("doc_lengths sum to " + std::to_string(tokens) + " but meta says " + std::to_string(a.meta[2]) +
                " tokens");
    }

    if (p.term_blocks[0] != 0) corrupt("'term_blocks' must start at 0");
    std::uint64_t postings = 0;
    for (std::uint64_t t = 0; t < vocab; ++t) {
        if (p.df[t] > n_docs) corrupt("df[" + std::to_string(t) + "] exceeds the number of documents");
        postings += p.df[t];
        const std::uint64_t b0 = p.term_blocks[t], b1 = p.term_blocks[t + 1];
        if (b1 < b0 || b1 - b0 != blocks_for(p.df[t])) {
            corrupt("'term_blocks' disagrees with df at term " + std::to_string(t));
        }
        if (b1 > blocks) corrupt("'term_blocks' points past the block table");
        for (std::uint64_t blk = b0; blk < b1; ++blk) {
            if (p.block_last_doc[blk] >= n_docs) corrupt("'block_last_doc' names a doc id >= n_docs");
            if (blk > b0 && p.block_last_doc[blk] <= p.block_last_doc[blk - 1]) {
                corrupt("'block_last_doc' is not increasing within term " + std::to_string(t));
            }
        }
    }
    if (p.term_blocks[vocab] != blocks) corrupt("'term_blocks' must end at len(block_last_doc)");
    if (postings != a.meta[3]) {
        corrupt("df sums to " + std::to_string(postings) + " but meta says " + std::to_string(a.meta[3]));
    }
    if (postings > tokens) corrupt("more postings than tokens");

    if (p.block_offsets[0] != 0) corrupt("'block_offsets' must start at 0");
    for (std::uint64_t blk = 0; blk < blocks; ++blk) {
        if (p.block_offsets[blk + 1] <= p.block_offsets[blk]) corrupt("'block_offsets' must be increasing");
    }
    if (p.block_offsets[blocks] != p.bytes.size) {
        corrupt("'postings' has " + std::to_string(p.bytes.size) + " bytes but the block table needs " +
                std::to_string(p.block_offsets[blocks]) + " (truncated file?)");
    }
    for (double m : p.block_max)
        if (!std::isfinite(m)) corrupt("'block_max' holds a non-finite value");
    for (double v : a.idf)
        if (!std::isfinite(v)) corrupt("'idf' holds a non-finite value");
}

// Caller errors rather than corruption: the statistics come from the caller, not from a file.
void validate_stats(const CorpusStats& s, std::uint64_t vocab_size) {
    const std::string pre = "corpus stats: ";
    if (s.df.size < vocab_size) {
        throw std::invalid_argument(pre + "'df' has " + std::to_string(s.df.size) +
                                    " entries but the index's vocab_size is " + std::to_string(vocab_size) +
                                    "; it must cover every term id of the index");
    }
    if (s.n_docs == 0 && s.total_tokens != 0) {
        throw std::invalid_argument(pre + "'total_tokens' is " + std::to_string(s.total_tokens) +
                                    " but 'n_docs' is 0");
    }
    std::uint64_t postings = 0;
    for (std::size_t t = 0; t < s.df.size; ++t) {
        if (s.df[t] > s.n_docs) {
            throw std::invalid_argument(pre + "'df'[" + std::to_string(t) + "] = " + std::to_string(s.df[t]) +
                                        " exceeds 'n_docs' = " + std::to_string(s.n_docs));
        }
        postings += s.df[t];
    }
    // Each (document, distinct term) pair is at least one token.
    if (postings > s.total_tokens) {
        throw std::invalid_argument(pre + "'df' sums to " + std::to_string(postings) + ", more than 'total_tokens' = " +
                                    std::to_string(s.total_tokens));
    }
}

}  // namespace

std::unique_ptr<BM25Index> BM25Index::open(const IndexArrays& arrays, const Params& params,
                                           const CorpusStats* stats) {
    validate_params(params);
    validate(arrays);
    if (stats) validate_stats(*stats, arrays.postings.df.size);
    const bool same = stored_params(arrays.params) == params;
    std::unique_ptr<BM25Index> index(new BM25Index());
    index->arrays_ = arrays;
    // Stats change idf and norms, so the stored idf and block maxima never apply.
    index->init_tables(params, /*n_threads=*/1, /*reuse_stored=*/same && !stats, stats);
    return index;
}

}  // namespace retrieval
