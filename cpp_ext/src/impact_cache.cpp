#include "retrieval/impact_cache.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

#include "retrieval/query.hpp"

#if defined(__SSE2__)  // every x86-64 CPU: no extra compiler flag needed
#include <emmintrin.h>
#endif

namespace retrieval {

namespace {
// contribution() for each posting. The division dominates; SSE2 does two at a time with the very
// same IEEE operations in the same order (each correctly rounded), so the doubles are identical.
template <Variant V>
void contributions(const IndexView& ix, std::uint32_t term, const std::uint32_t* docs, const std::uint32_t* tfs,
                   std::uint32_t n, double* out) {
    const double k1p1 = ix.params.k1 + 1.0;
    const double idf = ix.idf[term];
    const double* norms = ix.norms.data;
    std::uint32_t i = 0;
#if defined(__SSE2__)
    const __m128d v_idf = _mm_set1_pd(idf), v_k1p1 = _mm_set1_pd(k1p1);
    for (; i + 2 <= n; i += 2) {
        const __m128d t = _mm_set_pd(static_cast<double>(tfs[i + 1]), static_cast<double>(tfs[i]));
        const __m128d norm = _mm_set_pd(norms[docs[i + 1]], norms[docs[i]]);
        const __m128d num = V == Variant::Okapi ? _mm_mul_pd(t, v_k1p1) : t;
        _mm_storeu_pd(out + i, _mm_mul_pd(v_idf, _mm_div_pd(num, _mm_add_pd(t, norm))));
    }
#endif
    for (; i < n; ++i) out[i] = contribution<V>(idf, k1p1, tfs[i], norms[docs[i]]);
}

void block_contributions(const IndexView& ix, std::uint32_t term, const std::uint32_t* docs, const std::uint32_t* tfs,
                         std::uint32_t n, double* out) {
    if (ix.params.variant == Variant::Okapi) {
        contributions<Variant::Okapi>(ix, term, docs, tfs, n, out);
    } else {
        contributions<Variant::Lucene>(ix, term, docs, tfs, n, out);
    }
}
}  // namespace

std::uint32_t decode_impacts(const IndexView& ix, std::uint32_t term, std::uint64_t blk, std::uint32_t* docs,
                             double* impacts) {
    std::uint32_t tfs[kBlockSize];
    const std::uint32_t n = decode_block(*ix.postings, term, blk, docs, tfs);
    block_contributions(ix, term, docs, tfs, n, impacts);
    return n;
}

const TermImpacts* ImpactCache::get(const IndexView& ix, std::uint32_t term) {
    const std::size_t df = ix.postings->df[term];
    return TermCache::get(term, df * kBytesPerPosting, [&] {
        auto entry = std::make_unique<TermImpacts>();
        entry->docs.resize(df);  // each block is decoded straight into place
        entry->impacts.resize(df);
        const PostingsView& pv = *ix.postings;
        std::size_t at = 0;
        for (std::uint64_t blk = pv.term_blocks[term]; blk < pv.term_blocks[term + 1]; ++blk) {
            at += decode_impacts(ix, term, blk, entry->docs.data() + at, entry->impacts.data() + at);
        }
        return entry;
    });
}

double exact_contribution(const IndexView& ix, std::uint32_t term, const TermBounds& e, std::size_t at) {
    std::uint32_t tf = e.tfs[at];
    if (tf == kTfEscape) {
        std::uint32_t docs[kBlockSize], tfs[kBlockSize];
        decode_block(*ix.postings, term, ix.postings->term_blocks[term] + at / kBlockSize, docs, tfs);
        tf = tfs[at % kBlockSize];
    }
    const double k1p1 = ix.params.k1 + 1.0, idf = ix.idf[term], norm = ix.norms[e.docs[at]];
    return ix.params.variant == Variant::Okapi ? contribution<Variant::Okapi>(idf, k1p1, tf, norm)
                                               : contribution<Variant::Lucene>(idf, k1p1, tf, norm);
}

double bound_quantum(double term_max) {
    if (!(term_max > 0.0)) return 0.0;  // no positive contribution: every bound is 0
    double q = term_max / 255.0;
    while (255.0 * q < term_max) q = std::nextafter(q, HUGE_VAL);
    return q;
}

std::uint8_t bound_step(double c, double quantum) {
    if (!(c > 0.0)) return 0;  // 0 * quantum = 0 >= c
    double step = std::min(std::ceil(c / quantum), 255.0);
    while (step < 255.0 && step * quantum < c) step += 1.0;  // the division may round down
    return static_cast<std::uint8_t>(step);
}

const TermBounds* BoundCache::get(const IndexView& ix, std::uint32_t term) {
    const std::size_t df = ix.postings->df[term];
    return TermCache::get(term, df * kBytesPerPosting, [&] {
        auto entry = std::make_unique<TermBounds>();
        entry->docs.resize(df);
        entry->steps.resize(df);
        entry->tfs.resize(df);
        entry->quantum = bound_quantum(ix.term_max[term]);
        const double quantum = entry->quantum;
        const PostingsView& pv = *ix.postings;
        std::uint32_t tfs[kBlockSize];
        double impacts[kBlockSize];
        std::size_t at = 0;
        for (std::uint64_t blk = pv.term_blocks[term]; blk < pv.term_blocks[term + 1]; ++blk) {
            std::uint32_t* docs = entry->docs.data() + at;
            const std::uint32_t n = decode_block(pv, term, blk, docs, tfs);
            block_contributions(ix, term, docs, tfs, n, impacts);
            for (std::uint32_t i = 0; i < n; ++i) {
                entry->steps[at + i] = bound_step(impacts[i], quantum);
                entry->tfs[at + i] = static_cast<std::uint8_t>(std::min<std::uint32_t>(tfs[i], kTfEscape));
            }
            at += n;
        }
        return entry;
    });
}

}  // namespace retrieval
