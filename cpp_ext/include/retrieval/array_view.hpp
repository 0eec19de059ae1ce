// A non-owning view of a contiguous, read-only array (C++17 has no std::span).
#pragma once

#include <cstddef>

namespace retrieval {

template <typename T>
struct ArrayView {
    using value_type = T;

    const T* data = nullptr;
    std::size_t size = 0;

    ArrayView() = default;
    ArrayView(const T* d, std::size_t n) : data(d), size(n) {}

    const T& operator[](std::size_t i) const { return data[i]; }
    const T* begin() const { return data; }
    const T* end() const { return data + size; }
    bool empty() const { return size == 0; }
};

template <typename Vec>
ArrayView<typename Vec::value_type> view_of(const Vec& v) {
    return {v.data(), v.size()};
}

}  // namespace retrieval
