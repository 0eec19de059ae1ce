// Tables derived from the postings and the BM25 parameters: idf per term, length norm per doc,
// and the per-block maximum contribution used as an upper bound by MaxScore.
#pragma once

#include <cstdint>
#include <vector>

#include "retrieval/array_view.hpp"
#include "retrieval/params.hpp"
#include "retrieval/postings.hpp"

namespace retrieval {

// lucene: log(1 + (N - n + 0.5) / (n + 0.5)).
// okapi (rank_bm25.BM25Okapi): log(N - n + 0.5) - log(n + 0.5); a negative value is replaced by
// epsilon * average, the average taken over terms with n > 0 summed in increasing id order.
// Terms with n == 0 get 0 (they have no postings).
std::vector<double> compute_idf(ArrayView<std::uint32_t> df, std::uint64_t n_docs, const Params& p);

// avgdl = total_tokens / n_docs, or 0 for an empty corpus / a corpus of empty documents.
double average_doc_length(std::uint64_t total_tokens, std::uint64_t n_docs);

std::vector<double> compute_norms(ArrayView<std::uint32_t> doc_lengths, double avgdl, const Params& p);

// Exact maximum of contribution() over each block's postings (decodes every block once).
std::vector<double> compute_block_max(const PostingsView& pv, ArrayView<double> idf,
                                      ArrayView<double> norms, const Params& p, unsigned n_threads);

// Maximum of block_max over each term's blocks (0 for terms without postings).
std::vector<double> compute_term_max(const PostingsView& pv);

}  // namespace retrieval
