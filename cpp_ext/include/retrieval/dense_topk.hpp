// Top-k over a dense score array, for queries whose postings cover much of the corpus.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "retrieval/topk_heap.hpp"

namespace retrieval {

// Reused memory of topk_nonzero.
struct DenseTopKScratch {
    std::vector<Hit> hits;
    std::vector<double> block_max, bucket_max;
    std::vector<std::int16_t> values16;
};

// Writes the best k of the docs whose score is nonzero (best first, ties by smaller id) and
// returns how many.
std::size_t topk_nonzero(const double* scores_in, std::size_t n_docs, std::size_t k, DenseTopKScratch& s,
                         std::int64_t* ids, double* scores);

// block_max[b] = the maximum of a[8b, 8b + 8), for b in [first_block, end_block).
void block_maxima(const std::int16_t* a, std::size_t first_block, std::size_t end_block, std::int16_t* block_max);

// The k-th largest positive value of `a` (padded with zeros to whole 8-value blocks, whose maxima
// block_max holds), or 0 when fewer than k are positive.
std::int16_t kth_largest_positive(const std::int16_t* a, std::size_t k, DenseTopKScratch& s,
                                  const std::vector<std::int16_t>& block_max);

// Calls visit(i) for every i with a[i] >= floor, in increasing order, skipping the blocks whose
// maximum (block_max, from kth_largest_positive) is below it.
template <typename Visit>
void for_each_at_least(const std::int16_t* a, std::size_t n, std::int16_t floor,
                       const std::vector<std::int16_t>& block_max, Visit&& visit) {
    for (std::size_t b = 0; b < block_max.size(); ++b) {
        if (block_max[b] < floor) continue;
        for (std::size_t i = b * 8, end = std::min(n, i + 8); i < end; ++i)
            if (a[i] >= floor) visit(static_cast<std::uint32_t>(i));
    }
}

}  // namespace retrieval
