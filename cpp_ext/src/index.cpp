#include "retrieval/index.hpp"

#include <stdexcept>
#include <string>
#include <utility>

#include "retrieval/accumulate.hpp"
#include "retrieval/checks.hpp"
#include "retrieval/scoring.hpp"

namespace retrieval {

namespace {

void check_vocab_size(std::uint64_t vocab_size) {
    if (vocab_size > 0x100000000ull) {
        throw std::invalid_argument("vocab_size must be <= 2**32 (token ids are uint32); got " +
                                    std::to_string(vocab_size));
    }
}

}  // namespace

std::unique_ptr<BM25Index> BM25Index::build(ArrayView<std::uint64_t> doc_offsets,
                                            ArrayView<std::uint32_t> tokens, std::uint64_t vocab_size,
                                            const Params& params, unsigned n_threads) {
    validate_params(params);
    check_vocab_size(vocab_size);
    check_offsets(doc_offsets, tokens.size, "doc_offsets", "tokens");
    check_ids(tokens, vocab_size, "tokens");
    return from_postings(build_postings(doc_offsets, tokens, vocab_size, n_threads), params, n_threads);
}

std::unique_ptr<BM25Index> BM25Index::finish(PostingsAccumulator& acc, std::uint64_t vocab_size,
                                             const Params& params, unsigned n_threads) {
    validate_params(params);
    check_vocab_size(vocab_size);
    return from_postings(acc.finish(vocab_size), params, n_threads);
}

std::unique_ptr<BM25Index> BM25Index::from_postings(BuiltPostings postings, const Params& params,
                                                    unsigned n_threads) {
    std::unique_ptr<BM25Index> index(new BM25Index());
    index->built_ = std::make_unique<BuiltPostings>(std::move(postings));
    const BuiltPostings& b = *index->built_;
    index->own_meta_ = {kFormatVersion, kBlockSize, b.total_tokens, b.total_postings};
    IndexArrays& a = index->arrays_;
    a.meta = view_of(index->own_meta_);
    a.doc_lengths = view_of(b.doc_lengths);
    a.postings.df = view_of(b.df);
    a.postings.term_blocks = view_of(b.term_blocks);
    a.postings.block_last_doc = view_of(b.block_last_doc);
    a.postings.block_offsets = view_of(b.block_offsets);
    a.postings.bytes = view_of(b.bytes);
    index->init_tables(params, n_threads, /*reuse_stored=*/false);
    return index;
}

void BM25Index::init_tables(const Params& params, unsigned n_threads, bool reuse_stored,
                            const CorpusStats* stats) {
    params_ = params;
    has_stats_ = stats != nullptr;
    avgdl_ = stats ? average_doc_length(stats->total_tokens, stats->n_docs)
                   : average_doc_length(total_tokens(), n_docs());
    norms_ = compute_norms(arrays_.doc_lengths, avgdl_, params_);
    if (!reuse_stored) {
        own_params_ = {static_cast<double>(static_cast<int>(params.variant)), params.k1, params.b, params.epsilon};
        arrays_.params = view_of(own_params_);
        if (stats) {
            // Over the whole corpus df: okapi's epsilon floor averages over all its terms, including
            // those this segment lacks. Ids past the segment's vocab are then dropped.
            own_idf_ = compute_idf(stats->df, stats->n_docs, params_);
            own_idf_.resize(vocab_size());
        } else {
            own_idf_ = compute_idf(arrays_.postings.df, n_docs(), params_);
        }
        arrays_.idf = view_of(own_idf_);
        own_block_max_ = compute_block_max(arrays_.postings, arrays_.idf, view_of(norms_), params_, n_threads);
        arrays_.postings.block_max = view_of(own_block_max_);
    }
    term_max_ = compute_term_max(arrays_.postings);
    cache_ = std::make_unique<ImpactCache>(vocab_size());
    bounds_ = std::make_unique<BoundCache>(vocab_size());
}

std::uint32_t BM25Index::df(std::uint64_t term) const {
    if (term >= vocab_size()) {
        throw std::invalid_argument("term id " + std::to_string(term) + " is out of range; vocab_size is " +
                                    std::to_string(vocab_size()));
    }
    return arrays_.postings.df[term];
}

void BM25Index::check_query(ArrayView<std::uint32_t> query, const char* what) const {
    check_ids(query, vocab_size(), what);
}

IndexView BM25Index::view() const {
    return {&arrays_.postings, cache_.get(), bounds_.get(), arrays_.idf, view_of(norms_), view_of(term_max_), params_,
            static_cast<std::uint32_t>(n_docs())};
}

}  // namespace retrieval
