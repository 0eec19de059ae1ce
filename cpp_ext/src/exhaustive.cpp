// Term-at-a-time scoring: exhaustive top-k, dense scores and the matching set.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "retrieval/dense_topk.hpp"
#include "retrieval/search.hpp"

namespace retrieval {

namespace {

// Calls visit(docs, contributions, count) over every posting of every query position, in query
// order, a cached term at once and other terms block by block.
template <typename Visit>
void for_each_contribution(const IndexView& ix, const QueryPlan& plan, Visit&& visit) {
    const PostingsView& pv = *ix.postings;
    std::uint32_t docs[kBlockSize];
    double impacts[kBlockSize];
    for (std::uint32_t u : plan.positions) {
        const std::uint32_t term = plan.terms[u].term;
        if (const TermImpacts* cached = ix.cache->get(ix, term)) {
            visit(cached->docs.data(), cached->impacts.data(), cached->docs.size());
            continue;
        }
        for (std::uint64_t blk = pv.term_blocks[term]; blk < pv.term_blocks[term + 1]; ++blk) {
            visit(docs, impacts, decode_impacts(ix, term, blk, docs, impacts));
        }
    }
}

// Adds c[i] to acc[docs[i]] and appends the docs seen for the first time to `touched`; returns
// the new count. Most postings are a doc's first touch, so "if (!seen[d])" would mispredict a
// lot: the slot is always written and the count advances only for a new doc. Everything is a
// parameter (a local): the byte stores to seen[] may alias any memory, so a pointer read through
// a reference or a closure would be reloaded on every posting.
inline std::size_t accumulate(const std::uint32_t* docs, const double* c, std::size_t m, double* acc,
                              std::uint8_t* seen, std::uint32_t* touched, std::size_t n) {
    for (std::size_t i = 0; i < m; ++i) {
        const std::uint32_t d = docs[i];
        touched[n] = d;
        n += seen[d] ^ 1u;
        seen[d] = 1;
        acc[d] += c[i];
    }
    return n;
}

// Leave the scratch accumulator all-zero again, also when decoding throws.
struct SparseReset {
    Scratch& s;
    ~SparseReset() { s.reset_dense(); }
};
struct DenseReset {
    Scratch& s;
    ~DenseReset() { std::fill(s.acc.begin(), s.acc.end(), 0.0); }
};

// Tracks the touched docs, so that the selection and the reset are O(touched).
std::size_t exhaustive_sparse(const IndexView& ix, const QueryPlan& plan, std::size_t k, Scratch& s,
                              std::int64_t* ids, double* scores) {
    SparseReset reset{s};
    double* acc = s.acc.data();
    std::uint8_t* seen = s.seen.data();
    std::uint32_t* touched = s.touched.data();
    // s.n_touched stays exact between blocks (decoding may throw).
    for_each_contribution(ix, plan, [&](const std::uint32_t* docs, const double* c, std::size_t m) {
        s.n_touched = accumulate(docs, c, m, acc, seen, touched, s.n_touched);
    });
    // Select, and reset acc/seen in the same pass.
    const std::size_t n = s.n_touched;
    TopKBuffer best(s.heap, k, n);
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t d = touched[i];
        best.add(acc[d], d);
        acc[d] = 0.0;
        seen[d] = 0;
    }
    s.n_touched = 0;
    return best.finish(ids, scores);
}

// When the postings cover a good part of the corpus: plain acc[d] += c, then a sequential scan
// of every doc (dense_topk.hpp). Touched docs are not tracked, so a doc is a candidate when its
// score is nonzero (a sum starting at +0.0 is never -0.0). Returns SIZE_MAX when that is not
// enough: fewer than k nonzero scores, or a k-th score <= 0 that a touched doc scoring exactly 0
// could beat or tie.
std::size_t exhaustive_dense(const IndexView& ix, const QueryPlan& plan, std::size_t k, Scratch& s,
                             std::int64_t* ids, double* scores) {
    DenseReset reset{s};
    double* acc = s.acc.data();
    for_each_contribution(ix, plan, [acc](const std::uint32_t* docs, const double* c, std::size_t m) {
        for (std::size_t i = 0; i < m; ++i) acc[docs[i]] += c[i];
    });
    const std::size_t n = topk_nonzero(acc, ix.n_docs, k, s.dense_topk, ids, scores);
    if (n < k || !(scores[n - 1] > 0.0)) return SIZE_MAX;
    return n;
}

// Exhaustive scoring over the bound cache, in 16-bit integers: each posting adds its quantized
// bound re-expressed in one unit per query (rounded up), so acc[d] * unit >= the doc's exact score
// and exceeds it by less than `error`. Per posting that is a byte, a table lookup and a 2-byte
// add (no norm, no division, an accumulator a quarter of the doubles' size), and the selection
// scans 8 docs per SSE2 max. The k-th best bound gives a floor that every top-k doc's bound
// reaches; only the docs at or above it are scored exactly, from their tfs, so ids and scores are
// those of exhaustive(). Returns SIZE_MAX when it cannot answer: a term missing from the bound
// cache, or a floor <= 0 (it would not separate untouched docs).
std::size_t exhaustive_bounded(const IndexView& ix, const QueryPlan& plan, std::size_t k, Scratch& s,
                               std::int64_t* ids, double* scores) {
    const std::size_t nt = plan.terms.size();
    // Sums stay <= kMaxSum: each term adds at most (its largest weighted bound / unit) + 2.
    constexpr double kMaxSum = 32767.0;
    if (4.0 * static_cast<double>(nt) >= kMaxSum) return SIZE_MAX;
    auto& entries = s.bounds;
    entries.resize(nt);
    for (std::size_t u = 0; u < nt; ++u) {
        entries[u] = ix.bounds->get(ix, plan.terms[u].term);
        if (entries[u] == nullptr) return SIZE_MAX;
    }
    // A term named m times adds m times its bound, in one pass over its postings (integer sums
    // do not depend on the order they are made in).
    double largest = 0.0;  // the largest possible sum of bounds
    for (std::size_t u = 0; u < nt; ++u) largest += plan.terms[u].multiplicity * 255.0 * entries[u]->quantum;
    if (!(largest > 0.0)) return SIZE_MAX;
    const double unit = largest / (kMaxSum - 2.0 * static_cast<double>(nt) - 1.0);

    s.ensure_bounded(ix.n_docs);
    struct Reset {
        Scratch& s;
        ~Reset() { std::fill(s.acc16.begin(), s.acc16.end(), std::int16_t{0}); }
    } reset{s};
    std::int16_t* acc = s.acc16.data();
    double error = 0.0;
    std::int16_t table[256];  // a step's weighted bound in units, rounded up
    for (std::size_t u = 0; u < nt; ++u) {
        const TermBounds& e = *entries[u];
        const double weight = plan.terms[u].multiplicity;
        for (int step = 0; step < 256; ++step) {
            const double bound = weight * (static_cast<double>(step) * e.quantum);
            double units = std::ceil(bound / unit);
            if (units * unit < bound) units += 1.0;  // the division may round down
            table[step] = static_cast<std::int16_t>(units);
        }
        error += weight * e.quantum + 2.0 * unit;
        const std::uint32_t* docs = e.docs.data();
        const std::uint8_t* steps = e.steps.data();
        for (std::size_t i = 0, m = e.docs.size(); i < m; ++i)
            acc[docs[i]] = static_cast<std::int16_t>(acc[docs[i]] + table[steps[i]]);
    }
    // Processing the docs in ranges that fit a core's L2 (2^14 to 2^18 docs) was no faster at
    // 1.8M docs (1.85-2.24 ms a query against 1.85 ms), so the accumulators are filled in one go.
    s.block_max16.resize(s.acc16.size() / 8);
    block_maxima(acc, 0, s.block_max16.size(), s.block_max16.data());
    const std::int16_t kth = kth_largest_positive(acc, k, s.dense_topk, s.block_max16);
    if (kth <= 0) return SIZE_MAX;  // fewer than k docs with a positive bound
    // Bounds over-estimate by < `error` (plus rounding: slack), so the k best bounds belong to k
    // docs scoring >= kth * unit - error - slack, and every top-k doc's bound is >= that too.
    const double floor = static_cast<double>(kth) * unit - error * (1.0 + 1e-9) - 2.0 * plan.slack;
    if (!(floor > 0.0)) return SIZE_MAX;
    const auto floor_units = static_cast<std::int16_t>(std::max(1.0, std::floor(floor / unit)));

    auto& contrib = s.contrib;
    auto& present = s.present;
    contrib.assign(nt, 0.0);
    present.assign(nt, 0);
    TopKHeap heap(s.heap, k);
    for_each_at_least(acc, ix.n_docs, floor_units, s.block_max16, [&](std::uint32_t d) {
        for (std::size_t u = 0; u < nt; ++u) {
            const TermBounds& e = *entries[u];
            const auto it = std::lower_bound(e.docs.begin(), e.docs.end(), d);
            present[u] = it != e.docs.end() && *it == d;
            if (present[u]) contrib[u] = exact_contribution(ix, plan.terms[u].term, e, it - e.docs.begin());
        }
        double score = 0.0;
        for (std::uint32_t u : plan.positions) {
            if (present[u]) score += contrib[u];
        }
        heap.push({score, d});
    });
    return heap.finish(ids, scores);
}

// Dense pays when the postings are many per doc, and is exact without a second pass when some
// term alone has k docs (with positive idf, they all score > 0). In a per-query sweep over
// SciFact and synthetic corpora (5k-100k docs, k=10 and 100) dense won 93% of the queries, and
// thresholds from postings >= n_docs / 20 to n_docs / 3 were within 0.2% of each other in total.
struct PostingCounts {
    std::uint64_t postings = 0;  // over the query positions
    std::uint64_t max_df = 0;
};

PostingCounts posting_counts(const IndexView& ix, const QueryPlan& plan) {
    PostingCounts c;
    for (std::uint32_t u : plan.positions) {
        const std::uint64_t df = ix.postings->df[plan.terms[u].term];
        c.postings += df;
        c.max_df = std::max(c.max_df, df);
    }
    return c;
}

bool dense_pays(const IndexView& ix, const QueryPlan& plan, std::size_t k) {
    const PostingCounts c = posting_counts(ix, plan);
    return c.max_df >= k && c.postings * 4 >= ix.n_docs;
}

}  // namespace

