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
// Exact impacts, or the bound cache when prefers_bounded() (or `bounded`: whenever it can).
std::size_t topk_exhaustive(const IndexView& ix, const QueryPlan& plan, std::size_t k, Scratch& s,
                            std::int64_t* ids, double* scores, bool bounded = false);

// Whether exhaustive scoring of this query runs on the bound cache (16-bit accumulators, exact
// rescoring of the few docs near the k-th bound) rather than on exact impacts: for indexes of at
// least kBoundedMinDocs docs, queries with many postings, while the bound cache has room.
constexpr std::uint32_t kBoundedMinDocs = 1u << 17;  // measured: exhaustive.cpp
bool prefers_bounded(const IndexView& ix, const QueryPlan& plan, std::size_t k);

// Document-at-a-time MaxScore (Turtle & Flood) with block-max checks and block skipping.
std::size_t topk_maxscore(const IndexView& ix, const QueryPlan& plan, std::size_t k, Scratch& s,
                          std::int64_t* ids, double* scores);

// Dense scores: out[n_docs] must be zero-filled by the caller.
void accumulate_scores(const IndexView& ix, const QueryPlan& plan, double* out);

// Sorted ids of the docs containing at least one query term.
std::vector<std::int64_t> matching_docs(const IndexView& ix, const QueryPlan& plan);

}  // namespace retrieval
