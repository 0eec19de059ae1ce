// Walks one term's postings in doc-id order, block by block, for document-at-a-time search.
// A cursor reads one of three sources, chosen when it is reset:
//   * the exact impact cache: doc ids and exact contributions, read in place;
//   * the bound cache: doc ids, quantized upper bounds and tfs, read in place; the exact
//     contribution is computed (from the tf and the doc's norm) only when asked for;
//   * neither (budgets spent): each block is decoded into the cursor's own buffers, exactly.
// bound() is always >= exact(), and equal to it for the exact sources. The hot methods are
// inline: they run once per posting inside the MaxScore loop.
#pragma once

#include <algorithm>
#include <cstdint>

#include "retrieval/impact_cache.hpp"
#include "retrieval/postings.hpp"
#include "retrieval/query.hpp"

namespace retrieval {

class TermCursor {
public:
    TermCursor() = default;
    // Copies point into their own buffers, not into the source's.
    TermCursor(const TermCursor& o) { *this = o; }
    TermCursor& operator=(const TermCursor& o) {
        if (this == &o) return *this;
        std::copy(o.buf_docs_, o.buf_docs_ + kBlockSize, buf_docs_);
        std::copy(o.buf_impacts_, o.buf_impacts_ + kBlockSize, buf_impacts_);
        ix_ = o.ix_, cached_ = o.cached_, bounded_ = o.bounded_, term_ = o.term_;
        steps_ = o.steps_, quantum_ = o.quantum_;
        blk_ = o.blk_, first_blk_ = o.first_blk_, blk_end_ = o.blk_end_, decoded_ = o.decoded_;
        pos_ = o.pos_, n_ = o.n_, doc_ = o.doc_, stale_ = o.stale_;
        const bool own = o.docs_ == o.buf_docs_;
        docs_ = own ? buf_docs_ : o.docs_;
        impacts_ = own ? buf_impacts_ : o.impacts_;
        return *this;
    }

    // Starts on `term`'s first posting (in place: a cursor is large). With use_bounds, a term
    // the exact cache lacks is read from the bound cache (filled now if the budget allows). May
    // throw CorruptIndex like decoding.
    void reset(const IndexView& ix, std::uint32_t term, bool use_bounds) {
        ix_ = &ix;
        cached_ = ix.cache->find(term);
        bounded_ = (cached_ == nullptr && use_bounds) ? ix.bounds->get(ix, term) : nullptr;
        if (cached_ == nullptr && bounded_ == nullptr) cached_ = ix.cache->get(ix, term);
        quantum_ = bounded_ != nullptr ? bounded_->quantum : 0.0;
        term_ = term;
        blk_ = first_blk_ = ix.postings->term_blocks[term];
        blk_end_ = ix.postings->term_blocks[term + 1];
        decoded_ = ~0ull;
        pos_ = n_ = 0;
        doc_ = kEndDoc;
        stale_ = false;
        if (blk_ < blk_end_) {
            load(blk_);
            doc_ = docs_[0];
        }
    }

    std::uint32_t doc() const { return doc_; }  // kEndDoc when exhausted

    // An upper bound of the current posting's contribution (cheap: no norm lookup).
    double bound() const {
        return bounded_ != nullptr ? static_cast<double>(steps_[pos_]) * quantum_ : impacts_[pos_];
    }

    // The current posting's exact contribution: the double exhaustive scoring computes.
    double exact() const {
        if (bounded_ == nullptr) return impacts_[pos_];
        return exact_contribution(*ix_, term_, *bounded_, (blk_ - first_blk_) * kBlockSize + pos_);
    }

    void next() {
        if (++pos_ < n_) {
            doc_ = docs_[pos_];
            return;
        }
        if (++blk_ >= blk_end_) {
            doc_ = kEndDoc;
            return;
        }
        load(blk_);
        doc_ = docs_[0];
    }

    // Moves to the first posting with doc id >= target, skipping whole blocks via the skip table.
    void next_geq(std::uint32_t target) {
        if (!stale_ && doc_ >= target) return;
        stale_ = false;
        const std::uint32_t* last = ix_->postings->block_last_doc.data;
        while (blk_ < blk_end_ && last[blk_] < target) ++blk_;
        if (blk_ == blk_end_) {
            doc_ = kEndDoc;
            return;
        }
        if (decoded_ != blk_) load(blk_);
        while (docs_[pos_] < target) ++pos_;  // stops: the block's last id is >= target
        doc_ = docs_[pos_];
    }

    // Without decoding: moves to the first block whose last doc id >= target and returns its max
    // contribution, or 0.0 when no such block is left (used only as an upper bound).
    double block_max_geq(std::uint32_t target) {
        const std::uint32_t* last = ix_->postings->block_last_doc.data;
        if (blk_ < blk_end_ && last[blk_] < target) {
            do ++blk_;
            while (blk_ < blk_end_ && last[blk_] < target);
            stale_ = true;
        }
        return blk_ < blk_end_ ? ix_->postings->block_max[blk_] : 0.0;
    }

private:
    void load(std::uint64_t blk) {
        const std::uint64_t at = (blk - first_blk_) * kBlockSize;
        if (bounded_ != nullptr) {
            n_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(bounded_->docs.size() - at, kBlockSize));
            docs_ = bounded_->docs.data() + at;
            steps_ = bounded_->steps.data() + at;
        } else if (cached_ != nullptr) {
            n_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(cached_->docs.size() - at, kBlockSize));
            docs_ = cached_->docs.data() + at;
            impacts_ = cached_->impacts.data() + at;
        } else {
            n_ = decode_impacts(*ix_, term_, blk, buf_docs_, buf_impacts_);
            docs_ = buf_docs_;
            impacts_ = buf_impacts_;
        }
        decoded_ = blk;
        pos_ = 0;
    }

    const IndexView* ix_ = nullptr;
    const TermImpacts* cached_ = nullptr;
    const TermBounds* bounded_ = nullptr;
    const std::uint32_t* docs_ = nullptr;  // the current block: in a cache or in buf_docs_
    const double* impacts_ = nullptr;
    const std::uint8_t* steps_ = nullptr;
    double quantum_ = 0.0;
    std::uint32_t term_ = 0;
    std::uint64_t blk_ = 0, first_blk_ = 0, blk_end_ = 0, decoded_ = ~0ull;
    std::uint32_t pos_ = 0, n_ = 0;
    std::uint32_t doc_ = kEndDoc;
    bool stale_ = false;  // blk_ was moved by block_max_geq; doc_ is behind
    std::uint32_t buf_docs_[kBlockSize];
    double buf_impacts_[kBlockSize];
};

}  // namespace retrieval
