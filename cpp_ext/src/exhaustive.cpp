// Term-at-a-time scoring: exhaustive top-k, dense scores and the matching set.
#include <algorithm>

#include "retrieval/search.hpp"

namespace retrieval {

namespace {

// Calls visit(doc, contribution) for every posting of every query position, in query order.
template <Variant V, typename Visit>
void for_each_contribution(const IndexView& ix, const QueryPlan& plan, Visit&& visit) {
    const PostingsView& pv = *ix.postings;
    const double k1p1 = ix.params.k1 + 1.0;
    const double* norms = ix.norms.data;
    std::uint32_t docs[kBlockSize], tfs[kBlockSize];
    for (std::uint32_t u : plan.positions) {
        const QueryTerm& qt = plan.terms[u];
        for (std::uint64_t blk = pv.term_blocks[qt.term]; blk < pv.term_blocks[qt.term + 1]; ++blk) {
            const std::uint32_t n = decode_block(pv, qt.term, blk, docs, tfs);
            for (std::uint32_t i = 0; i < n; ++i) {
                visit(docs[i], contribution<V>(qt.idf, k1p1, tfs[i], norms[docs[i]]));
            }
        }
    }
}

// Leaves the scratch accumulator all-zero again, also when decoding throws.
struct DenseReset {
    Scratch& s;
    ~DenseReset() { s.reset_dense(); }
};

template <Variant V>
std::size_t exhaustive(const IndexView& ix, const QueryPlan& plan, std::size_t k, Scratch& s,
                       std::int64_t* ids, double* scores) {
    s.ensure_dense(ix.n_docs);
    DenseReset reset{s};
    double* acc = s.acc.data();
    std::uint8_t* seen = s.seen.data();
    auto& touched = s.touched;
    for_each_contribution<V>(ix, plan, [&](std::uint32_t d, double c) {
        if (!seen[d]) {
            seen[d] = 1;
            touched.push_back(d);
        }
        acc[d] += c;
    });
    TopKHeap heap(s.heap, k);
    for (std::uint32_t d : touched) heap.push({acc[d], d});
    return heap.finish(ids, scores);
}

}  // namespace

std::size_t topk_exhaustive(const IndexView& ix, const QueryPlan& plan, std::size_t k, Scratch& s,
                            std::int64_t* ids, double* scores) {
    if (ix.params.variant == Variant::Okapi) return exhaustive<Variant::Okapi>(ix, plan, k, s, ids, scores);
    return exhaustive<Variant::Lucene>(ix, plan, k, s, ids, scores);
}

void accumulate_scores(const IndexView& ix, const QueryPlan& plan, double* out) {
    auto add = [out](std::uint32_t d, double c) { out[d] += c; };
    if (ix.params.variant == Variant::Okapi) {
        for_each_contribution<Variant::Okapi>(ix, plan, add);
    } else {
        for_each_contribution<Variant::Lucene>(ix, plan, add);
    }
}

std::vector<std::int64_t> matching_docs(const IndexView& ix, const QueryPlan& plan) {
    const PostingsView& pv = *ix.postings;
    std::vector<std::uint8_t> mark(ix.n_docs, 0);
    std::uint32_t docs[kBlockSize], tfs[kBlockSize];
    std::size_t count = 0;
    for (const QueryTerm& qt : plan.terms) {  // unique terms: duplicates add nothing here
        for (std::uint64_t blk = pv.term_blocks[qt.term]; blk < pv.term_blocks[qt.term + 1]; ++blk) {
            const std::uint32_t n = decode_block(pv, qt.term, blk, docs, tfs);
            for (std::uint32_t i = 0; i < n; ++i) {
                count += mark[docs[i]] == 0;
                mark[docs[i]] = 1;
            }
        }
    }
    std::vector<std::int64_t> out;
    out.reserve(count);
    for (std::uint32_t d = 0; d < ix.n_docs; ++d)
        if (mark[d]) out.push_back(d);
    return out;
}

}  // namespace retrieval
