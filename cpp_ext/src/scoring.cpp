#include "retrieval/scoring.hpp"

#include <algorithm>
#include <cmath>

#include "retrieval/parallel.hpp"

namespace retrieval {

std::vector<double> compute_idf(ArrayView<std::uint32_t> df, std::uint64_t n_docs, const Params& p) {
    std::vector<double> idf(df.size, 0.0);
    const auto N = n_docs;
    if (p.variant == Variant::Lucene) {
        for (std::size_t t = 0; t < df.size; ++t) {
            const std::uint64_t n = df[t];
            if (n == 0) continue;
            idf[t] = std::log(1.0 + (static_cast<double>(N - n) + 0.5) / (static_cast<double>(n) + 0.5));
        }
        return idf;
    }
    // Okapi: same loop as rank_bm25.BM25Okapi._calc_idf (its dict is in first-occurrence order,
    // which is increasing id order because ids are assigned that way).
    double idf_sum = 0.0;
    std::uint64_t count = 0;
    for (std::size_t t = 0; t < df.size; ++t) {
        const std::uint64_t n = df[t];
        if (n == 0) continue;
        idf[t] = std::log(static_cast<double>(N - n) + 0.5) - std::log(static_cast<double>(n) + 0.5);
        idf_sum += idf[t];
        ++count;
    }
    if (count == 0) return idf;
    const double average_idf = idf_sum / static_cast<double>(count);
    const double eps = p.epsilon * average_idf;
    for (std::size_t t = 0; t < df.size; ++t) {
        if (df[t] != 0 && idf[t] < 0) idf[t] = eps;
    }
    return idf;
}

double average_doc_length(std::uint64_t total_tokens, std::uint64_t n_docs) {
    if (n_docs == 0) return 0.0;
    return static_cast<double>(total_tokens) / static_cast<double>(n_docs);
}

std::vector<double> compute_norms(ArrayView<std::uint32_t> doc_lengths, double avgdl, const Params& p) {
    std::vector<double> norms(doc_lengths.size);
    if (avgdl == 0.0) {  // every document is empty: no postings, the value is never used
        std::fill(norms.begin(), norms.end(), p.k1 * (1.0 - p.b));
        return norms;
    }
    for (std::size_t d = 0; d < doc_lengths.size; ++d) norms[d] = doc_norm(p, doc_lengths[d], avgdl);
    return norms;
}

namespace {
template <Variant V>
void block_max_range(const PostingsView& pv, ArrayView<double> idf, ArrayView<double> norms,
                     double k1p1, std::size_t term_begin, std::size_t term_end, double* out) {
    std::uint32_t docs[kBlockSize], tfs[kBlockSize];
    for (std::size_t t = term_begin; t < term_end; ++t) {
        const auto term = static_cast<std::uint32_t>(t);
        for (std::uint64_t blk = pv.term_blocks[t]; blk < pv.term_blocks[t + 1]; ++blk) {
            const std::uint32_t n = decode_block(pv, term, blk, docs, tfs);
            double best = contribution<V>(idf[t], k1p1, tfs[0], norms[docs[0]]);
            for (std::uint32_t i = 1; i < n; ++i) {
                best = std::max(best, contribution<V>(idf[t], k1p1, tfs[i], norms[docs[i]]));
            }
            out[blk] = best;
        }
    }
}
}  // namespace

std::vector<double> compute_block_max(const PostingsView& pv, ArrayView<double> idf,
                                      ArrayView<double> norms, const Params& p, unsigned n_threads) {
    std::vector<double> out(pv.block_last_doc.size, 0.0);
    const double k1p1 = p.k1 + 1.0;
    const std::size_t vocab = pv.df.size;
    parallel_ranges(vocab, n_threads, [&](std::size_t begin, std::size_t end) {
        if (p.variant == Variant::Okapi) {
            block_max_range<Variant::Okapi>(pv, idf, norms, k1p1, begin, end, out.data());
        } else {
            block_max_range<Variant::Lucene>(pv, idf, norms, k1p1, begin, end, out.data());
        }
    });
    return out;
}

std::vector<double> compute_term_max(const PostingsView& pv) {
    std::vector<double> out(pv.df.size, 0.0);
    for (std::size_t t = 0; t < pv.df.size; ++t) {
        const std::uint64_t b0 = pv.term_blocks[t], b1 = pv.term_blocks[t + 1];
        if (b0 == b1) continue;
        double best = pv.block_max[b0];
        for (std::uint64_t blk = b0 + 1; blk < b1; ++blk) best = std::max(best, pv.block_max[blk]);
        out[t] = best;
    }
    return out;
}

}  // namespace retrieval