// Exact impacts fully cached against the bounded path, mean us a query over the 405 SciFact dev
// claims, k=10, min of 3 passes (resampled corpora of benchmarks/resampled_corpus.py):
//   10k docs 22 / 41, 40k 75 / 77, 80k 130 / 143, 160k 213 / 213,
//   367k chunks 536 / 361, 1.8M chunks 4,106 / 1,731 (the exact cache then holds 883 MB).
// Past ~128k docs the double accumulators and 12-byte cached postings lose to 16-bit
// accumulators over 6-byte ones; below, the bounded path's fixed costs (its tables, a pass over
// every doc) are not repaid. Without the exact cache (a full budget) the gap is wider still.
bool prefers_bounded(const IndexView& ix, const QueryPlan& plan, std::size_t k) {
    if (ix.n_docs < kBoundedMinDocs) return false;
    const PostingCounts c = posting_counts(ix, plan);
    // Its fixed cost is a few passes over n_docs accumulators; the exact sparse path pays more
    // a posting (decoding, a norm, a division). 1.8M chunks, 705 SciFact claims, k=10: requiring
    // postings * 4 >= n_docs (as dense_pays) left 12% of the queries on the sparse path and a mean
    // of 2.37 ms a query; postings * 8 leaves 3.5% and 1.89 ms (the bounded path for all: 1.86).
    if (c.max_df < k || c.postings * 8 < ix.n_docs) return false;
    std::size_t missing = 0;  // bytes the bound cache still needs for this query
    for (const QueryTerm& qt : plan.terms) {
        if (ix.bounds->find(qt.term) == nullptr) missing += ix.postings->df[qt.term] * BoundCache::kBytesPerPosting;
    }
    return missing == 0 || ix.bounds->bytes() + missing <= ix.bounds->limit();
}

