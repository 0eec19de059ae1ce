#include "retrieval/checks.hpp"

#include <stdexcept>
#include <string>

namespace retrieval {

void check_offsets(ArrayView<std::uint64_t> offsets, std::uint64_t n_items, const char* what,
                   const char* items) {
    const std::string name(what);
    if (offsets.size == 0) {
        throw std::invalid_argument(name + " must have n + 1 entries (start at 0, end at len(" + items +
                                    ")); got an empty array");
    }
    if (offsets[0] != 0) {
        throw std::invalid_argument(name + " must start at 0; got " + std::to_string(offsets[0]));
    }
    for (std::size_t i = 1; i < offsets.size; ++i) {
        if (offsets[i] < offsets[i - 1]) {
            throw std::invalid_argument(name + " must be non-decreasing; " + name + "[" + std::to_string(i) +
                                        "] = " + std::to_string(offsets[i]) + " < " + name + "[" +
                                        std::to_string(i - 1) + "] = " + std::to_string(offsets[i - 1]));
        }
    }
    if (offsets[offsets.size - 1] != n_items) {
        throw std::invalid_argument(name + " must end at len(" + items + ") = " + std::to_string(n_items) +
                                    "; got " + std::to_string(offsets[offsets.size - 1]));
    }
}

void check_ids(ArrayView<std::uint32_t> ids, std::uint64_t vocab_size, const char* what) {
    for (std::size_t i = 0; i < ids.size; ++i) {
        if (ids[i] >= vocab_size) {
            throw std::invalid_argument(std::string(what) + " contains id " + std::to_string(ids[i]) +
                                        " at position " + std::to_string(i) + ", but vocab_size is " +
                                        std::to_string(vocab_size) + "; ids must be < vocab_size");
        }
    }
}

}  // namespace retrieval
