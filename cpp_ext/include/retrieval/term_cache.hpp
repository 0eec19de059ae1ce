// A per-term cache filled lazily, term by term, up to a byte budget; once the budget is spent,
// further terms are not cached (callers fall back to decoding on every query).
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

template <typename Entry>
class TermCache {
public:
    TermCache(std::size_t vocab_size, std::size_t limit)
        : slots_(new std::atomic<const Entry*>[vocab_size]), limit_(limit) {
        for (std::size_t t = 0; t < vocab_size; ++t) slots_[t].store(nullptr, std::memory_order_relaxed);
    }

    // The term's entry if it is filled, without filling it.
    const Entry* find(std::uint32_t term) const { return slots_[term].load(std::memory_order_acquire); }

    // The term's entry, made now by make() (returning a std::unique_ptr<Entry>) when `bytes` fit
    // in the budget; nullptr when they do not. An exception from make() gives the bytes back.
    template <typename Make>
    const Entry* get(std::uint32_t term, std::size_t bytes, Make&& make) {
        if (const Entry* hit = find(term)) return hit;
        if (!reserve(bytes)) return nullptr;
        std::unique_ptr<Entry> entry;
        try {
            entry = make();
        } catch (...) {  // corrupt block or out of memory: give the budget back and report
            used_.fetch_sub(bytes, std::memory_order_relaxed);
            throw;
        }
        std::lock_guard<std::mutex> lock(mu_);
        if (const Entry* other = find(term)) {
            used_.fetch_sub(bytes, std::memory_order_relaxed);  // another query filled it first
            return other;
        }
        owned_.push_back(std::move(entry));
        slots_[term].store(owned_.back().get(), std::memory_order_release);
        return owned_.back().get();
    }

    std::size_t bytes() const { return used_.load(std::memory_order_relaxed); }
    std::size_t limit() const { return limit_.load(std::memory_order_relaxed); }
    // Applies to later fills only; entries already made stay.
    void set_limit(std::size_t bytes) { limit_.store(bytes, std::memory_order_relaxed); }

private:
    bool reserve(std::size_t bytes) {
        std::size_t used = used_.load(std::memory_order_relaxed);
        do {
            if (bytes > limit() || used > limit() - bytes) return false;
        } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
        return true;
    }

    std::unique_ptr<std::atomic<const Entry*>[]> slots_;  // [vocab]
    std::atomic<std::size_t> used_{0}, limit_;
    std::mutex mu_;  // guards owned_
    std::vector<std::unique_ptr<Entry>> owned_;
};

}  // namespace retrieval
