// Building compressed postings incrementally: documents arrive in batches and each (term, tf) of
// a document is appended at once, as the varint pair (doc gap, tf), to that term's own stream.
// Memory then grows with the encoded postings, not with the token stream (build_postings needs
// every token id at once, then 16 bytes a posting on top).
//
// The streams live in a paged arena: fixed-size pages cut into segments, each a small header and
// room for whole pairs; a term's segments grow by half (up to a cap) as its stream grows, so a
// rare term wastes a few bytes, not a vector's slack. Segments are laid out in allocation order,
// which for each term is its stream order: finish() reads the arena page by page and frees each
// page once copied.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "retrieval/array_view.hpp"
#include "retrieval/build.hpp"

namespace retrieval {

class PostingsAccumulator {
public:
    // Appends doc_offsets.size - 1 documents (doc_offsets delimit each one's tokens, as in
    // build_postings); ids never seen before grow the vocabulary. A batch is validated before
    // anything is added (std::invalid_argument), so a rejected batch leaves the accumulator as it was.
    void add_batch(ArrayView<std::uint64_t> doc_offsets, ArrayView<std::uint32_t> tokens);

    // The postings over vocab_size terms (>= vocab_size()), exactly what build_postings makes from
    // the same documents. Empties the accumulator: any later call throws std::runtime_error.
    BuiltPostings finish(std::uint64_t vocab_size);

    std::uint64_t n_docs() const { return doc_lengths_.size(); }
    std::uint64_t vocab_size() const { return terms_.size(); }  // 1 + the largest id added
    std::uint64_t total_tokens() const { return total_tokens_; }
    std::uint64_t stream_bytes() const { return stream_bytes_; }  // encoded pairs
    std::uint64_t arena_bytes() const { return arena_bytes_; }    // segments holding them

private:
    // One 16-byte record a term, which is all an append reads: the arena is only written.
    struct TermState {
        std::uint64_t segment : 48;  // address of its last segment
        std::uint64_t used : 10;     // data bytes written in it
        std::uint64_t level : 6;     // its size class
        std::uint32_t last_doc;      // what the next gap counts from
        std::uint32_t df;
    };

    void check_usable() const;
    void grow_vocab(ArrayView<std::uint32_t> tokens);
    void encode(ArrayView<std::uint64_t> doc_offsets, ArrayView<std::uint32_t> tokens);
    void append_posting(std::uint32_t term, std::uint32_t doc, std::uint32_t tf);
    std::uint64_t new_segment(std::uint32_t term, unsigned level);
    std::uint8_t* at(std::uint64_t address) const;
    void index_blocks(BuiltPostings& out);
    void copy_streams(BuiltPostings& out);
    template <typename Visit>
    void for_each_segment(Visit&& visit, bool release);

    std::vector<std::unique_ptr<std::uint8_t[]>> pages_;
    std::vector<std::uint32_t> page_used_;  // bytes of segments allocated in each page
    std::vector<TermState> terms_;
    std::vector<std::uint32_t> doc_lengths_;
    std::uint64_t total_tokens_ = 0;
    std::uint64_t total_postings_ = 0;
    std::uint64_t stream_bytes_ = 0;
    std::uint64_t arena_bytes_ = 0;
    std::string closed_;  // why the accumulator can no longer be used; empty while it can
};

}  // namespace retrieval
