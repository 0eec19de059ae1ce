// Per-query working memory, pooled so that concurrent queries (GIL released, or topk_batch
// workers) each get their own and repeated queries do not reallocate O(n_docs) buffers.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "retrieval/dense_topk.hpp"
#include "retrieval/postings.hpp"
#include "retrieval/query.hpp"
#include "retrieval/term_cursor.hpp"
#include "retrieval/topk_heap.hpp"

namespace retrieval {

struct Scratch {
    // Exhaustive: dense accumulator plus the list of touched docs, so resetting is O(touched).
    // `touched` has room for every doc (+1: appends are branchless, see exhaustive.cpp); its
    // first n_touched entries are valid.
    std::vector<double> acc;
    std::vector<std::uint8_t> seen;
    std::vector<std::uint32_t> touched;
    std::size_t n_touched = 0;
    // MaxScore: one cursor per query term, with per-term contribution for the current doc.
    std::vector<TermCursor> cursors;
    std::vector<std::uint32_t> order, cursor_of;
    std::vector<double> prefix, contrib;
    std::vector<std::uint8_t> present;
    std::vector<Hit> heap;
    QueryPlan plan;
    // Bounded exhaustive: 16-bit accumulators (padded to whole 8-doc blocks), their block maxima,
    // and the bound-cache entries of the query's unique terms.
    std::vector<std::int16_t> acc16, block_max16;
    std::vector<const TermBounds*> bounds;
    DenseTopKScratch dense_topk;

    void ensure_dense(std::size_t n_docs) {
        if (acc.size() != n_docs) {
            acc.assign(n_docs, 0.0);
            seen.assign(n_docs, 0);
            touched.assign(n_docs + 1, 0);
            n_touched = 0;
        }
    }
    void ensure_bounded(std::size_t n_docs) {
        const std::size_t padded = (n_docs + 7) / 8 * 8;
        if (acc16.size() != padded) acc16.assign(padded, 0);
    }
    // Restores acc/seen to all-zero after a query (also after an exception).
    void reset_dense() {
        for (std::size_t i = 0; i < n_touched; ++i) {
            acc[touched[i]] = 0.0;
            seen[touched[i]] = 0;
        }
        n_touched = 0;
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
