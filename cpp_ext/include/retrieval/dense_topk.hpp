// Top-k over a dense score array, for queries whose postings cover much of the corpus.
#pragma once

#include <cstdint>
#include <vector>

#include "retrieval/topk_heap.hpp"

namespace retrieval {

// Reused memory of topk_nonzero.
struct DenseTopKScratch {
    std::vector<Hit> hits;
    std::vector<double> block_max, bucket_max;
};

// Writes the best k of the docs whose score is nonzero (best first, ties by smaller id) and
// returns how many.
std::size_t topk_nonzero(const double* scores_in, std::size_t n_docs, std::size_t k, DenseTopKScratch& s,
                         std::int64_t* ids, double* scores);

}  // namespace retrieval
