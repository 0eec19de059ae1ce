#include "retrieval/impact_cache.hpp"

#include "retrieval/query.hpp"

#if defined(__SSE2__)  // every x86-64 CPU: no extra compiler flag needed
#include <emmintrin.h>
#endif

namespace retrieval {

bool ImpactCache::reserve(std::size_t bytes) {
    std::size_t used = used_.load(std::memory_order_relaxed);
    do {
        if (bytes > limit() || used > limit() - bytes) return false;
    } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    return true;
}

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
}  // namespace

std::uint32_t decode_impacts(const IndexView& ix, std::uint32_t term, std::uint64_t blk, std::uint32_t* docs,
                             double* impacts) {
    std::uint32_t tfs[kBlockSize];
    const std::uint32_t n = decode_block(*ix.postings, term, blk, docs, tfs);
    if (ix.params.variant == Variant::Okapi) {
        contributions<Variant::Okapi>(ix, term, docs, tfs, n, impacts);
    } else {
        contributions<Variant::Lucene>(ix, term, docs, tfs, n, impacts);
    }
    return n;
}

const TermImpacts* ImpactCache::fill(const IndexView& ix, std::uint32_t term) {
    const std::size_t df = ix.postings->df[term];
    const std::size_t bytes = df * kBytesPerPosting;
    if (!reserve(bytes)) return nullptr;
    try {
        auto entry = std::make_unique<TermImpacts>();
        entry->docs.resize(df);  // each block is decoded straight into place
        entry->impacts.resize(df);
        const PostingsView& pv = *ix.postings;
        std::size_t at = 0;
        for (std::uint64_t blk = pv.term_blocks[term]; blk < pv.term_blocks[term + 1]; ++blk) {
            at += decode_impacts(ix, term, blk, entry->docs.data() + at, entry->impacts.data() + at);
        }
        std::lock_guard<std::mutex> lock(mu_);
        if (const TermImpacts* other = slots_[term].load(std::memory_order_acquire)) {
            used_.fetch_sub(bytes, std::memory_order_relaxed);  // another query filled it first
            return other;
        }
        owned_.push_back(std::move(entry));
        slots_[term].store(owned_.back().get(), std::memory_order_release);
        return owned_.back().get();
    } catch (...) {  // corrupt block or out of memory: give the budget back and report
        used_.fetch_sub(bytes, std::memory_order_relaxed);
        throw;
    }
}

}  // namespace retrieval
