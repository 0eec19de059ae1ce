// Bounded selection of the k best (score, doc) pairs. Order: higher score first; on equal scores
// the smaller doc id first. The heap's top is the worst kept hit.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace retrieval {

struct Hit {
    double score;
    std::uint32_t doc;
};

inline bool better(const Hit& a, const Hit& b) {
    return a.score > b.score || (a.score == b.score && a.doc < b.doc);
}

class TopKHeap {
public:
    // `storage` is reused scratch memory; it is cleared here.
    TopKHeap(std::vector<Hit>& storage, std::size_t k) : h_(storage), k_(k) { h_.clear(); }

    bool full() const { return h_.size() >= k_; }
    const Hit& worst() const { return h_.front(); }

    void push(Hit hit) {
        if (h_.size() < k_) {
            h_.push_back(hit);
            std::push_heap(h_.begin(), h_.end(), better);
        } else if (better(hit, h_.front())) {
            std::pop_heap(h_.begin(), h_.end(), better);
            h_.back() = hit;
            std::push_heap(h_.begin(), h_.end(), better);
        }
    }

    // Writes the hits best first; returns how many.
    std::size_t finish(std::int64_t* ids, double* scores) {
        std::sort(h_.begin(), h_.end(), better);
        for (std::size_t i = 0; i < h_.size(); ++i) {
            ids[i] = h_[i].doc;
            scores[i] = h_[i].score;
        }
        return h_.size();
    }

private:
    std::vector<Hit>& h_;
    std::size_t k_;
};

}  // namespace retrieval
