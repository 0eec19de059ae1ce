// Building compressed postings from tokenized documents (ids already mapped by the caller).
#pragma once

#include <cstdint>
#include <vector>

#include "retrieval/array_view.hpp"

namespace retrieval {

struct BuiltPostings {
    std::vector<std::uint32_t> doc_lengths;     // [n_docs]
    std::vector<std::uint32_t> df;              // [vocab]
    std::vector<std::uint64_t> term_blocks;     // [vocab + 1]
    std::vector<std::uint32_t> block_last_doc;  // [blocks]
    std::vector<std::uint64_t> block_offsets;   // [blocks + 1]
    std::vector<std::uint8_t> bytes;
    std::uint64_t total_tokens = 0;
    std::uint64_t total_postings = 0;
};

// doc_offsets [n_docs + 1] delimit each document's tokens; inputs must already be validated
// (check_offsets / check_ids). Per document: sort its ids and run-length encode them into
// (term, tf); then a counting sort by term gives doc-ordered postings, encoded block by block.
BuiltPostings build_postings(ArrayView<std::uint64_t> doc_offsets, ArrayView<std::uint32_t> tokens,
                             std::uint64_t vocab_size, unsigned n_threads);

}  // namespace retrieval
