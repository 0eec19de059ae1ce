#include "retrieval/postings.hpp"

#include <algorithm>

#include "retrieval/varint.hpp"

namespace retrieval {

namespace {
[[noreturn]] void corrupt(std::uint32_t term, std::uint64_t blk, const char* why) {
    throw CorruptIndex("corrupt BM25 postings (term " + std::to_string(term) + ", block " +
                       std::to_string(blk) + "): " + why + "; rebuild the index");
}
}  // namespace

std::uint32_t decode_block(const PostingsView& pv, std::uint32_t term, std::uint64_t blk,
                           std::uint32_t* docs, std::uint32_t* tfs) {
    const std::uint64_t first = pv.term_blocks[term];
    const std::uint64_t j = blk - first;
    const std::uint64_t remaining = pv.df[term] - j * kBlockSize;
    const std::uint32_t n = static_cast<std::uint32_t>(std::min<std::uint64_t>(remaining, kBlockSize));
    const std::uint8_t* p = pv.bytes.data + pv.block_offsets[blk];
    const std::uint8_t* end = pv.bytes.data + pv.block_offsets[blk + 1];
    std::uint64_t doc = (j == 0) ? 0 : pv.block_last_doc[blk - 1];
    const std::uint64_t last = pv.block_last_doc[blk];
    if (pv.bytes.data + pv.bytes.size - p >= static_cast<std::ptrdiff_t>(n) * 2 * kMaxVarintBytes) {
        // Fast path: every posting is readable without bounds checks (a corrupt block may read
        // past its own end, never past the buffer). The checks are folded into flags and made
        // once: ids only grow (gaps >= 1), so ending exactly on `last` keeps them all <= last.
        std::uint32_t min_gap = j == 0 ? 0 : 1;  // doc 0 may open a term with a gap of 0
        bool bad_gap = false, bad_tf = false;
        for (std::uint32_t i = 0; i < n; ++i) {
            const std::uint32_t gap = get_varint_unchecked(p);
            const std::uint32_t tf = get_varint_unchecked(p);
            bad_gap |= gap < min_gap;
            bad_tf |= tf == 0;
            min_gap = 1;
            doc += gap;
            docs[i] = static_cast<std::uint32_t>(doc);
            tfs[i] = tf;
        }
        if (bad_gap) corrupt(term, blk, "doc ids not increasing");
        if (bad_tf) corrupt(term, blk, "zero term frequency");
    } else {
        for (std::uint32_t i = 0; i < n; ++i) {
            std::uint32_t gap, tf;
            if (!get_varint(p, end, gap) || !get_varint(p, end, tf)) corrupt(term, blk, "truncated block");
            if (gap == 0 && !(i == 0 && j == 0)) corrupt(term, blk, "doc ids not increasing");
            if (tf == 0) corrupt(term, blk, "zero term frequency");
            doc += gap;
            if (doc > last) corrupt(term, blk, "doc id beyond the block's last id");
            docs[i] = static_cast<std::uint32_t>(doc);
            tfs[i] = tf;
        }
    }
    if (p != end || doc != last) corrupt(term, blk, "block does not end where the skip table says");
    return n;
}

}  // namespace retrieval
