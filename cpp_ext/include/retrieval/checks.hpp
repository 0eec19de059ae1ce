// Semantic checks on caller-supplied arrays, done once at the boundary. Each throws
// std::invalid_argument (ValueError in Python) with a message that says how to fix the input.
#pragma once

#include <cstdint>

#include "retrieval/array_view.hpp"

namespace retrieval {

// offsets must have at least one entry, start at 0, never decrease and end at n_items.
// `what` names the offsets array, `items` the array it indexes (for the message).
void check_offsets(ArrayView<std::uint64_t> offsets, std::uint64_t n_items, const char* what,
                   const char* items);

// Every id must be < vocab_size; the message names the first bad id and its position.
void check_ids(ArrayView<std::uint32_t> ids, std::uint64_t vocab_size, const char* what);

}  // namespace retrieval
