// Compressed postings: per term, doc-id ordered, in blocks of kBlockSize postings. A block is
// varint pairs (doc gap, tf); the gap of a block's first posting is taken from the previous
// block's last doc id (or from 0 for a term's first block), so any block decodes on its own.
// The skip table (last doc id, byte offset, max contribution per block) lets DAAT cursors jump
// over blocks without decoding them.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "retrieval/array_view.hpp"

namespace retrieval {

constexpr std::uint32_t kBlockSize = 128;
constexpr std::uint32_t kEndDoc = 0xFFFFFFFFu;  // cursor exhausted

// Thrown when postings bytes disagree with their skip table (a corrupt or doctored file).
struct CorruptIndex : std::runtime_error {
    explicit CorruptIndex(const std::string& what) : std::runtime_error(what) {}
};

inline std::uint64_t blocks_for(std::uint64_t df) { return (df + kBlockSize - 1) / kBlockSize; }

struct PostingsView {
    ArrayView<std::uint32_t> df;              // [vocab]
    ArrayView<std::uint64_t> term_blocks;     // [vocab + 1] first block of each term
    ArrayView<std::uint32_t> block_last_doc;  // [blocks]
    ArrayView<std::uint64_t> block_offsets;   // [blocks + 1] byte offset of each block
    ArrayView<double> block_max;              // [blocks] max contribution in the block
    ArrayView<std::uint8_t> bytes;            // the encoded postings
};

// Decodes block `blk` of `term` into docs/tfs (room for kBlockSize each); returns the count.
// Checks everything that keeps later reads in bounds (count, byte range, increasing ids, last id).
std::uint32_t decode_block(const PostingsView& pv, std::uint32_t term, std::uint64_t blk,
                           std::uint32_t* docs, std::uint32_t* tfs);

// Walks one term's postings in doc-id order, decoding lazily block by block. The hot methods are
// inline: they run once per posting inside the MaxScore loop.
class TermCursor {
public:
    TermCursor() = default;
    TermCursor(const PostingsView* pv, std::uint32_t term)
        : pv_(pv), term_(term), blk_(pv->term_blocks[term]), blk_end_(pv->term_blocks[term + 1]) {
        if (blk_ < blk_end_) {
            load(blk_);
            doc_ = docs_[0];
        }
    }

    std::uint32_t doc() const { return doc_; }  // kEndDoc when exhausted
    std::uint32_t tf() const { return tfs_[pos_]; }

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
        const std::uint32_t* last = pv_->block_last_doc.data;
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
        const std::uint32_t* last = pv_->block_last_doc.data;
        if (blk_ < blk_end_ && last[blk_] < target) {
            do ++blk_;
            while (blk_ < blk_end_ && last[blk_] < target);
            stale_ = true;
        }
        return blk_ < blk_end_ ? pv_->block_max[blk_] : 0.0;
    }

private:
    void load(std::uint64_t blk) {
        n_ = decode_block(*pv_, term_, blk, docs_, tfs_);
        decoded_ = blk;
        pos_ = 0;
    }

    const PostingsView* pv_ = nullptr;
    std::uint32_t term_ = 0;
    std::uint64_t blk_ = 0, blk_end_ = 0, decoded_ = ~0ull;
    std::uint32_t pos_ = 0, n_ = 0;
    std::uint32_t doc_ = kEndDoc;
    bool stale_ = false;  // blk_ was moved by block_max_geq; doc_ is behind
    std::uint32_t docs_[kBlockSize];
    std::uint32_t tfs_[kBlockSize];
};

}  // namespace retrieval
