// Decoded postings of the terms queries use: doc ids plus each posting's exact contribution
// (computed by contribution(), so the doubles are the ones scoring would compute). Term-at-a-time
// scoring then skips varint decoding and the division. Filled lazily, term by term, up to a byte
// budget; once the budget is spent, further terms are decoded on every query as before.
//
// Thread safety: any number of queries may look up and fill concurrently. A filled entry is
// published with a release store and never changes or moves until the cache is destroyed.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

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

class ImpactCache {
public:
    // 12 bytes a posting (4 for the doc id, 8 for the contribution).
    static constexpr std::size_t kBytesPerPosting = sizeof(std::uint32_t) + sizeof(double);
    static constexpr std::size_t kDefaultLimit = std::size_t{256} << 20;

    explicit ImpactCache(std::size_t vocab_size) : slots_(new std::atomic<const TermImpacts*>[vocab_size]) {
        for (std::size_t t = 0; t < vocab_size; ++t) slots_[t].store(nullptr, std::memory_order_relaxed);
    }

    // The term's impacts, filled now if the budget allows; nullptr when it does not.
    const TermImpacts* get(const IndexView& ix, std::uint32_t term) {
        const TermImpacts* hit = slots_[term].load(std::memory_order_acquire);
        return hit != nullptr ? hit : fill(ix, term);
    }

    std::size_t bytes() const { return used_.load(std::memory_order_relaxed); }
    std::size_t limit() const { return limit_.load(std::memory_order_relaxed); }
    // Applies to later fills only; entries already made stay.
    void set_limit(std::size_t bytes) { limit_.store(bytes, std::memory_order_relaxed); }

private:
    const TermImpacts* fill(const IndexView& ix, std::uint32_t term);
    bool reserve(std::size_t bytes);

    std::unique_ptr<std::atomic<const TermImpacts*>[]> slots_;  // [vocab]
    std::atomic<std::size_t> used_{0}, limit_{kDefaultLimit};
    std::mutex mu_;                                   // guards owned_
    std::vector<std::unique_ptr<TermImpacts>> owned_;
};

}  // namespace retrieval
