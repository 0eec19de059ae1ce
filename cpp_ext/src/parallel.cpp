#include "retrieval/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace retrieval {

unsigned resolve_threads(long long requested) {
    if (requested > 0) return static_cast<unsigned>(std::min<long long>(requested, 1024));
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : hw;
}

namespace {
// Remembers the first exception thrown by any worker.
class FirstError {
public:
    void capture() {
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_) error_ = std::current_exception();
        failed_.store(true);
    }
    bool failed() const { return failed_.load(); }
    void rethrow() {
        if (error_) std::rethrow_exception(error_);
    }

private:
    std::mutex mu_;
    std::exception_ptr error_;
    std::atomic<bool> failed_{false};
};
}  // namespace

void parallel_ranges(std::size_t n, unsigned n_threads,
                     const std::function<void(std::size_t, std::size_t)>& fn) {
    if (n == 0) return;
    const std::size_t t = std::max<std::size_t>(1, std::min<std::size_t>(n_threads, n));
    if (t == 1) {
        fn(0, n);
        return;
    }
    FirstError error;
    std::vector<std::thread> threads;
    threads.reserve(t);
    for (std::size_t i = 0; i < t; ++i) {
        const std::size_t begin = n * i / t, end = n * (i + 1) / t;
        threads.emplace_back([&, begin, end] {
            try {
                fn(begin, end);
            } catch (...) {
                error.capture();
            }
        });
    }
    for (auto& th : threads) th.join();
    error.rethrow();
}

void parallel_for_cancellable(std::size_t n, unsigned n_threads, std::size_t grain,
                              const std::function<void(std::size_t, std::size_t)>& fn,
                              const std::function<bool()>& cancelled, int poll_ms) {
    if (n == 0) return;
    grain = std::max<std::size_t>(1, grain);
    const std::size_t chunks = (n + grain - 1) / grain;
    const std::size_t t = std::max<std::size_t>(1, std::min<std::size_t>(n_threads, chunks));

    std::atomic<std::size_t> next{0};
    std::atomic<bool> stop{false};
    FirstError error;
    std::mutex mu;
    std::condition_variable cv;
    std::size_t running = t;

    auto worker = [&] {
        try {
            while (!stop.load(std::memory_order_relaxed) && !error.failed()) {
                const std::size_t begin = next.fetch_add(grain);
                if (begin >= n) break;
                fn(begin, std::min(n, begin + grain));
            }
        } catch (...) {
            error.capture();
        }
        std::lock_guard<std::mutex> lock(mu);
        if (--running == 0) cv.notify_all();
    };

    std::vector<std::thread> threads;
    threads.reserve(t);
    try {
        for (std::size_t i = 0; i < t; ++i) threads.emplace_back(worker);
    } catch (...) {  // could not start a thread: stop the ones that did start
        stop.store(true);
        std::unique_lock<std::mutex> lock(mu);
        running -= t - threads.size();
        lock.unlock();
        for (auto& th : threads) th.join();
        throw;
    }

    bool was_cancelled = false;
    {
        std::unique_lock<std::mutex> lock(mu);
        while (running != 0) {
            if (cv.wait_for(lock, std::chrono::milliseconds(poll_ms), [&] { return running == 0; })) break;
            lock.unlock();
            bool cancel = false;
            try {
                cancel = cancelled && cancelled();
            } catch (...) {  // a failing poll stops the batch and is reported like a worker error
                error.capture();
                cancel = true;
            }
            lock.lock();
            if (cancel) {
                was_cancelled = true;
                stop.store(true);
                cv.wait(lock, [&] { return running == 0; });
                break;
            }
        }
    }
    for (auto& th : threads) th.join();
    error.rethrow();
    if (was_cancelled) throw Cancelled();
}

}  // namespace retrieval
