// Small thread helpers: a static split for index building, and a dynamic, cancellable loop for
// query batches whose calling thread only coordinates (so it can poll for Ctrl-C).
#pragma once

#include <cstddef>
#include <exception>
#include <functional>

namespace retrieval {

// Thrown by parallel_for_cancellable when `cancelled()` returned true.
struct Cancelled : std::exception {
    const char* what() const noexcept override { return "cancelled"; }
};

// 0 means std::thread::hardware_concurrency() (at least 1).
unsigned resolve_threads(long long requested);

// Calls fn(begin, end) on disjoint ranges covering [0, n), on up to n_threads threads.
// The first exception thrown by any call is rethrown after every thread has joined.
void parallel_ranges(std::size_t n, unsigned n_threads,
                     const std::function<void(std::size_t, std::size_t)>& fn);

// Hands out [i, i + grain) ranges to n_threads workers. The calling thread waits and, about every
// `poll_ms` milliseconds, calls cancelled(); when it returns true the workers stop after their
// current range and Cancelled is thrown. Worker exceptions are rethrown (first one wins).
void parallel_for_cancellable(std::size_t n, unsigned n_threads, std::size_t grain,
                              const std::function<void(std::size_t, std::size_t)>& fn,
                              const std::function<bool()>& cancelled, int poll_ms = 50);

}  // namespace retrieval
