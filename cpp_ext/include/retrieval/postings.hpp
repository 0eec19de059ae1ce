// Compressed postings: per term, doc-id ordered, in blocks of kBlockSize postings. A block is
// varint pairs (doc gap, tf); the gap of a block's first posting is taken from the previous
// block's last doc id (or from 0 for a term's first block), so any block decodes on its own.
// The skip table (last doc id, byte offset, max contribution per block) lets DAAT cursors jump
// over blocks without decoding them (term_cursor.hpp).
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

}  // namespace retrieval
