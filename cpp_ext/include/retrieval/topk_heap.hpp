// Bounded selection of the k best (score, doc) pairs. Order: higher score first; on equal scores
// the smaller doc id first.
//   TopKHeap: exact k-th score after every push (MaxScore prunes with it).
//   TopKBuffer: for scanning many candidates at once (exhaustive); cheaper per candidate.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace retrieval {

struct Hit {
    double score;
    std::uint32_t doc;
};

// A function object rather than a function: std algorithms then inline the comparison.
struct Better {
    bool operator()(const Hit& a, const Hit& b) const {
        return a.score > b.score || (a.score == b.score && a.doc < b.doc);
    }
};
inline bool better(const Hit& a, const Hit& b) { return Better()(a, b); }

// Writes hits [0, n) of `h`, sorted best first, to ids/scores; returns n.
inline std::size_t write_sorted(Hit* h, std::size_t n, std::int64_t* ids, double* scores) {
    std::sort(h, h + n, Better());
    for (std::size_t i = 0; i < n; ++i) {
        ids[i] = h[i].doc;
        scores[i] = h[i].score;
    }
    return n;
}

// The heap's top is the worst kept hit.
class TopKHeap {
public:
    // `storage` is reused scratch memory; it is cleared here.
    TopKHeap(std::vector<Hit>& storage, std::size_t k) : h_(storage), k_(k) { h_.clear(); }

    bool full() const { return h_.size() >= k_; }
    const Hit& worst() const { return h_.front(); }

    void push(Hit hit) {
        if (h_.size() < k_) {
            h_.push_back(hit);
            std::push_heap(h_.begin(), h_.end(), Better());
        } else if (better(hit, h_.front())) {
            std::pop_heap(h_.begin(), h_.end(), Better());
            h_.back() = hit;
            std::push_heap(h_.begin(), h_.end(), Better());
        }
    }

    // Writes the hits best first; returns how many.
    std::size_t finish(std::int64_t* ids, double* scores) { return write_sorted(h_.data(), h_.size(), ids, scores); }

private:
    std::vector<Hit>& h_;
    std::size_t k_;
};

// Candidates scoring at least `floor` (a lower bound of the k-th best score so far) are appended
// without a branch; when the buffer is full, nth_element keeps the best k and raises the floor.
// A heap would instead pay O(log k) unpredictable branches for each of the many early entrants.
class TopKBuffer {
public:
    // `storage` is reused scratch memory (resized here); at most n_candidates calls to add().
    // `floor`, when given, must be a lower bound of the k-th best candidate's score.
    TopKBuffer(std::vector<Hit>& storage, std::size_t k, std::size_t n_candidates,
               double floor = -std::numeric_limits<double>::infinity())
        : k_(k), floor_(floor) {
        // With at most k candidates nothing is ever dropped: cap_ is never reached. Otherwise 2k
        // (at least 32): on SciFact, k=10, ~3 shrinks and ~80 candidates per query, against 1
        // shrink but ~290 candidates with max(4k, 256); nth_element's work is what counts.
        cap_ = n_candidates <= k ? n_candidates + 1 : std::min(n_candidates, std::max<std::size_t>(2 * k, 32));
        // +1: the slot that a rejected append writes past the kept ones.
        if (storage.size() < cap_ + 1) storage.resize(cap_ + 1);
        h_ = storage.data();
    }

    // Scores below this cannot enter any more (the constructor's floor until the first shrink).
    double floor() const { return floor_; }

    // Call with every candidate; the best k among them are kept.
    void add(double score, std::uint32_t doc) { add_if(score, doc, true); }
    // The same, for a candidate only when `keep` (without a branch).
    void add_if(double score, std::uint32_t doc, bool keep) {
        h_[n_] = {score, doc};
        n_ += (score >= floor_) & keep;
        if (n_ == cap_) shrink();
    }

    // Writes the hits best first; returns how many.
    std::size_t finish(std::int64_t* ids, double* scores) {
        if (n_ > k_) shrink();
        return write_sorted(h_, n_, ids, scores);
    }

private:
    void shrink() {
        std::nth_element(h_, h_ + (k_ - 1), h_ + n_, Better());
        floor_ = h_[k_ - 1].score;  // the k-th best: nothing below it can enter any more
        n_ = k_;
    }

    Hit* h_ = nullptr;
    std::size_t k_, cap_ = 0, n_ = 0;
    double floor_;
};

}  // namespace retrieval
