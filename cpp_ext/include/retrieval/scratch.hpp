// Per-query working memory, pooled so that concurrent queries (GIL released, or topk_batch
// workers) each get their own and repeated queries do not reallocate O(n_docs) buffers.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "retrieval/postings.hpp"
#include "retrieval/topk_heap.hpp"

namespace retrieval {

struct Scratch {
    // Exhaustive: dense accumulator plus the list of touched docs, so resetting is O(touched).
    std::vector<double> acc;
    std::vector<std::uint8_t> seen;
    std::vector<std::uint32_t> touched;
    // MaxScore: one cursor per query term, with per-term contribution for the current doc.
    std::vector<TermCursor> cursors;
    std::vector<std::uint32_t> order;
    std::vector<double> prefix, contrib;
    std::vector<std::uint8_t> present;
    std::vector<Hit> heap;

    void ensure_dense(std::size_t n_docs) {
        if (acc.size() != n_docs) {
            acc.assign(n_docs, 0.0);
            seen.assign(n_docs, 0);
            touched.clear();
        }
    }
    // Restores acc/seen to all-zero after a query (also after an exception).
    void reset_dense() {
        for (std::uint32_t d : touched) {
            acc[d] = 0.0;
            seen[d] = 0;
        }
        touched.clear();
    }
};

class ScratchPool {
public:
    class Lease {
    public:
        Lease(ScratchPool& pool, std::unique_ptr<Scratch> s) : pool_(pool), s_(std::move(s)) {}
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease() { pool_.release(std::move(s_)); }
        Scratch& operator*() { return *s_; }
        Scratch* operator->() { return s_.get(); }

    private:
        ScratchPool& pool_;
        std::unique_ptr<Scratch> s_;
    };

    Lease acquire() {
        std::lock_guard<std::mutex> lock(mu_);
        if (free_.empty()) return Lease(*this, std::make_unique<Scratch>());
        std::unique_ptr<Scratch> s = std::move(free_.back());
        free_.pop_back();
        return Lease(*this, std::move(s));
    }

private:
    void release(std::unique_ptr<Scratch> s) {
        std::lock_guard<std::mutex> lock(mu_);
        free_.push_back(std::move(s));
    }

    std::mutex mu_;
    std::vector<std::unique_ptr<Scratch>> free_;
};

}  // namespace retrieval