namespace {

std::size_t exhaustive(const IndexView& ix, const QueryPlan& plan, std::size_t k, Scratch& s,
                       std::int64_t* ids, double* scores, bool bounded) {
    s.ensure_dense(ix.n_docs);
    if (bounded || prefers_bounded(ix, plan, k)) {
        const std::size_t n = exhaustive_bounded(ix, plan, k, s, ids, scores);
        if (n != SIZE_MAX) return n;
    }
    if (dense_pays(ix, plan, k)) {
        const std::size_t n = exhaustive_dense(ix, plan, k, s, ids, scores);
        if (n != SIZE_MAX) return n;
    }
    return exhaustive_sparse(ix, plan, k, s, ids, scores);
}

}  // namespace

std::size_t topk_exhaustive(const IndexView& ix, const QueryPlan& plan, std::size_t k, Scratch& s,
                            std::int64_t* ids, double* scores, bool bounded) {
    return exhaustive(ix, plan, k, s, ids, scores, bounded);
}

void accumulate_scores(const IndexView& ix, const QueryPlan& plan, double* out) {
    for_each_contribution(ix, plan, [out](const std::uint32_t* docs, const double* c, std::size_t m) {
        for (std::size_t i = 0; i < m; ++i) out[docs[i]] += c[i];
    });
}

std::vector<std::int64_t> matching_docs(const IndexView& ix, const QueryPlan& plan) {
    const PostingsView& pv = *ix.postings;
    std::vector<std::uint8_t> mark(ix.n_docs, 0);
    std::uint32_t docs[kBlockSize], tfs[kBlockSize];
    std::size_t count = 0;
    auto mark_all = [&count, m = mark.data()](const std::uint32_t* d, std::size_t n) {
        std::size_t c = count;  // a local: the byte stores may alias anything else
        for (std::size_t i = 0; i < n; ++i) {
            c += m[d[i]] == 0;
            m[d[i]] = 1;
        }
        count = c;
    };
    for (const QueryTerm& qt : plan.terms) {  // unique terms: duplicates add nothing here
        if (const TermImpacts* cached = ix.cache->get(ix, qt.term)) {
            mark_all(cached->docs.data(), cached->docs.size());
            continue;
        }
        for (std::uint64_t blk = pv.term_blocks[qt.term]; blk < pv.term_blocks[qt.term + 1]; ++blk) {
            mark_all(docs, decode_block(pv, qt.term, blk, docs, tfs));
        }
    }
    std::vector<std::int64_t> out;
    out.reserve(count);
    for (std::uint32_t d = 0; d < ix.n_docs; ++d)
        if (mark[d]) out.push_back(d);
    return out;
}

}  // namespace retrieval
