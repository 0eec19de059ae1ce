// The search strategies. All of them sum a document's score over the query positions in query
// order, starting from 0.0, so every strategy returns bit-identical scores.
#pragma once

#include <cstdint>
#include <vector>

#include "retrieval/query.hpp"
#include "retrieval/scratch.hpp"

namespace retrieval {

// Term-at-a-time over the query positions into a dense accumulator, then a bounded heap over the
// touched docs. Writes up to k hits best first; returns how many.
std::size_t topk_exhaustive(const IndexView& ix, const QueryPlan& plan, std::size_t k, Scratch& s,
                            std::int64_t* ids, double* scores);

// Document-at-a-time MaxScore (Turtle & Flood) with block-max checks and block skipping.
std::size_t topk_maxscore(const IndexView& ix, const QueryPlan& plan, std::size_t k, Scratch& s,
                          std::int64_t* ids, double* scores);

// Dense scores: out[n_docs] must be zero-filled by the caller.
void accumulate_scores(const IndexView& ix, const QueryPlan& plan, double* out);

// Sorted ids of the docs containing at least one query term.
std::vector<std::int64_t> matching_docs(const IndexView& ix, const QueryPlan& plan);

}  // namespace retrieval
