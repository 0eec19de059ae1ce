// Decoded postings of the terms queries use, in two forms (each a TermCache with its own budget):
//
//  * ImpactCache (exact): doc ids plus each posting's exact contribution (computed by
//    contribution(), so the doubles are the ones scoring would compute). Term-at-a-time scoring
//    then skips varint decoding, the norm lookup and the division. 12 bytes a posting.
//  * BoundCache (quantized): doc ids, each posting's contribution rounded *up* to one of 256
//    steps of the term's maximum (so step * quantum >= the exact contribution), and its tf
//    (255 = "255 or more, decode the block"). MaxScore prunes on the bounds without touching the
//    norms, and computes the exact score from the tfs only for the documents that survive, so its
//    results stay bit-identical to the exhaustive path. 6 bytes a posting.
#pragma once

#include <cstdint>
#include <vector>

#include "retrieval/postings.hpp"
#include "retrieval/term_cache.hpp"

namespace retrieval {

struct IndexView;

// Decodes block `blk` of `term` into docs and each posting's contribution (room for kBlockSize
// each); returns the count. Used for terms the cache does not hold, and to fill it.
std::uint32_t decode_impacts(const IndexView& ix, std::uint32_t term, std::uint64_t blk, std::uint32_t* docs,
                             double* impacts);

struct TermImpacts {
    std::vector<std::uint32_t> docs;
    std::vector<double> impacts;
};

constexpr std::uint8_t kTfEscape = 255;  // a tf this large is read from the compressed block

struct TermBounds {
    std::vector<std::uint32_t> docs;
    std::vector<std::uint8_t> steps;  // bound = steps[i] * quantum >= exact contribution
    std::vector<std::uint8_t> tfs;    // min(tf, kTfEscape)
    double quantum = 0.0;
};

class ImpactCache : public TermCache<TermImpacts> {
public:
    static constexpr std::size_t kBytesPerPosting = sizeof(std::uint32_t) + sizeof(double);
    static constexpr std::size_t kDefaultLimit = std::size_t{256} << 20;

    explicit ImpactCache(std::size_t vocab_size) : TermCache(vocab_size, kDefaultLimit) {}
    // The term's impacts, filled now if the budget allows; nullptr when it does not.
    const TermImpacts* get(const IndexView& ix, std::uint32_t term);
};

class BoundCache : public TermCache<TermBounds> {
public:
    static constexpr std::size_t kBytesPerPosting = sizeof(std::uint32_t) + 2;
    // Enough for every posting of a 1M-document corpus of ~130M postings.
    static constexpr std::size_t kDefaultLimit = std::size_t{1} << 30;

    explicit BoundCache(std::size_t vocab_size) : TermCache(vocab_size, kDefaultLimit) {}
    // The term's bounds, filled now if the budget allows; nullptr when it does not.
    const TermBounds* get(const IndexView& ix, std::uint32_t term);
};

// The exact contribution of posting `at` of `term`'s bound-cache entry `e`: computed from its tf
// (read back from the compressed block when it is kTfEscape or more) and its doc's norm, so it is
// the double every exact path computes.
double exact_contribution(const IndexView& ix, std::uint32_t term, const TermBounds& e, std::size_t at);

// The quantum of a term whose largest contribution is `term_max`: 255 * quantum >= term_max.
double bound_quantum(double term_max);
// The smallest step whose bound step * quantum is >= c (c <= term_max).
std::uint8_t bound_step(double c, double quantum);

}  // namespace retrieval
