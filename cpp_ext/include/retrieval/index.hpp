// The BM25 index: compressed postings plus the derived scoring tables, built from token ids or
// reopened (without copying) from the arrays a previous index exported.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "retrieval/array_view.hpp"
#include "retrieval/build.hpp"
#include "retrieval/impact_cache.hpp"
#include "retrieval/params.hpp"
#include "retrieval/postings.hpp"
#include "retrieval/query.hpp"
#include "retrieval/scratch.hpp"

namespace retrieval {

constexpr std::uint64_t kFormatVersion = 1;

class PostingsAccumulator;

// Everything needed to reopen an index. When an index is opened from these views, the caller
// keeps the memory alive for the index's lifetime.
struct IndexArrays {
    ArrayView<std::uint64_t> meta;   // [format version, block size, total tokens, total postings]
    ArrayView<double> params;        // [variant, k1, b, epsilon] that idf and block_max were made with
    ArrayView<std::uint32_t> doc_lengths;
    ArrayView<double> idf;
    PostingsView postings;
};

// Statistics of a corpus this index is one segment of (e.g. base + delta - deleted docs), so that
// each segment scores its documents exactly as one index over that whole corpus would. df is
// indexed by the corpus's term ids, which extend the segment's: len(df) >= vocab_size. Only read
// while the index is opened.
struct CorpusStats {
    std::uint64_t n_docs = 0;
    std::uint64_t total_tokens = 0;
    ArrayView<std::uint32_t> df;
};

class BM25Index {
public:
    // Inputs are validated here (offsets, ids, parameters); std::invalid_argument on bad input.
    static std::unique_ptr<BM25Index> build(ArrayView<std::uint64_t> doc_offsets,
                                            ArrayView<std::uint32_t> tokens, std::uint64_t vocab_size,
                                            const Params& params, unsigned n_threads);
    // The same index as build() over the documents added to `acc`, which this empties. vocab_size
    // and params are validated before `acc` is touched.
    static std::unique_ptr<BM25Index> finish(PostingsAccumulator& acc, std::uint64_t vocab_size,
                                             const Params& params, unsigned n_threads);
    // Checks sizes, offsets and bounds in O(docs + terms + blocks) (std::invalid_argument when the
    // set is inconsistent); block bytes are checked as they are decoded. When `params` differ from
    // the ones stored, idf and block maxima are recomputed (one pass over the postings).
    // With `stats`, idf and avgdl come from them instead of the arrays (so idf and block maxima
    // are always recomputed); postings, doc lengths and n_docs() stay the segment's own.
    static std::unique_ptr<BM25Index> open(const IndexArrays& arrays, const Params& params,
                                           const CorpusStats* stats = nullptr);

    const IndexArrays& arrays() const { return arrays_; }
    const Params& params() const { return params_; }
    std::uint64_t n_docs() const { return arrays_.doc_lengths.size; }
    std::uint64_t vocab_size() const { return arrays_.postings.df.size; }
    std::uint64_t total_tokens() const { return arrays_.meta[2]; }
    std::uint64_t total_postings() const { return arrays_.meta[3]; }
    double avgdl() const { return avgdl_; }  // the corpus's when opened with stats
    bool has_stats() const { return has_stats_; }
    std::uint32_t df(std::uint64_t term) const;  // std::invalid_argument when out of range

    // Throws std::invalid_argument naming the first id >= vocab_size.
    void check_query(ArrayView<std::uint32_t> query, const char* what = "query") const;

    // Writes up to k hits (best first; equal scores: smaller id first) and returns the count.
    // ids/scores need room for min(k, n_docs) entries. The query must have been checked.
    std::size_t topk(ArrayView<std::uint32_t> query, std::size_t k, Strategy strategy, std::int64_t* ids,
                     double* scores) const;

    // Row q of ids/scores [nq, k] gets query q's hits, padded with -1 / -inf; counts[q] its count.
    // Runs on n_threads workers; `cancelled` is polled by the calling thread (see parallel.hpp).
    void topk_batch(ArrayView<std::uint64_t> query_offsets, ArrayView<std::uint32_t> query_tokens,
                    std::size_t k, unsigned n_threads, Strategy strategy, std::int64_t* ids,
                    double* scores, std::int64_t* counts, const std::function<bool()>& cancelled) const;

    // out[n_docs] receives every doc's score (0 for docs without a query term).
    void scores(ArrayView<std::uint32_t> query, double* out) const;
    std::vector<std::int64_t> matching(ArrayView<std::uint32_t> query) const;

    // Memory held by the impact caches (see impact_cache.hpp), and their budgets in bytes.
    std::size_t cache_bytes() const { return cache_->bytes(); }
    std::size_t cache_limit() const { return cache_->limit(); }
    void set_cache_limit(std::size_t bytes) { cache_->set_limit(bytes); }
    std::size_t bound_cache_bytes() const { return bounds_->bytes(); }
    std::size_t bound_cache_limit() const { return bounds_->limit(); }
    void set_bound_cache_limit(std::size_t bytes) { bounds_->set_limit(bytes); }

private:
    BM25Index() = default;
    static std::unique_ptr<BM25Index> from_postings(BuiltPostings postings, const Params& params, unsigned n_threads);
    // Derived tables; with reuse_stored the idf and block maxima already in arrays_ are kept.
    // `stats` (validated by the caller, with reuse_stored false) replaces the segment's own N,
    // avgdl and df.
    void init_tables(const Params& params, unsigned n_threads, bool reuse_stored,
                     const CorpusStats* stats = nullptr);
    std::size_t topk_with(ArrayView<std::uint32_t> query, std::size_t k, Strategy strategy, Scratch& s,
                          std::int64_t* ids, double* scores) const;
    IndexView view() const;

    std::unique_ptr<BuiltPostings> built_;   // owns the postings of an index built here
    std::vector<std::uint64_t> own_meta_;
    std::vector<double> own_params_, own_idf_, own_block_max_;
    IndexArrays arrays_;
    Params params_;
    double avgdl_ = 0.0;
    bool has_stats_ = false;
    std::vector<double> norms_, term_max_;
    mutable ScratchPool scratch_;
    std::unique_ptr<ImpactCache> cache_;  // filled by const queries; internally synchronized
    std::unique_ptr<BoundCache> bounds_;  // likewise
};

}  // namespace retrieval
