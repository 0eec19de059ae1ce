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
    // MaxScore pays a per-candidate overhead that only pays off when there is a lot to skip:
    // many postings per result slot. Measured (tests/native/bench_topk.py and a per-query sweep,
    // best of 3, 2-core x86-64, GCC 12 -O3; mean us per query, exhaustive / maxscore):
    //   synthetic Zipf, ~200 tokens/doc, 30k vocab, 10-term queries, k=10:
    //     5k docs 75 / 40, 20k docs 298 / 108, 100k docs 1778 / 372
    //   same, k=100:   5k docs 85 / 102, 20k docs 320 / 286, 100k docs 1794 / 837
    //   SciFact (5,183 abstracts, 300 claims), k=10: 66 / 50 (no stopwords), 17 / 28 (stopwords)
    //   SciFact k=100: 76 / 121 (no stopwords), 24 / 60 (stopwords)
    // Over all 3,000 (query, k) pairs the rule below costs 468 ms in total against 455 ms for a
    // per-query oracle, 495 ms for always-maxscore and 1,065 ms for always-exhaustive; thresholds
    // from 300 k to 600 k were within 0.5% of each other.
    std::uint64_t postings = 0;
    for (const QueryTerm& qt : plan.terms) postings += ix.postings->df[qt.term];
    // postings >= 400 * k, written so that a huge k cannot overflow.
    return postings / 400 >= k ? Strategy::MaxScore : Strategy::Exhaustive;
}

}  // namespace

std::size_t BM25Index::topk_with(ArrayView<std::uint32_t> query, std::size_t k, Strategy strategy, Scratch& s,
                                 std::int64_t* ids, double* scores) const {
    if (k == 0) throw std::invalid_argument("k must be >= 1");
    const IndexView ix = view();
    const QueryPlan plan = plan_query(ix, query);
    if (plan.terms.empty()) return 0;
    if (choose(strategy, ix, plan, k) == Strategy::MaxScore) return topk_maxscore(ix, plan, k, s, ids, scores);
    return topk_exhaustive(ix, plan, k, s, ids, scores);
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
