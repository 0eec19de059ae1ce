// Query entry points of BM25Index: strategy choice, batches, dense scores, matching sets.
#include <limits>
#include <stdexcept>

#include "retrieval/checks.hpp"
#include "retrieval/index.hpp"
#include "retrieval/parallel.hpp"
#include "retrieval/search.hpp"

namespace retrieval {

namespace {

Strategy choose(Strategy requested, const IndexView& ix, const QueryPlan& plan, std::size_t k) {
    if (requested != Strategy::Auto) return requested;
    // With its terms in the impact cache, exhaustive scoring costs ~0.6 ns a posting and beats
    // MaxScore nearly always; MaxScore pays off only for long lists that must be decoded (the
    // cache is full). Measured with tests/native/bench_scifact.py and a per-query sweep (min of
    // 2-5 passes, 2-core x86-64, GCC 12 -O3; mean us per query, exhaustive / maxscore):
    //   cached, k=10:   SciFact 8.1 / 50, synthetic Zipf (~200 tokens/doc, 10-term queries)
    //                   5k docs 9-16 / 33-41, 100k docs 171-276 / 292-337, 300k 417-833 / 725-1125
    //   cached, k=100:  SciFact 17 / 107, 100k docs 173-285 / 554-711, 300k 422-1046 / 1288-2134
    //   uncached, k=10: SciFact 14 / 51, 100k docs 485-1129 / 341-467, 300k 1287-3186 / 992-1356
    //   uncached, k=100: SciFact 24 / 106, 100k docs 493-1108 / 746-979, 300k 1422-2889 / 1740-2557
    // Over 4,800 cached (query, k) pairs, always-exhaustive was within 1% of the best rule found.
    // Uncached (2,600 pairs, cache_limit = 0): the rule below totals 0.94 s against 1.30 s for
    // always-exhaustive, 1.11 s for always-maxscore and 0.79 s for a per-query oracle;
    // thresholds from 3000 k to 6000 k were within 1% of each other.
    // On large indexes exhaustive scoring over the bound cache beats MaxScore: 367k chunks
    // (resampled SciFact/SQuAD sentences), the 300 SciFact test claims, k=10: 452 us a query against
    // 1,712 us for MaxScore over the same bounds (the claims' lists overlap too much to prune).
    if (prefers_bounded(ix, plan, k)) return Strategy::Bounded;  // decided once, here
    // Looking a term up fills the cache when the budget allows (exhaustive would fill it anyway).
    std::uint64_t uncached = 0;
    for (const QueryTerm& qt : plan.terms) {
        if (ix.cache->get(ix, qt.term) == nullptr) uncached += ix.postings->df[qt.term];
    }
    // uncached >= 4000 * k, written so that a huge k cannot overflow.
    return uncached / 4000 >= k ? Strategy::MaxScore : Strategy::Exhaustive;
}

}  // namespace

std::size_t BM25Index::topk_with(ArrayView<std::uint32_t> query, std::size_t k, Strategy strategy, Scratch& s,
                                 std::int64_t* ids, double* scores) const {
    if (k == 0) throw std::invalid_argument("k must be >= 1");
    const IndexView ix = view();
    QueryPlan& plan = s.plan;
    plan_query(ix, query, plan);
    if (plan.terms.empty()) return 0;
    const Strategy chosen = choose(strategy, ix, plan, k);
    if (chosen == Strategy::MaxScore) return topk_maxscore(ix, plan, k, s, ids, scores);
    return topk_exhaustive(ix, plan, k, s, ids, scores, chosen == Strategy::Bounded);
}

std::size_t BM25Index::topk(ArrayView<std::uint32_t> query, std::size_t k, Strategy strategy, std::int64_t* ids,
                            double* scores) const {
    auto lease = scratch_.acquire();
    return topk_with(query, k, strategy, *lease, ids, scores);
}

void BM25Index::topk_batch(ArrayView<std::uint64_t> query_offsets, ArrayView<std::uint32_t> query_tokens,
                           std::size_t k, unsigned n_threads, Strategy strategy, std::int64_t* ids,
                           double* scores, std::int64_t* counts, const std::function<bool()>& cancelled) const {
    if (k == 0) throw std::invalid_argument("k must be >= 1");
    check_offsets(query_offsets, query_tokens.size, "query_offsets", "query_tokens");
    check_query(query_tokens, "query_tokens");
    const std::size_t nq = query_offsets.size - 1;
    constexpr std::size_t kGrain = 16;  // queries per hand-out; also the Ctrl-C granularity
    parallel_for_cancellable(nq, n_threads, kGrain, [&](std::size_t begin, std::size_t end) {
        auto lease = scratch_.acquire();
        for (std::size_t q = begin; q < end; ++q) {
            const ArrayView<std::uint32_t> query(query_tokens.data + query_offsets[q],
                                                 query_offsets[q + 1] - query_offsets[q]);
            std::int64_t* row_ids = ids + q * k;
            double* row_scores = scores + q * k;
            const std::size_t n = topk_with(query, k, strategy, *lease, row_ids, row_scores);
            for (std::size_t i = n; i < k; ++i) {
                row_ids[i] = -1;
                row_scores[i] = -std::numeric_limits<double>::infinity();
            }
            counts[q] = static_cast<std::int64_t>(n);
        }
    }, cancelled);
}

void BM25Index::scores(ArrayView<std::uint32_t> query, double* out) const {
    const IndexView ix = view();
    accumulate_scores(ix, plan_query(ix, query), out);
}

std::vector<std::int64_t> BM25Index::matching(ArrayView<std::uint32_t> query) const {
    const IndexView ix = view();
    return matching_docs(ix, plan_query(ix, query));
}

}  // namespace retrieval
