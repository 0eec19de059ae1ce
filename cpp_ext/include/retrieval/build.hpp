// Building compressed postings from tokenized documents (ids already mapped by the caller).
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "retrieval/array_view.hpp"

namespace retrieval {

// An allocator whose resize() leaves new elements uninitialized: a buffer about to be overwritten
// is then committed page by page as it is written, not all at once by zero-filling.
template <typename T>
struct UninitializedAllocator : std::allocator<T> {
    template <typename U>
    struct rebind {
        using other = UninitializedAllocator<U>;
    };
    UninitializedAllocator() = default;
    template <typename U>
    UninitializedAllocator(const UninitializedAllocator<U>&) noexcept {}
    template <typename U>
    void construct(U* p) noexcept {
        ::new (static_cast<void*>(p)) U;
    }
    template <typename U, typename... Args>
    void construct(U* p, Args&&... args) {
        ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
};

struct BuiltPostings {
    std::vector<std::uint32_t> doc_lengths;     // [n_docs]
    std::vector<std::uint32_t> df;              // [vocab]
    std::vector<std::uint64_t> term_blocks;     // [vocab + 1]
    std::vector<std::uint32_t> block_last_doc;  // [blocks]
    std::vector<std::uint64_t> block_offsets;   // [blocks + 1]
    std::vector<std::uint8_t, UninitializedAllocator<std::uint8_t>> bytes;
    std::uint64_t total_tokens = 0;
    std::uint64_t total_postings = 0;
};

// std::invalid_argument unless an index can number n_docs documents.
void check_doc_count(std::uint64_t n_docs);

// offsets[d + 1] - offsets[d]; std::invalid_argument (naming document `doc_id`) past 2**32 - 1.
std::uint32_t checked_doc_length(ArrayView<std::uint64_t> offsets, std::size_t d, std::uint64_t doc_id);

// doc_offsets [n_docs + 1] delimit each document's tokens; inputs must already be validated
// (check_offsets / check_ids). Per document: sort its ids and run-length encode them into
// (term, tf); then a counting sort by term gives doc-ordered postings, encoded block by block.
BuiltPostings build_postings(ArrayView<std::uint64_t> doc_offsets, ArrayView<std::uint32_t> tokens,
                             std::uint64_t vocab_size, unsigned n_threads);

}  // namespace retrieval
